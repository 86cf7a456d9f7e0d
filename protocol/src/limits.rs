//! Size limits on text fields and messages, and the one validation helper that enforces them.

use crate::violation::RuleViolation;

/// Display names, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Tracking codes, in characters.
pub const MAX_TRACKING_CODE_CHARS: usize = 64;
/// Session notes, in bytes.
pub const MAX_NOTES_BYTES: usize = 32 * 1024;
/// One WebSocket signaling message, in bytes. Larger messages are refused with `too_large`.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Trim a text field and check it is non-empty (unless `may_be_empty`), within `max` (characters
/// for short fields, bytes for notes) and free of control characters other than newlines and tabs.
pub fn check_text(
    field: &str,
    value: &str,
    max: usize,
    may_be_empty: bool,
) -> Result<String, RuleViolation> {
    let invalid = |reason: String| RuleViolation::InvalidField {
        field: field.to_owned(),
        reason,
    };
    let v = value.trim();
    if v.is_empty() && !may_be_empty {
        return Err(invalid("must not be empty".into()));
    }
    let size = if max >= 1024 {
        v.len()
    } else {
        v.chars().count()
    };
    if size > max {
        return Err(invalid(format!("{size} is longer than the limit of {max}")));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(invalid("contains control characters".into()));
    }
    Ok(v.to_owned())
}
