//! tether's protocol core: the session model, every role rule, and the wire messages.
//!
//! This crate is pure: no IO, no async runtime, no clock reads (callers pass `now` in
//! milliseconds). It builds for `wasm32-unknown-unknown`, so the signaling service, the native
//! engine and the browser pages share one implementation of the rules and the formats.
//!
//! # Usage
//!
//! ```
//! use tether_protocol::*;
//! let kind = SessionType { name: "General".into(), requires_tracking_code: false };
//! let policy = SessionPolicy { file_transfer: FileTransferMode::Basic, recording_allowed: true };
//! let (mut s, _events) = Session::start(AccountId(1), "Ana", &kind, None, policy, 0).unwrap();
//! let (customer, _) = s.join(ParticipantKind::Customer, "Bo", 10).unwrap();
//! assert_eq!(s.primary(), Some(customer));
//! // A customer can't end the session (rule 9):
//! let refused = s.handle(customer, Command::End { notes: String::new() }, 20);
//! assert_eq!(refused, Err(RuleViolation::CustomersCannotEnd));
//! ```
//!
//! # Design
//!
//! [`Session`] is a state machine. Getters read it; [`Session::start`], [`Session::join`],
//! [`Session::set_connected`], [`Session::time_out`], [`Session::handle`] and
//! [`Session::attach_recording`] (for a recording the service stored) change it. Each
//! returns the [`Event`]s that happened or a [`RuleViolation`], in which case nothing changed.
//! [`Session::check_invariants`] states what every reachable state satisfies.
//!
//! # Panics
//!
//! Nothing in this crate panics on any input.

mod activity;
mod events;
mod ids;
mod input;
mod invitation;
mod limits;
mod peer;
mod session;
mod settings;
mod violation;
mod wire;

pub use activity::{Activity, Capability, ConsentState};
pub use events::{
    ChatRecord, Command, EndReason, Event, InviteRole, LeaveReason, Role, StopReason,
    TransferDirection, TransferOutcome, TransferReport,
};
pub use ids::{AccountId, Millis, ParticipantId};
pub use input::{
    Button, InputEvent, MAX_INPUT_TEXT_CHARS, MAX_KEY_CODE_CHARS, MAX_WHEEL_NOTCHES, check_key_code,
};
pub use invitation::{
    CODE_SECRET_LIMIT, InvitationError, InvitationStatus, SESSION_NUMBER_RANGE, ShortCode,
    check_invitation,
};
pub use limits::{
    MAX_MESSAGE_BYTES, MAX_NAME_CHARS, MAX_NOTES_BYTES, MAX_TRACKING_CODE_CHARS, check_text,
};
pub use peer::{
    CONTROL_CHANNEL, DiskInfo, DisplayInfo, FILE_CHUNK_BYTES, FILE_DIGEST_BYTES, InterfaceInfo,
    MAX_CHAT_CHARS, MAX_PEER_MESSAGE_BYTES, PeerDecodeError, PeerMessage, PublishedFile,
    SystemInfo, chat_recipients, check_file_name, file_channel, file_channel_id, offers_to,
};
pub use session::{
    Consent, MAX_RECORDED_CHAT_LINES, Participant, ParticipantKind, Roster, RosterEntry,
    RunningActivity, Session, SessionState,
};
pub use settings::{FileTransferMode, SessionPolicy, SessionType};
pub use violation::RuleViolation;
pub use wire::{
    CLIENT_MESSAGE_TYPES, ClientMessage, DecodeError, Hello, PROTOCOL_VERSION, Ping, ServerMessage,
    Signal, SignalData, decode_client,
};
