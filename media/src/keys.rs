//! Keys for remote control: the browser's physical key codes (`KeyboardEvent.code`) as the X
//! keysyms a US keyboard gives them, characters as keysyms, and the X server's keyboard mapping
//! that turns keysyms into the key codes XTest presses.

use crate::MediaError;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, Keycode, Keysym};

/// The X keysyms (the first one preferred) of the key named by a `KeyboardEvent.code`, as a US
/// keyboard labels it. An unknown code is [`MediaError::Invalid`] naming it.
pub fn keysyms_for_code(code: &str) -> Result<&'static [Keysym], MediaError> {
    known_code(code).ok_or_else(|| {
        MediaError::Invalid(format!(
            "unknown key code {code:?} (expected a KeyboardEvent.code such as \"KeyA\")"
        ))
    })
}

/// Every `KeyboardEvent.code` the table knows, for tests and documentation.
pub fn known_codes() -> Vec<String> {
    let mut codes: Vec<String> = NAMED.iter().map(|(c, _)| (*c).to_owned()).collect();
    codes.extend((b'A'..=b'Z').map(|l| format!("Key{}", char::from(l))));
    codes.extend((0..=9).map(|d| format!("Digit{d}")));
    codes.extend((0..=9).map(|d| format!("Numpad{d}")));
    codes.extend((1..=24).map(|n| format!("F{n}")));
    codes
}

/// Keysyms of the numpad digits with NumLock on, then off.
const NUMPAD: [[Keysym; 2]; 10] = [
    [0xffb0, 0xff9e], // KP_0, KP_Insert
    [0xffb1, 0xff9c], // KP_1, KP_End
    [0xffb2, 0xff99], // KP_2, KP_Down
    [0xffb3, 0xff9b], // KP_3, KP_Next
    [0xffb4, 0xff96], // KP_4, KP_Left
    [0xffb5, 0xff9d], // KP_5, KP_Begin
    [0xffb6, 0xff98], // KP_6, KP_Right
    [0xffb7, 0xff95], // KP_7, KP_Home
    [0xffb8, 0xff97], // KP_8, KP_Up
    [0xffb9, 0xff9a], // KP_9, KP_Prior
];

/// Codes that are not a letter, digit, numpad digit or function key.
const NAMED: &[(&str, &[Keysym])] = &[
    // Punctuation of the main block (unshifted keysyms).
    ("Backquote", &[0x60]),
    ("Minus", &[0x2d]),
    ("Equal", &[0x3d]),
    ("BracketLeft", &[0x5b]),
    ("BracketRight", &[0x5d]),
    ("Backslash", &[0x5c]),
    ("Semicolon", &[0x3b]),
    ("Quote", &[0x27]),
    ("Comma", &[0x2c]),
    ("Period", &[0x2e]),
    ("Slash", &[0x2f]),
    ("IntlBackslash", &[0x3c]), // less, the extra key of ISO keyboards
    ("Space", &[0x20]),
    // Editing and whitespace.
    ("Enter", &[0xff0d]),
    ("Tab", &[0xff09]),
    ("Backspace", &[0xff08]),
    ("Escape", &[0xff1b]),
    ("Insert", &[0xff63]),
    ("Delete", &[0xffff]),
    // Modifiers and locks.
    ("ShiftLeft", &[0xffe1]),
    ("ShiftRight", &[0xffe2]),
    ("ControlLeft", &[0xffe3]),
    ("ControlRight", &[0xffe4]),
    ("AltLeft", &[0xffe9]),
    ("AltRight", &[0xffea, 0xfe03]), // Alt_R, or ISO_Level3_Shift (AltGr)
    ("MetaLeft", &[0xffeb]),         // Super_L
    ("MetaRight", &[0xffec]),        // Super_R
    ("OSLeft", &[0xffeb]),           // older browsers' name of MetaLeft
    ("OSRight", &[0xffec]),
    ("ContextMenu", &[0xff67]),
    ("CapsLock", &[0xffe5]),
    ("NumLock", &[0xff7f]),
    ("ScrollLock", &[0xff14]),
    ("Pause", &[0xff13]),
    ("PrintScreen", &[0xff61]),
    // Navigation.
    ("ArrowLeft", &[0xff51]),
    ("ArrowUp", &[0xff52]),
    ("ArrowRight", &[0xff53]),
    ("ArrowDown", &[0xff54]),
    ("Home", &[0xff50]),
    ("End", &[0xff57]),
    ("PageUp", &[0xff55]),
    ("PageDown", &[0xff56]),
    // Numpad operators.
    ("NumpadDecimal", &[0xffae, 0xff9f]), // KP_Decimal, KP_Delete
    ("NumpadAdd", &[0xffab]),
    ("NumpadSubtract", &[0xffad]),
    ("NumpadMultiply", &[0xffaa]),
    ("NumpadDivide", &[0xffaf]),
    ("NumpadEnter", &[0xff8d]),
    ("NumpadEqual", &[0xffbd]),
    ("NumpadComma", &[0xffac]), // KP_Separator
    // Media and browser keys (XF86 keysyms).
    ("AudioVolumeDown", &[0x1008_ff11]),
    ("AudioVolumeMute", &[0x1008_ff12]),
    ("AudioVolumeUp", &[0x1008_ff13]),
    ("MediaPlayPause", &[0x1008_ff14]),
    ("MediaStop", &[0x1008_ff15]),
    ("MediaTrackPrevious", &[0x1008_ff16]),
    ("MediaTrackNext", &[0x1008_ff17]),
    ("BrowserHome", &[0x1008_ff18]),
    ("BrowserSearch", &[0x1008_ff1b]),
    ("BrowserBack", &[0x1008_ff26]),
    ("BrowserForward", &[0x1008_ff27]),
    ("BrowserRefresh", &[0x1008_ff29]),
    ("Help", &[0xff6a]),
];

/// Lower-case letters and digits share their keysym with their ASCII code; this stores each
/// as a static one-element slice.
const ASCII: [[Keysym; 1]; 128] = {
    let mut table = [[0; 1]; 128];
    let mut i = 0;
    while i < 128 {
        table[i] = [i as Keysym];
        i += 1;
    }
    table
};

/// F1 to F24: consecutive keysyms from 0xffbe.
const FUNCTION: [[Keysym; 1]; 24] = {
    let mut table = [[0; 1]; 24];
    let mut i = 0;
    while i < 24 {
        table[i] = [0xffbe + i as Keysym];
        i += 1;
    }
    table
};

fn known_code(code: &str) -> Option<&'static [Keysym]> {
    if let Some((_, syms)) = NAMED.iter().find(|(c, _)| *c == code) {
        return Some(syms);
    }
    let single = |rest: &str, first: u8, last: u8| -> Option<usize> {
        match rest.as_bytes() {
            [b] if (first..=last).contains(b) => Some(usize::from(*b)),
            _ => None,
        }
    };
    if let Some(rest) = code.strip_prefix("Key") {
        // KeyA..KeyZ: the lower-case letter's keysym.
        return single(rest, b'A', b'Z').map(|b| &ASCII[b + 32][..]);
    }
    if let Some(rest) = code.strip_prefix("Digit") {
        return single(rest, b'0', b'9').map(|b| &ASCII[b][..]);
    }
    if let Some(rest) = code.strip_prefix("Numpad") {
        return single(rest, b'0', b'9').map(|b| &NUMPAD[b - usize::from(b'0')][..]);
    }
    if let Some(rest) = code.strip_prefix('F') {
        if !rest.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with('0') {
            return None;
        }
        let n: usize = rest.parse().ok()?;
        if !(1..=24).contains(&n) {
            return None;
        }
        return Some(&FUNCTION[n - 1][..]);
    }
    None
}

/// The keysym that types `c`: Latin-1 characters are their own keysym, newline and tab are
/// Return and Tab, other characters are Unicode keysyms (0x0100_0000 + code point).
pub fn keysym_for_char(c: char) -> Keysym {
    match c {
        '\n' => 0xff0d,
        '\t' => 0xff09,
        ' '..='~' | '\u{a0}'..='\u{ff}' => u32::from(c),
        _ => 0x0100_0000 + u32::from(c),
    }
}

/// The server's keyboard mapping: the keysyms of each key code, as the core protocol lists
/// them (column 0 unshifted, 1 shifted, then further groups and levels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    min_keycode: Keycode,
    per_keycode: usize,
    keysyms: Vec<Keysym>,
}

impl Keymap {
    /// Read the whole mapping from the server.
    pub fn read(conn: &impl Connection) -> Result<Keymap, MediaError> {
        let setup = conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let count = max.saturating_sub(min).saturating_add(1);
        let reply = conn
            .get_keyboard_mapping(min, count)
            .map_err(x11)?
            .reply()
            .map_err(x11)?;
        Ok(Keymap {
            min_keycode: min,
            per_keycode: usize::from(reply.keysyms_per_keycode),
            keysyms: reply.keysyms,
        })
    }

    /// Keysyms per key code (the width of each row).
    pub fn per_keycode(&self) -> usize {
        self.per_keycode
    }

    /// The keysyms of key code `keycode` (empty outside the server's range).
    pub fn row(&self, keycode: Keycode) -> &[Keysym] {
        let Some(index) = keycode.checked_sub(self.min_keycode) else {
            return &[];
        };
        let start = usize::from(index) * self.per_keycode;
        self.keysyms
            .get(start..start + self.per_keycode)
            .unwrap_or(&[])
    }

    /// The keysym at `column` of `keycode`, as the core protocol reads a row: a lone
    /// alphabetic keysym in column 0 stands for its lower case in column 0 and its upper case
    /// in column 1. `None` for NoSymbol.
    pub fn keysym(&self, keycode: Keycode, column: usize) -> Option<Keysym> {
        let row = self.row(keycode);
        let first = row.first().copied().unwrap_or(0);
        let second = row.get(1).copied().unwrap_or(0);
        let sym = match column {
            0 | 1 if second == 0 && is_cased(first) => {
                let (lower, upper) = case_pair(first);
                if column == 0 { lower } else { upper }
            }
            _ => row.get(column).copied().unwrap_or(0),
        };
        (sym != 0).then_some(sym)
    }

    /// The key code and column where `keysym` is found, preferring the lowest column (a key
    /// that gives it without modifiers), then the lowest key code.
    pub fn find(&self, keysym: Keysym) -> Option<(Keycode, usize)> {
        if keysym == 0 {
            return None;
        }
        (0..self.per_keycode.max(2)).find_map(|column| {
            self.keycodes()
                .find(|&kc| self.keysym(kc, column) == Some(keysym))
                .map(|kc| (kc, column))
        })
    }

    /// The key code of the physical key a `KeyboardEvent.code` names, or `Ok(None)` when the
    /// code is known but the mapping has none of its keysyms. Unknown codes are an error.
    pub fn keycode_for_code(&self, code: &str) -> Result<Option<Keycode>, MediaError> {
        Ok(keysyms_for_code(code)?
            .iter()
            .find_map(|&sym| self.find(sym))
            .map(|(kc, _)| kc))
    }

    /// Key codes with no keysym at all: spare codes an injector may bind for a while.
    pub fn spare_keycodes(&self) -> Vec<Keycode> {
        self.keycodes()
            .filter(|&kc| self.row(kc).iter().all(|&s| s == 0))
            .collect()
    }

    /// Record that `keycode` now has these keysyms (after a change of the server's mapping).
    pub(crate) fn set_row(&mut self, keycode: Keycode, row: &[Keysym]) {
        if let Some(index) = keycode.checked_sub(self.min_keycode) {
            let start = usize::from(index) * self.per_keycode;
            if let Some(slot) = self.keysyms.get_mut(start..start + self.per_keycode) {
                for (i, s) in slot.iter_mut().enumerate() {
                    *s = row.get(i).copied().unwrap_or(0);
                }
            }
        }
    }

    fn keycodes(&self) -> impl Iterator<Item = Keycode> + '_ {
        let rows = self.keysyms.len() / self.per_keycode.max(1);
        (0..rows).filter_map(|i| u8::try_from(usize::from(self.min_keycode) + i).ok())
    }
}

/// Whether a keysym is a letter with an upper and a lower case (Latin and Latin-1).
pub fn is_cased(sym: Keysym) -> bool {
    let (lower, upper) = case_pair(sym);
    lower != upper
}

/// The lower- and upper-case keysyms of a Latin or Latin-1 letter; `(sym, sym)` otherwise.
fn case_pair(sym: Keysym) -> (Keysym, Keysym) {
    match sym {
        0x41..=0x5a | 0xc0..=0xd6 | 0xd8..=0xde => (sym + 0x20, sym),
        0x61..=0x7a | 0xe0..=0xf6 | 0xf8..=0xfe => (sym, sym - 0x20),
        _ => (sym, sym),
    }
}

pub(crate) fn x11(e: impl std::fmt::Display) -> MediaError {
    MediaError::X11(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_us_keysyms() {
        let table: &[(&str, Keysym)] = &[
            ("KeyA", 0x61),
            ("KeyZ", 0x7a),
            ("Digit0", 0x30),
            ("Digit9", 0x39),
            ("Enter", 0xff0d),
            ("ShiftLeft", 0xffe1),
            ("ArrowUp", 0xff52),
            ("F1", 0xffbe),
            ("F5", 0xffc2),
            ("F12", 0xffc9),
            ("F24", 0xffd5),
            ("Numpad7", 0xffb7),
            ("Numpad0", 0xffb0),
            ("Space", 0x20),
            ("Backquote", 0x60),
            ("CapsLock", 0xffe5),
            ("AltRight", 0xffea),
        ];
        for (code, sym) in table {
            let syms = keysyms_for_code(code).expect("known code");
            assert_eq!(syms.first(), Some(sym), "{code}");
        }
        assert_eq!(known_codes().len(), NAMED.len() + 26 + 10 + 10 + 24);
        for code in known_codes() {
            assert!(keysyms_for_code(&code).is_ok(), "{code}");
            assert!(tether_protocol::check_key_code(&code).is_ok(), "{code}");
        }
    }

    #[test]
    fn unknown_codes_are_named_in_the_error() {
        for code in [
            "Keya",
            "KeyAA",
            "Key",
            "Digit10",
            "F0",
            "F25",
            "F01",
            "Numpad",
            "Fn",
            "F+1",
            "Unidentified",
            "",
        ] {
            match keysyms_for_code(code) {
                Err(MediaError::Invalid(e)) => assert!(e.contains(&format!("{code:?}")), "{e}"),
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn characters_map_to_keysyms() {
        for (c, sym) in [
            ('a', 0x61),
            ('A', 0x41),
            ('~', 0x7e),
            (' ', 0x20),
            ('\n', 0xff0d),
            ('\t', 0xff09),
            ('é', 0xe9),
            ('€', 0x0100_20ac),
            ('😀', 0x0101_f600),
        ] {
            assert_eq!(keysym_for_char(c), sym, "{c:?}");
        }
    }

    #[test]
    fn a_lone_letter_has_both_cases() {
        let map = Keymap {
            min_keycode: 8,
            per_keycode: 2,
            keysyms: vec![0x61, 0, 0x31, 0x21, 0xe9, 0, 0, 0],
        };
        assert_eq!(map.find(0x41), Some((8, 1)));
        assert_eq!(map.find(0x61), Some((8, 0)));
        assert_eq!(map.find(0x21), Some((9, 1)));
        assert_eq!(map.find(0xc9), Some((10, 1)));
        assert_eq!(map.find(0x62), None);
        assert_eq!(map.spare_keycodes(), vec![11]);
        assert_eq!(map.row(7), &[] as &[Keysym]);
        assert_eq!(map.row(12), &[] as &[Keysym]);
        let mut map = map;
        map.set_row(11, &[0x20ac]);
        assert_eq!(map.find(0x20ac), Some((11, 0)));
        assert!(map.spare_keycodes().is_empty());
    }
}
