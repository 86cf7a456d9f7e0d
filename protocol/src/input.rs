//! Remote-control input events: what a controlling CSR's pointer and keyboard did, as sent on
//! the control channel to the customer's endpoint, which injects them (after its own consent
//! check). This module checks only their shape; which key codes exist is the injector's table.

use serde::{Deserialize, Serialize};

/// Text typed in one `text` event, in characters.
pub const MAX_INPUT_TEXT_CHARS: usize = 1000;
/// A key code (`KeyboardEvent.code`), in characters.
pub const MAX_KEY_CODE_CHARS: usize = 32;
/// Wheel notches in one direction of one `wheel` event.
pub const MAX_WHEEL_NOTCHES: i32 = 20;

/// One input event. Pointer positions are normalised to the shared display or window: `x` and
/// `y` run from 0 (left, top) to 1 (right, bottom) inclusive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputEvent {
    /// The pointer moved to (`x`, `y`).
    PointerMove { x: f64, y: f64 },
    /// A button went down with the pointer at (`x`, `y`).
    ButtonDown { button: Button, x: f64, y: f64 },
    /// A button came up with the pointer at (`x`, `y`).
    ButtonUp { button: Button, x: f64, y: f64 },
    /// The wheel turned with the pointer at (`x`, `y`): `dy` notches down (negative: up) and
    /// `dx` notches right (negative: left), each at most [`MAX_WHEEL_NOTCHES`] either way.
    Wheel {
        x: f64,
        y: f64,
        #[serde(default)]
        dx: i32,
        #[serde(default)]
        dy: i32,
    },
    /// A key went down; `code` names the physical key as the browser's `KeyboardEvent.code`
    /// does ("KeyA", "Digit1", "Enter", "ShiftLeft", "ArrowUp", "F5", "Numpad7"...).
    KeyDown { code: String },
    /// A key came up.
    KeyUp { code: String },
    /// Type this text (a paste, or characters the CSR's keyboard layout makes), whatever the
    /// customer's keyboard layout is.
    Text { text: String },
}

/// A pointer button, as the browser's `MouseEvent.button` numbers them: 0 left (main), 1
/// middle, 2 right, 3 back, 4 forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Button {
    Left,
    Middle,
    Right,
    Back,
    Forward,
}

impl InputEvent {
    /// Check what serde can't: coordinates finite and within 0..=1, wheel notches bounded, key
    /// codes of the `KeyboardEvent.code` shape, text non-empty, bounded and free of control
    /// characters other than newline and tab. The error is a sentence naming the field.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Self::PointerMove { x, y }
            | Self::ButtonDown { x, y, .. }
            | Self::ButtonUp { x, y, .. } => check_position(*x, *y),
            Self::Wheel { x, y, dx, dy } => {
                check_position(*x, *y)?;
                check_notches("dx", *dx)?;
                check_notches("dy", *dy)
            }
            Self::KeyDown { code } | Self::KeyUp { code } => check_key_code(code),
            Self::Text { text } => check_typed_text(text),
        }
    }

    /// The pointer position this event carries, if any.
    pub fn position(&self) -> Option<(f64, f64)> {
        match self {
            Self::PointerMove { x, y }
            | Self::ButtonDown { x, y, .. }
            | Self::ButtonUp { x, y, .. }
            | Self::Wheel { x, y, .. } => Some((*x, *y)),
            Self::KeyDown { .. } | Self::KeyUp { .. } | Self::Text { .. } => None,
        }
    }
}

fn check_position(x: f64, y: f64) -> Result<(), String> {
    for (name, v) in [("x", x), ("y", y)] {
        if !v.is_finite() {
            return Err(format!("{name}: expected a number from 0 to 1, got {v}"));
        }
        if !(0.0..=1.0).contains(&v) {
            return Err(format!(
                "{name}: {v} is outside the shared area (expected 0 to 1)"
            ));
        }
    }
    Ok(())
}

fn check_notches(name: &str, v: i32) -> Result<(), String> {
    if v.unsigned_abs() > MAX_WHEEL_NOTCHES.unsigned_abs() {
        return Err(format!(
            "{name}: {v} wheel notches is more than the limit of {MAX_WHEEL_NOTCHES} either way"
        ));
    }
    Ok(())
}

/// A key code as `KeyboardEvent.code` spells it: 1 to 32 ASCII letters and digits, starting
/// with a letter. Whether the key exists is for the injector to say.
pub fn check_key_code(code: &str) -> Result<(), String> {
    if code.is_empty() || code.len() > MAX_KEY_CODE_CHARS {
        return Err(format!(
            "code: expected 1 to {MAX_KEY_CODE_CHARS} characters, got {}",
            code.chars().count()
        ));
    }
    if !code.bytes().all(|b| b.is_ascii_alphanumeric())
        || !code.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
    {
        return Err(format!(
            "code: {code:?} is not a KeyboardEvent.code (ASCII letters and digits, such as \"KeyA\")"
        ));
    }
    Ok(())
}

fn check_typed_text(text: &str) -> Result<(), String> {
    let count = text.chars().count();
    if count == 0 {
        return Err("text: must not be empty".into());
    }
    if count > MAX_INPUT_TEXT_CHARS {
        return Err(format!(
            "text: {count} characters is longer than the limit of {MAX_INPUT_TEXT_CHARS}"
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(format!(
            "text: contains the control character U+{:04X} (only newline and tab may be typed)",
            u32::from(c)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let at = |x, y| InputEvent::PointerMove { x, y };
        assert_eq!(at(0.5, 0.25).position(), Some((0.5, 0.25)));
        assert_eq!(
            InputEvent::KeyDown {
                code: "KeyA".into()
            }
            .position(),
            None
        );
        for bad in [f64::NAN, f64::INFINITY, -0.001, 1.000_001] {
            assert!(at(bad, 0.5).validate().is_err(), "{bad}");
            assert!(at(0.5, bad).validate().is_err(), "{bad}");
        }
    }
}
