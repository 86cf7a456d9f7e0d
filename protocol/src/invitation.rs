//! Invitation validity and the short numeric code customers read over the phone.
//!
//! A short code is nine digits, shown as `1234-56789`: a four-digit number naming a live session
//! (so guesses can be rate-limited per session) and a five-digit secret of one invitation.

use crate::ids::Millis;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Live session numbers range over 1000..=9999.
pub const SESSION_NUMBER_RANGE: std::ops::RangeInclusive<u16> = 1000..=9999;
/// Invitation secrets range over 0..=99999 (always shown with five digits).
pub const CODE_SECRET_LIMIT: u32 = 100_000;

/// What the service knows of an invitation when someone presents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvitationStatus {
    pub expires_at: Millis,
    pub revoked: bool,
    pub used: bool,
    pub session_live: bool,
}

/// Why an invitation can't be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationError {
    Expired,
    Revoked,
    AlreadyUsed,
    SessionEnded,
}

impl fmt::Display for InvitationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Expired => {
                "this invitation has expired; ask your support representative for a new one"
            }
            Self::Revoked => "this invitation was withdrawn by the support representative",
            Self::AlreadyUsed => {
                "this invitation has already been used; each invitation admits one person"
            }
            Self::SessionEnded => "the support session of this invitation has ended",
        })
    }
}

impl std::error::Error for InvitationError {}

impl InvitationError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "invitation_expired",
            Self::Revoked => "invitation_revoked",
            Self::AlreadyUsed => "invitation_used",
            Self::SessionEnded => "session_ended",
        }
    }
}

/// Whether an invitation admits someone at `now`. Single use: reconnecting participants use
/// their participant token instead.
pub fn check_invitation(status: InvitationStatus, now: Millis) -> Result<(), InvitationError> {
    if !status.session_live {
        Err(InvitationError::SessionEnded)
    } else if status.revoked {
        Err(InvitationError::Revoked)
    } else if status.used {
        Err(InvitationError::AlreadyUsed)
    } else if now >= status.expires_at {
        Err(InvitationError::Expired)
    } else {
        Ok(())
    }
}

/// A parsed short code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortCode {
    pub session_number: u16,
    pub secret: u32,
}

impl ShortCode {
    /// Accepts nine digits with any spaces or dashes between them.
    pub fn parse(input: &str) -> Option<ShortCode> {
        let digits: String = input.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let session_number: u16 = digits[..4].parse().ok()?;
        let secret: u32 = digits[4..].parse().ok()?;
        SESSION_NUMBER_RANGE
            .contains(&session_number)
            .then_some(ShortCode {
                session_number,
                secret,
            })
    }
}

impl fmt::Display for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:05}", self.session_number, self.secret)
    }
}
