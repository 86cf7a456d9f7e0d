//! Remote-control injection: a controlling CSR's pointer and keyboard events played into the
//! customer's X display with XTest, confined to the shared area or window.
//!
//! # Where pointer events land
//!
//! Positions are normalised (0 to 1, checked by [`InputEvent::validate`]) and map onto the
//! target's pixels: `x = left + min(floor(x * width), width - 1)`, and likewise for `y`, so 1
//! is the last pixel, never the one past it. For a [`Target::Window`] the window's rectangle is
//! read again before each pointer event (a moved or resized window stays right), and the point
//! is then kept inside the part of the window that is on the screen. Every button and wheel
//! event first moves the pointer to its own position, so no click lands outside the target.
//! (Another window stacked over the shared one still gets what lands on it: that is what the
//! CSR sees in a display capture, and a window capture shows the window's own contents.)
//!
//! Key events go where the X server sends keyboard input (the focused window); the injector
//! does not move the focus.
//!
//! # Keys and text
//!
//! Key events name physical keys ([`crate::keys`]); they press the key code the server's
//! mapping gives the key's US keysym. Text is typed character by character with the key (and
//! Shift) that gives each character in the current mapping. A character the mapping lacks, or
//! one it can only give with a modifier state the injector can't set, is typed on a spare key
//! code (one without keysyms) bound to it for the while: bindings are kept, so clients that
//! read the mapping after the key event still see it, and are undone by
//! [`Injector::release_all`] and when the injector is dropped. Key codes that are known but
//! absent from the mapping (F13–F24 on many keyboards) are bound the same way.

use crate::MediaError;
use crate::keys::{Keymap, is_cased, keysym_for_char, keysyms_for_code, x11};
use std::collections::{BTreeMap, BTreeSet};
use tether_protocol::{Button, InputEvent};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    BUTTON_PRESS_EVENT, BUTTON_RELEASE_EVENT, ChangeWindowAttributesAux, ConnectionExt as _,
    EventMask, KEY_PRESS_EVENT, KEY_RELEASE_EVENT, KeyButMask, Keycode, Keysym,
    MOTION_NOTIFY_EVENT, Mapping, Window,
};
use x11rb::protocol::xtest::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

/// Where pointer events land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A rectangle of the screen in pixels: the whole display, or one monitor of it.
    Area {
        x: i32,
        y: i32,
        width: u32,
        height: u32,
    },
    /// A window (its id), wherever it is when each event arrives.
    Window(u32),
}

/// A rectangle in root-window pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    x: i64,
    y: i64,
    width: i64,
    height: i64,
}

impl Rect {
    fn intersect(self, other: Rect) -> Option<Rect> {
        let x = self.x.max(other.x);
        let y = self.y.max(other.y);
        let right = (self.x + self.width).min(other.x + other.width);
        let bottom = (self.y + self.height).min(other.y + other.height);
        (right > x && bottom > y).then_some(Rect {
            x,
            y,
            width: right - x,
            height: bottom - y,
        })
    }
}

/// Plays input events into one X display with XTest.
#[derive(Debug)]
pub struct Injector {
    conn: RustConnection,
    root: Window,
    screen: Rect,
    target: Target,
    keymap: Keymap,
    /// `pointer_map[physical - 1]` is the logical button a physical one acts as.
    pointer_map: Vec<u8>,
    /// Keys we pressed and have not released: by key code name, the key code pressed (the
    /// mapping may change while a key is down).
    held_keys: BTreeMap<String, Keycode>,
    /// Physical buttons we pressed and have not released.
    held_buttons: BTreeSet<u8>,
    /// Spare key codes we bound, with when each was last used (a counter).
    bound: Vec<(Keycode, u64)>,
    uses: u64,
}

impl Injector {
    /// Connect to `display` (`None`: the `DISPLAY` environment variable) and inject into
    /// `target` of its default screen.
    pub fn open(display: Option<&str>, target: Target) -> Result<Injector, MediaError> {
        let name = match display {
            Some(d) => format!("X display {d}"),
            None => "the X display named by DISPLAY".to_owned(),
        };
        let (conn, screen_num) = x11rb::connect(display)
            .map_err(|e| MediaError::Unavailable(format!("cannot connect to {name}: {e}")))?;
        if conn
            .extension_information(xtest::X11_EXTENSION_NAME)
            .map_err(x11)?
            .is_none()
        {
            return Err(MediaError::Unavailable(format!(
                "{name} has no XTEST extension to inject input with"
            )));
        }
        conn.xtest_get_version(2, 2)
            .map_err(x11)?
            .reply()
            .map_err(x11)?;
        let screen =
            conn.setup().roots.get(screen_num).ok_or_else(|| {
                MediaError::Unavailable(format!("{name} has no screen {screen_num}"))
            })?;
        let root = screen.root;
        let screen = Rect {
            x: 0,
            y: 0,
            width: i64::from(screen.width_in_pixels),
            height: i64::from(screen.height_in_pixels),
        };
        // Hear of the screen's size changing (RandR), to keep clipping to it.
        let watch = ChangeWindowAttributesAux::new().event_mask(EventMask::STRUCTURE_NOTIFY);
        conn.change_window_attributes(root, &watch)
            .map_err(x11)?
            .check()
            .map_err(x11)?;
        let keymap = Keymap::read(&conn)?;
        let pointer_map = conn
            .get_pointer_mapping()
            .map_err(x11)?
            .reply()
            .map_err(x11)?
            .map;
        let injector = Injector {
            conn,
            root,
            screen,
            target,
            keymap,
            pointer_map,
            held_keys: BTreeMap::new(),
            held_buttons: BTreeSet::new(),
            bound: Vec::new(),
            uses: 0,
        };
        // Check the target now, so a wrong one fails here rather than at the first event.
        injector.target_rect()?;
        Ok(injector)
    }

    /// Where pointer events land.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Inject one event, then flush it to the server. Invalid events are refused
    /// ([`MediaError::Invalid`]), as are unknown key codes. A key or button is pressed once
    /// until released: a down event for one already held does nothing (the X server repeats a
    /// held key itself, at the customer's rate), nor does an up event for one not held.
    pub fn inject(&mut self, event: &InputEvent) -> Result<(), MediaError> {
        event.validate().map_err(MediaError::Invalid)?;
        self.read_server_events()?;
        match event {
            InputEvent::PointerMove { x, y } => self.move_to(*x, *y)?,
            InputEvent::ButtonDown { button, x, y } => {
                self.move_to(*x, *y)?;
                let b = self.physical_button(logical_button(*button));
                if self.held_buttons.insert(b) {
                    self.fake(BUTTON_PRESS_EVENT, b)?;
                }
            }
            InputEvent::ButtonUp { button, x, y } => {
                self.move_to(*x, *y)?;
                let b = self.physical_button(logical_button(*button));
                if self.held_buttons.remove(&b) {
                    self.fake(BUTTON_RELEASE_EVENT, b)?;
                }
            }
            InputEvent::Wheel { x, y, dx, dy } => {
                self.move_to(*x, *y)?;
                for (notches, back, forward) in [(*dy, 4, 5), (*dx, 6, 7)] {
                    let b = self.physical_button(if notches < 0 { back } else { forward });
                    for _ in 0..notches.unsigned_abs() {
                        self.fake(BUTTON_PRESS_EVENT, b)?;
                        self.fake(BUTTON_RELEASE_EVENT, b)?;
                    }
                }
            }
            InputEvent::KeyDown { code } => {
                let kc = match self.keymap.keycode_for_code(code)? {
                    Some(kc) => kc,
                    None => {
                        let sym = keysyms_for_code(code)?.first().copied().unwrap_or(0);
                        self.bind(sym)?
                    }
                };
                self.used(kc);
                if !self.held_keys.contains_key(code) {
                    self.fake(KEY_PRESS_EVENT, kc)?;
                    self.held_keys.insert(code.clone(), kc);
                }
            }
            InputEvent::KeyUp { code } => {
                keysyms_for_code(code)?;
                if let Some(kc) = self.held_keys.remove(code) {
                    self.fake(KEY_RELEASE_EVENT, kc)?;
                }
            }
            InputEvent::Text { text } => self.type_text(text)?,
        }
        self.conn.flush().map_err(x11)
    }

    /// Wait until the X server has handled every event sent so far (one round trip).
    pub fn sync(&self) -> Result<(), MediaError> {
        self.conn
            .get_input_focus()
            .map_err(x11)?
            .reply()
            .map_err(x11)?;
        Ok(())
    }

    /// Release every key and button this injector holds down, and undo its key-code bindings;
    /// returns once the X server has handled that. The engine calls it when control is revoked
    /// or stops, so nothing stays pressed; dropping the injector calls it too.
    pub fn release_all(&mut self) -> Result<(), MediaError> {
        for kc in std::mem::take(&mut self.held_keys).into_values() {
            self.fake(KEY_RELEASE_EVENT, kc)?;
        }
        for b in std::mem::take(&mut self.held_buttons) {
            self.fake(BUTTON_RELEASE_EVENT, b)?;
        }
        let blank = vec![0; self.keymap.per_keycode()];
        for (kc, _) in std::mem::take(&mut self.bound) {
            self.set_row(kc, &blank)?;
        }
        // Wait for the server: a connection closed right after could otherwise lose them (the
        // server drops a client whose socket reports an error without reading what is left).
        self.sync()
    }

    /// The target's rectangle on the screen, clipped to the screen.
    fn target_rect(&self) -> Result<(Rect, Rect), MediaError> {
        let whole = match self.target {
            Target::Area {
                x,
                y,
                width,
                height,
            } => Rect {
                x: i64::from(x),
                y: i64::from(y),
                width: i64::from(width),
                height: i64::from(height),
            },
            Target::Window(window) => self.window_rect(window)?,
        };
        let visible = whole
            .intersect(self.screen)
            .ok_or_else(|| match self.target {
                Target::Area { .. } => MediaError::Invalid(format!(
                    "the area {}x{} at ({}, {}) is not on the {}x{} screen",
                    whole.width,
                    whole.height,
                    whole.x,
                    whole.y,
                    self.screen.width,
                    self.screen.height
                )),
                Target::Window(w) => {
                    MediaError::Unavailable(format!("window 0x{w:x} is not on the screen"))
                }
            })?;
        Ok((whole, visible))
    }

    fn window_rect(&self, window: Window) -> Result<Rect, MediaError> {
        let gone = |e: x11rb::errors::ReplyError| {
            MediaError::Unavailable(format!("window 0x{window:x} is not available: {e}"))
        };
        let geometry = self.conn.get_geometry(window).map_err(x11)?;
        let origin = self
            .conn
            .translate_coordinates(window, self.root, 0, 0)
            .map_err(x11)?;
        let geometry = geometry.reply().map_err(gone)?;
        let origin = origin.reply().map_err(gone)?;
        if geometry.root != self.root {
            return Err(MediaError::Unavailable(format!(
                "window 0x{window:x} is on another screen"
            )));
        }
        Ok(Rect {
            x: i64::from(origin.dst_x),
            y: i64::from(origin.dst_y),
            width: i64::from(geometry.width),
            height: i64::from(geometry.height),
        })
    }

    fn move_to(&mut self, x: f64, y: f64) -> Result<(), MediaError> {
        let (whole, visible) = self.target_rect()?;
        let px = place(whole.x, whole.width, x).clamp(visible.x, visible.x + visible.width - 1);
        let py = place(whole.y, whole.height, y).clamp(visible.y, visible.y + visible.height - 1);
        let (px, py) = (i16::try_from(px), i16::try_from(py));
        let (Ok(px), Ok(py)) = (px, py) else {
            return Err(MediaError::Invalid(
                "the pointer position is beyond X11's coordinate range".into(),
            ));
        };
        self.conn
            .xtest_fake_input(MOTION_NOTIFY_EVENT, 0, 0, self.root, px, py, 0)
            .map_err(x11)?;
        Ok(())
    }

    fn fake(&self, kind: u8, detail: u8) -> Result<(), MediaError> {
        self.conn
            .xtest_fake_input(kind, detail, 0, self.root, 0, 0, 0)
            .map_err(x11)?;
        Ok(())
    }

    /// The physical button that acts as `logical` under the server's pointer mapping (a
    /// left-handed mapping swaps 1 and 3).
    fn physical_button(&self, logical: u8) -> u8 {
        self.pointer_map
            .iter()
            .position(|&l| l == logical)
            .and_then(|i| u8::try_from(i + 1).ok())
            .unwrap_or(logical)
    }

    fn type_text(&mut self, text: &str) -> Result<(), MediaError> {
        let mask = self
            .conn
            .query_pointer(self.root)
            .map_err(x11)?
            .reply()
            .map_err(x11)?
            .mask;
        let has = |m: KeyButMask| u16::from(mask) & u16::from(m) != 0;
        let (shift_down, caps) = (has(KeyButMask::SHIFT), has(KeyButMask::LOCK));
        let shift_key = self.keymap.find(0xffe1).map(|(kc, _)| kc);
        for c in text.chars() {
            let sym = keysym_for_char(c);
            let direct = self.keymap.find(sym).filter(|&(_, column)| column <= 1);
            let plan = direct.and_then(|(kc, column)| {
                let letter = self.keymap.keysym(kc, 0).is_some_and(is_cased);
                let needs_shift = (column == 1) != (caps && letter);
                match (needs_shift, shift_down) {
                    (false, false) | (true, true) => Some((kc, false)),
                    (true, false) => shift_key.map(|_| (kc, true)),
                    (false, true) => None,
                }
            });
            let (kc, with_shift) = match plan {
                Some(plan) => plan,
                None => (self.bind(sym)?, false),
            };
            self.used(kc);
            let shift = shift_key.filter(|_| with_shift);
            if let Some(s) = shift {
                self.fake(KEY_PRESS_EVENT, s)?;
            }
            self.fake(KEY_PRESS_EVENT, kc)?;
            self.fake(KEY_RELEASE_EVENT, kc)?;
            if let Some(s) = shift {
                self.fake(KEY_RELEASE_EVENT, s)?;
            }
        }
        Ok(())
    }

    /// Bind a spare key code to `sym` (every column, so modifiers don't change it): a free one
    /// if there is one, else the binding used longest ago that is not held down.
    fn bind(&mut self, sym: Keysym) -> Result<Keycode, MediaError> {
        let keymap = &self.keymap;
        if let Some((kc, _)) = self
            .bound
            .iter()
            .find(|(kc, _)| keymap.row(*kc).first() == Some(&sym))
        {
            return Ok(*kc);
        }
        let free = self
            .keymap
            .spare_keycodes()
            .into_iter()
            .find(|kc| !self.is_held(*kc));
        let kc = match free {
            Some(kc) => kc,
            None => self
                .bound
                .iter()
                .filter(|(kc, _)| !self.is_held(*kc))
                .min_by_key(|(_, used)| *used)
                .map(|(kc, _)| *kc)
                .ok_or_else(|| {
                    MediaError::Unavailable(format!(
                        "no spare key code to type keysym 0x{sym:x} with"
                    ))
                })?,
        };
        let row = vec![sym; self.keymap.per_keycode()];
        self.set_row(kc, &row)?;
        if !self.bound.iter().any(|(b, _)| *b == kc) {
            self.bound.push((kc, 0));
        }
        Ok(kc)
    }

    fn set_row(&mut self, kc: Keycode, row: &[Keysym]) -> Result<(), MediaError> {
        let per = u8::try_from(row.len()).unwrap_or(u8::MAX);
        self.conn
            .change_keyboard_mapping(1, kc, per, row)
            .map_err(x11)?
            .check()
            .map_err(x11)?;
        self.keymap.set_row(kc, row);
        Ok(())
    }

    fn is_held(&self, kc: Keycode) -> bool {
        self.held_keys.values().any(|&held| held == kc)
    }

    fn used(&mut self, kc: Keycode) {
        self.uses += 1;
        if let Some(entry) = self.bound.iter_mut().find(|(b, _)| *b == kc) {
            entry.1 = self.uses;
        }
    }

    /// Handle what the server sent us: mapping changes (read the mapping again, forget
    /// bindings it no longer has) and errors of earlier requests.
    fn read_server_events(&mut self) -> Result<(), MediaError> {
        let (mut keyboard, mut pointer, mut error) = (false, false, None);
        while let Some(event) = self.conn.poll_for_event().map_err(x11)? {
            match event {
                Event::MappingNotify(m) if m.request == Mapping::POINTER => pointer = true,
                Event::MappingNotify(m) if m.request == Mapping::KEYBOARD => keyboard = true,
                Event::ConfigureNotify(c) if c.window == self.root => {
                    self.screen.width = i64::from(c.width);
                    self.screen.height = i64::from(c.height);
                }
                Event::Error(e) => error = error.or(Some(e)),
                _ => {}
            }
        }
        if keyboard {
            let old = std::mem::replace(&mut self.keymap, Keymap::read(&self.conn)?);
            let keymap = &self.keymap;
            // The server may store a binding's row in its own way; its first keysym stays.
            self.bound.retain(|(kc, _)| {
                let first = keymap.row(*kc).first();
                first.is_some_and(|&s| s != 0) && first == old.row(*kc).first()
            });
        }
        if pointer {
            self.pointer_map = self
                .conn
                .get_pointer_mapping()
                .map_err(x11)?
                .reply()
                .map_err(x11)?
                .map;
        }
        match error {
            Some(e) => Err(MediaError::X11(format!(
                "the X server refused an earlier input request: {e:?}"
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        let _ = self.release_all();
    }
}

/// Pixel `start + min(floor(v * size), size - 1)` of a span of `size` pixels.
fn place(start: i64, size: i64, v: f64) -> i64 {
    // `as` saturates; v is within 0..=1 and size within u32, so the product is exact enough.
    let offset = (v * size as f64).floor() as i64;
    start + offset.clamp(0, (size - 1).max(0))
}

fn logical_button(button: Button) -> u8 {
    match button {
        Button::Left => 1,
        Button::Middle => 2,
        Button::Right => 3,
        Button::Back => 8,
        Button::Forward => 9,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_map_onto_pixels() {
        for (start, size, v, want) in [
            (0, 1920, 0.0, 0),
            (0, 1920, 1.0, 1919),
            (0, 1920, 0.5, 960),
            (100, 640, 0.999_999, 739),
            (-50, 10, 0.25, -48),
            (0, 1, 1.0, 0),
        ] {
            assert_eq!(place(start, size, v), want, "{start} {size} {v}");
        }
    }

    #[test]
    fn rects_intersect() {
        let r = |x, y, width, height| Rect {
            x,
            y,
            width,
            height,
        };
        let screen = r(0, 0, 100, 100);
        assert_eq!(r(-10, 90, 20, 20).intersect(screen), Some(r(0, 90, 10, 10)));
        assert_eq!(r(100, 0, 20, 20).intersect(screen), None);
        assert_eq!(r(10, 10, 0, 5).intersect(screen), None);
    }
}
