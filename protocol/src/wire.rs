//! The signaling wire format: JSON messages over one WebSocket per participant, versioned.
//!
//! Every message is a JSON object with a `type` field. `docs/protocol.md` documents each one.

use crate::events::{Command, EndReason, Event, Role};
use crate::ids::ParticipantId;
use crate::limits::MAX_MESSAGE_BYTES;
use crate::session::Roster;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The version a client states in its hello. The service refuses any other.
pub const PROTOCOL_VERSION: u32 = 1;

/// A WebRTC signaling payload relayed verbatim to one named participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalData {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_m_line_index: Option<u16>,
    },
    EndOfCandidates,
    /// The answering side lost its connection to this participant and asks the offering side
    /// for a new one (a new offer). The offering side restarts on its own.
    Restart,
}

/// First message on a connection: protocol version and the participant token from joining.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u32,
    pub token: String,
}

/// Relay `data` to participant `to` of the same session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub to: ParticipantId,
    pub data: SignalData,
}

/// Application-level heartbeat; answered with `pong` carrying the same id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    #[serde(default)]
    pub id: u64,
}

/// Client to service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Hello(Hello),
    Signal(Signal),
    Ping(Ping),
    /// A session command (`make_primary`, `transfer_control`, `leave`, `end`, ...).
    #[serde(untagged)]
    Command(Command),
}

/// Every `type` a client may send. (`Command::Invite` is not among them: invitations are created
/// over REST, which returns the secret token.)
pub const CLIENT_MESSAGE_TYPES: [&str; 15] = [
    "hello",
    "signal",
    "ping",
    "make_primary",
    "transfer_control",
    "leave",
    "end",
    "save_notes",
    "start_activity",
    "stop_activity",
    "request_consent",
    "answer_consent",
    "revoke_consent",
    "report_transfer",
    "record_chat",
];

/// Service to client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to a good hello.
    Welcome {
        version: u32,
        session: String,
        you: ParticipantId,
        role: Role,
        /// Send something (a `ping` will do) at least this often or be disconnected.
        heartbeat_ms: u64,
        roster: Roster,
    },
    /// The whole roster, pushed after every change.
    Roster {
        roster: Roster,
    },
    /// One thing that happened in the session.
    Event {
        event: Event,
    },
    /// A relayed signaling payload from `from`.
    Signal {
        from: ParticipantId,
        data: SignalData,
    },
    Pong {
        id: u64,
    },
    /// A request was refused; the connection stays open unless a close follows.
    Error {
        code: String,
        message: String,
        /// The `type` of the refused message, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<String>,
    },
    /// The session ended; the service closes the connection after this.
    Ended {
        reason: EndReason,
        notes: String,
    },
}

impl ServerMessage {
    pub fn error(code: &str, message: impl fmt::Display, request: Option<&str>) -> ServerMessage {
        ServerMessage::Error {
            code: code.to_owned(),
            message: message.to_string(),
            request: request.map(str::to_owned),
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing these types can't fail: no maps with non-string keys, no custom impls.
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(r#"{{"type":"error","code":"internal","message":"encoding failed: {e}"}}"#)
        })
    }
}

/// Why a client message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge {
        size: usize,
        limit: usize,
    },
    Malformed {
        reason: String,
        request: Option<String>,
    },
    UnknownType {
        name: String,
    },
}

impl DecodeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Malformed { .. } => "malformed",
            Self::UnknownType { .. } => "unknown_type",
        }
    }
    pub fn request(&self) -> Option<&str> {
        match self {
            Self::Malformed { request, .. } => request.as_deref(),
            Self::UnknownType { name } => Some(name),
            Self::TooLarge { .. } => None,
        }
    }
    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::error(self.code(), self, self.request())
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size, limit } => {
                write!(
                    f,
                    "message of {size} bytes is larger than the limit of {limit} bytes"
                )
            }
            Self::Malformed { reason, .. } => write!(f, "malformed message: {reason}"),
            Self::UnknownType { name } => write!(
                f,
                "unknown message type {name:?}; expected one of {}",
                CLIENT_MESSAGE_TYPES.join(", ")
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decode one client message, enforcing the size limit and naming what is wrong.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge {
            size: text.len(),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| DecodeError::Malformed {
            reason: format!("not JSON: {e}"),
            request: None,
        })?;
    let Some(name) = value
        .get("type")
        .and_then(|t| t.as_str())
        .map(str::to_owned)
    else {
        return Err(DecodeError::Malformed {
            reason: "expected a JSON object with a string field \"type\"".into(),
            request: None,
        });
    };
    if !CLIENT_MESSAGE_TYPES.contains(&name.as_str()) {
        return Err(DecodeError::UnknownType { name });
    }
    let decoded = match name.as_str() {
        "hello" => field_errors(value).map(ClientMessage::Hello),
        "signal" => field_errors(value).map(ClientMessage::Signal),
        "ping" => field_errors(value).map(ClientMessage::Ping),
        _ => field_errors(value).map(ClientMessage::Command),
    };
    decoded.map_err(|reason| DecodeError::Malformed {
        reason: format!("bad fields for {name:?}: {reason}"),
        request: Some(name),
    })
}

/// Deserialize one message body; the error names the field at fault (`data.sdp: missing field`).
fn field_errors<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    let probe = value.clone();
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path != "." {
            return format!("{path}: {inner}");
        }
        // Internally tagged enums (the commands) hide the path: find the field by removing each
        // in turn and seeing whether the complaint becomes "missing field" for it or goes away.
        match culprit::<T>(&probe, &inner) {
            Some(field) => format!("{field}: {inner}"),
            None => inner,
        }
    })
}

fn culprit<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    error: &str,
) -> Option<String> {
    // Every command has at most a handful of fields; don't probe (quadratic work) a message
    // padded with many.
    const MAX_PROBED_FIELDS: usize = 8;
    if error.starts_with("missing field") {
        return None;
    }
    let object = value.as_object().filter(|o| o.len() <= MAX_PROBED_FIELDS)?;
    object.keys().filter(|k| *k != "type").find_map(|key| {
        let mut without = object.clone();
        without.remove(key);
        match serde_json::from_value::<T>(serde_json::Value::Object(without)) {
            Ok(_) => Some(key.clone()),
            Err(e) if e.to_string() == format!("missing field `{key}`") => Some(key.clone()),
            Err(_) => None,
        }
    })
}
