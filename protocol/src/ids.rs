//! Identifiers and time: participant ids, account ids and the millisecond clock value callers pass in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch. The protocol crate never reads a clock: callers pass `now`.
pub type Millis = u64;

/// A participant's number within one session, assigned in join order starting at 1.
/// Public (it appears in the roster); never a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParticipantId(pub u32);

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "participant {}", self.0)
    }
}

/// A CSR account id as the signaling service stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub i64);
