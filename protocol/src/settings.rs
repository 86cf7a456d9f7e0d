//! Organization settings the session rules depend on: file-transfer mode, recording, session types.

use serde::{Deserialize, Serialize};

/// How much file transfer the organization's admin allows (rule 10).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum FileTransferMode {
    /// No file transfer at all.
    #[default]
    Off,
    /// The CSR publishes files; customers pick which to download.
    Basic,
    /// Basic, plus sending to and fetching from the customer's computer, approved per transfer.
    Advanced,
}

/// A kind of session an organization offers, e.g. "Printer support", and whether starting one
/// requires a tracking code (rule 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionType {
    pub name: String,
    #[serde(default)]
    pub requires_tracking_code: bool,
}

/// The organization settings a live session takes a copy of when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionPolicy {
    pub file_transfer: FileTransferMode,
    pub recording_allowed: bool,
}
