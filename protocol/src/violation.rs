//! The typed refusal every rule check returns: one variant per way a command can break the rules.

use crate::activity::{Activity, Capability};
use crate::ids::ParticipantId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a command was refused. The service sends `code()` and the `Display` text to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum RuleViolation {
    /// The session has ended; nothing more is accepted.
    SessionEnded,
    /// The acting participant is not (or no longer) in the session.
    NotInSession { participant: ParticipantId },
    /// The named participant is not present in this session.
    UnknownParticipant { participant: ParticipantId },
    /// Rule 1: this session type requires a tracking code.
    TrackingCodeRequired { session_type: String },
    /// A field is empty or too long.
    InvalidField { field: String, reason: String },
    /// Only a CSR may do this (rules 1, 2).
    CsrOnly,
    /// Only the controlling CSR may do this (rules 3, 7, 8).
    ControllerOnly,
    /// Rule 3: only customers can be made primary.
    NotACustomer { participant: ParticipantId },
    /// Rule 3: the customer is already primary.
    AlreadyPrimary { participant: ParticipantId },
    /// Rule 7: control goes to another CSR present in the session.
    NotACsr { participant: ParticipantId },
    /// Rule 7: the controller already has control.
    AlreadyController,
    /// Rule 4: only the primary customer shares or can be viewed or controlled.
    NotPrimary { participant: ParticipantId },
    /// Rules 5, 6: needs at least one customer in the session.
    NoCustomerYet,
    /// Rule 7: a CSR that transferred control has no support activity until control returns.
    ControlTransferredAway,
    /// Rule 9: a controller leaving while other CSRs are present must transfer control first.
    MustTransferControlFirst,
    /// Rule 9: customers can't end a session.
    CustomersCannotEnd,
    /// Rule 10: the organization's admin has not enabled this file-transfer mode.
    FileTransferDisabled,
    /// Rule 11: no file transfer while a customer's application is viewed or controlled.
    ApplicationSharingActive,
    /// Recording is not allowed by the organization's settings.
    RecordingDisabled,
    /// Rule 12: the customer has not given this consent (or revoked it).
    ConsentRequired {
        participant: ParticipantId,
        capability: Capability,
    },
    /// Rule 12: consent is asked of customers only, and answered by them only.
    ConsentIsForCustomers,
    /// Rule 12: no pending request for this consent to answer.
    NoPendingConsent { capability: Capability },
    /// Rule 12: nothing to revoke: this consent is not currently given.
    ConsentNotGiven { capability: Capability },
    /// This activity is already running.
    ActivityAlreadyRunning { activity: Activity },
    /// This activity is not running (for the acting participant).
    ActivityNotRunning { activity: Activity },
    /// The activity is of a kind the acting participant's role can't start.
    ActivityNotAllowed { activity: Activity },
    /// A participant can't address itself.
    SelfTarget,
    /// A CSR account can be in a session only once at a time.
    AlreadyInSession,
    /// Rule 12: the customer has already given this consent; it stays given until revoked.
    ConsentAlreadyGiven { capability: Capability },
    /// Rule 11: an application can't be viewed or controlled while files are being transferred.
    FileTransferActive,
}

impl RuleViolation {
    /// A stable snake_case code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SessionEnded => "session_ended",
            Self::NotInSession { .. } => "not_in_session",
            Self::UnknownParticipant { .. } => "unknown_participant",
            Self::TrackingCodeRequired { .. } => "tracking_code_required",
            Self::InvalidField { .. } => "invalid_field",
            Self::CsrOnly => "csr_only",
            Self::ControllerOnly => "controller_only",
            Self::NotACustomer { .. } => "not_a_customer",
            Self::AlreadyPrimary { .. } => "already_primary",
            Self::NotACsr { .. } => "not_a_csr",
            Self::AlreadyController => "already_controller",
            Self::NotPrimary { .. } => "not_primary",
            Self::NoCustomerYet => "no_customer_yet",
            Self::ControlTransferredAway => "control_transferred_away",
            Self::MustTransferControlFirst => "must_transfer_control_first",
            Self::CustomersCannotEnd => "customers_cannot_end",
            Self::FileTransferDisabled => "file_transfer_disabled",
            Self::ApplicationSharingActive => "application_sharing_active",
            Self::RecordingDisabled => "recording_disabled",
            Self::ConsentRequired { .. } => "consent_required",
            Self::ConsentIsForCustomers => "consent_is_for_customers",
            Self::NoPendingConsent { .. } => "no_pending_consent",
            Self::ConsentNotGiven { .. } => "consent_not_given",
            Self::ActivityAlreadyRunning { .. } => "activity_already_running",
            Self::ActivityNotRunning { .. } => "activity_not_running",
            Self::ActivityNotAllowed { .. } => "activity_not_allowed",
            Self::SelfTarget => "self_target",
            Self::AlreadyInSession => "already_in_session",
            Self::ConsentAlreadyGiven { .. } => "consent_already_given",
            Self::FileTransferActive => "file_transfer_active",
        }
    }
}

impl fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SessionEnded => write!(f, "the session has ended"),
            Self::NotInSession { participant } => write!(f, "{participant} is not in the session"),
            Self::UnknownParticipant { participant } => {
                write!(f, "{participant} is not present in this session")
            }
            Self::TrackingCodeRequired { session_type } => {
                write!(f, "session type {session_type:?} requires a tracking code")
            }
            Self::InvalidField { field, reason } => write!(f, "invalid {field}: {reason}"),
            Self::CsrOnly => write!(f, "only a support representative can do this"),
            Self::ControllerOnly => {
                write!(f, "only the controlling support representative can do this")
            }
            Self::NotACustomer { participant } => write!(f, "{participant} is not a customer"),
            Self::AlreadyPrimary { participant } => {
                write!(f, "{participant} is already the primary customer")
            }
            Self::NotACsr { participant } => {
                write!(
                    f,
                    "{participant} is not a support representative in this session"
                )
            }
            Self::AlreadyController => write!(f, "you already have control of the session"),
            Self::NotPrimary { participant } => write!(
                f,
                "{participant} is not the primary customer; only the primary customer shares or is viewed or controlled"
            ),
            Self::NoCustomerYet => write!(f, "no customer has joined the session yet"),
            Self::ControlTransferredAway => write!(
                f,
                "you transferred control; support activity stops until control comes back to you"
            ),
            Self::MustTransferControlFirst => write!(
                f,
                "other support representatives are present: transfer control before leaving"
            ),
            Self::CustomersCannotEnd => {
                write!(f, "customers can't end a session; they can leave it")
            }
            Self::FileTransferDisabled => {
                write!(
                    f,
                    "file transfer in this mode is not enabled by the organization"
                )
            }
            Self::ApplicationSharingActive => write!(
                f,
                "a customer application is being viewed or controlled: stop application sharing before transferring files"
            ),
            Self::RecordingDisabled => write!(f, "recording is not allowed by the organization"),
            Self::ConsentRequired {
                participant,
                capability,
            } => {
                write!(f, "{participant} has not given consent to {capability}")
            }
            Self::ConsentIsForCustomers => {
                write!(f, "consent is asked of customers and answered by them only")
            }
            Self::NoPendingConsent { capability } => {
                write!(f, "no pending request for consent to {capability}")
            }
            Self::ConsentNotGiven { capability } => {
                write!(f, "consent to {capability} is not currently given")
            }
            Self::ActivityAlreadyRunning { activity } => write!(f, "{activity} is already running"),
            Self::ActivityNotRunning { activity } => write!(f, "{activity} is not running"),
            Self::ActivityNotAllowed { activity } => {
                write!(f, "your role can't start {activity}")
            }
            Self::SelfTarget => write!(f, "you can't address yourself"),
            Self::AlreadyInSession => write!(f, "you are already in this session"),
            Self::ConsentAlreadyGiven { capability } => {
                write!(f, "consent to {capability} is already given")
            }
            Self::FileTransferActive => write!(
                f,
                "files are being transferred: end file transfer before viewing or controlling an application"
            ),
        }
    }
}

impl std::error::Error for RuleViolation {}
