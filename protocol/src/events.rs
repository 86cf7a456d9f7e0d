//! Commands participants issue and the events the session model yields for them.

use crate::activity::{Activity, Capability};
use crate::ids::ParticipantId;
use serde::{Deserialize, Serialize};

/// Which role an invitation admits (rule 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteRole {
    Customer,
    Csr,
}

impl InviteRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Csr => "csr",
        }
    }
}

/// Direction of a file transfer as the record shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferDirection {
    /// Basic mode: the CSR published it and a customer downloaded it.
    Published,
    /// Advanced mode: sent to the customer's computer.
    ToCustomer,
    /// Advanced mode: fetched from the customer's computer.
    FromCustomer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferOutcome {
    Completed,
    Refused,
    Failed,
    Cancelled,
}

/// File-transfer metadata for the session record; contents never pass through the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferReport {
    pub name: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the whole file (empty when the transfer did not complete).
    #[serde(default)]
    pub sha256: String,
    pub direction: TransferDirection,
    pub outcome: TransferOutcome,
    /// The customer on the other end.
    pub customer: ParticipantId,
}

/// One chat line as the session record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRecord {
    pub from: ParticipantId,
    /// Empty: everyone.
    #[serde(default)]
    pub to: Vec<ParticipantId>,
    pub text: String,
    pub sent_at: crate::ids::Millis,
}

/// A command from one participant (the actor) to its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Check that the actor may invite (rule 2); the service then issues the invitation.
    Invite {
        role: InviteRole,
    },
    /// Rule 3.
    MakePrimary {
        customer: ParticipantId,
    },
    /// Rule 7.
    TransferControl {
        to: ParticipantId,
    },
    /// Rule 9.
    Leave,
    /// Rule 8.
    End {
        #[serde(default)]
        notes: String,
    },
    /// CSR notes, editable until the session ends.
    SaveNotes {
        notes: String,
    },
    /// Rules 4–7, 10–12. `target` defaults to the primary customer for activities aimed at one.
    StartActivity {
        activity: Activity,
        #[serde(default)]
        target: Option<ParticipantId>,
    },
    StopActivity {
        activity: Activity,
    },
    /// Rule 12: a CSR asks a customer.
    RequestConsent {
        customer: ParticipantId,
        capability: Capability,
    },
    /// Rule 12: the customer answers a pending request.
    AnswerConsent {
        capability: Capability,
        granted: bool,
    },
    /// Rule 12: the customer takes back a consent it gave.
    RevokeConsent {
        capability: Capability,
    },
    /// File-transfer metadata for the record (rule 10 applies).
    ReportTransfer {
        transfer: TransferReport,
    },
    /// The controller attaches chat lines to the session record (its transcript, in batches
    /// that fit a message).
    RecordChat {
        lines: Vec<ChatRecord>,
    },
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Left,
    /// Its connection stayed down longer than the reconnect grace period.
    TimedOut,
    SessionEnded,
}

/// Why an activity stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Stopped,
    ControlTransferred,
    ConsentRevoked,
    PrimaryChanged,
    ParticipantLeft,
    SessionEnded,
}

/// Why the session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The controller ended it (rule 8).
    Ended,
    /// The controller left with no other CSR present (rule 9).
    ControllerLeft,
    /// The controller's connection timed out with no other CSR to take control.
    ControllerTimedOut,
}

/// The role a participant holds now, as the roster shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Controller,
    Csr,
    PrimaryCustomer,
    Customer,
}

/// What happened, in order. The service writes each to the session record and pushes it to the
/// participants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    SessionStarted {
        by: ParticipantId,
        session_type: String,
        tracking_code: Option<String>,
    },
    ParticipantJoined {
        participant: ParticipantId,
        name: String,
        role: Role,
    },
    ParticipantLeft {
        participant: ParticipantId,
        reason: LeaveReason,
    },
    ConnectionChanged {
        participant: ParticipantId,
        connected: bool,
    },
    InvitationCreated {
        by: ParticipantId,
        role: InviteRole,
    },
    PrimaryChanged {
        previous: Option<ParticipantId>,
        primary: Option<ParticipantId>,
    },
    ControlTransferred {
        from: ParticipantId,
        to: ParticipantId,
    },
    ActivityStarted {
        activity: Activity,
        actor: ParticipantId,
        target: Option<ParticipantId>,
    },
    ActivityStopped {
        activity: Activity,
        actor: ParticipantId,
        target: Option<ParticipantId>,
        reason: StopReason,
    },
    ConsentRequested {
        customer: ParticipantId,
        capability: Capability,
        by: ParticipantId,
    },
    ConsentAnswered {
        customer: ParticipantId,
        capability: Capability,
        granted: bool,
    },
    ConsentRevoked {
        customer: ParticipantId,
        capability: Capability,
    },
    FileTransferRecorded {
        by: ParticipantId,
        transfer: TransferReport,
    },
    ChatRecorded {
        by: ParticipantId,
        lines: Vec<ChatRecord>,
    },
    /// The controller uploaded a recording of the session (a Matroska file the service keeps);
    /// it is now part of the record. The file itself is downloaded separately by its `id`.
    RecordingAttached {
        /// The controller that uploaded it.
        by: ParticipantId,
        /// The recording's id (a UUID chosen by the service).
        id: String,
        /// Bytes.
        size: u64,
        /// Lower-case hex SHA-256 of the whole file.
        sha256: String,
        /// Length of the recording as its maker stated it, if it did.
        duration_ms: Option<u64>,
    },
    NotesSaved {
        by: ParticipantId,
        notes: String,
    },
    SessionEnded {
        by: Option<ParticipantId>,
        reason: EndReason,
        notes: String,
    },
}

impl Event {
    /// The event as a customer may see it: CSR notes are for CSRs only.
    pub fn for_customer(&self) -> Option<Event> {
        match self {
            Event::NotesSaved { .. } => None,
            Event::SessionEnded { by, reason, .. } => Some(Event::SessionEnded {
                by: *by,
                reason: *reason,
                notes: String::new(),
            }),
            other => Some(other.clone()),
        }
    }
}
