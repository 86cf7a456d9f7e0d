//! Messages peers exchange directly over their `tether` data channel (never through the
//! service): chat, and requests a customer's endpoint answers only under its own consent
//! (system information today; files build on the same envelope).

use crate::ids::{Millis, ParticipantId};
use crate::limits::check_text;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The label of the reliable, ordered data channel every pair of peers opens.
pub const CONTROL_CHANNEL: &str = "tether";
/// One control message, in bytes.
pub const MAX_PEER_MESSAGE_BYTES: usize = 16 * 1024;
/// One chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;

/// A message on the control channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerMessage {
    /// A chat line. `to` lists the recipients; empty means everyone in the session. The sender
    /// sends it to exactly those peers, so each participant receives only what was addressed
    /// to it.
    Chat {
        id: u64,
        text: String,
        #[serde(default)]
        to: Vec<ParticipantId>,
        sent_at: Millis,
    },
    /// A CSR asks the customer's endpoint for its system information. The endpoint answers
    /// only while its own user's `system_info` consent is given, and only to a CSR.
    SystemInfoRequest { id: u64 },
    /// The answer to `system_info_request` with the same id.
    SystemInfo { id: u64, info: SystemInfo },
    /// The endpoint refused request `id` (no consent, not a CSR...), in words.
    Refused { id: u64, reason: String },
}

/// What a customer's machine tells about itself after consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SystemInfo {
    /// e.g. "Linux 12 Debian GNU/Linux"; for browsers, what the browser tells.
    pub os: String,
    pub kernel: String,
    pub hostname: String,
    pub cpu_model: String,
    pub cpu_cores: u32,
    pub memory_total_bytes: u64,
    pub memory_used_bytes: u64,
    pub disks: Vec<DiskInfo>,
    /// Displays (name and size) where the endpoint can tell; empty when it can't.
    #[serde(default)]
    pub displays: Vec<DisplayInfo>,
    pub network: Vec<InterfaceInfo>,
    pub uptime_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskInfo {
    pub name: String,
    pub mount_point: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayInfo {
    pub name: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceInfo {
    pub name: String,
    pub mac: String,
    /// Addresses with prefix length, e.g. "192.0.2.7/24".
    pub addresses: Vec<String>,
}

/// Why a peer's message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerDecodeError {
    TooLarge {
        size: usize,
    },
    Malformed(String),
    /// A chat addressed to others reached us: a misbehaving peer.
    NotForUs,
}

impl fmt::Display for PeerDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { size } => {
                write!(
                    f,
                    "peer message of {size} bytes is larger than the limit of {MAX_PEER_MESSAGE_BYTES}"
                )
            }
            Self::Malformed(e) => write!(f, "malformed peer message: {e}"),
            Self::NotForUs => write!(
                f,
                "a chat message addressed to other participants reached us"
            ),
        }
    }
}

impl std::error::Error for PeerDecodeError {}

impl PeerMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decode a message that peer sent to `me`, checking size, shape, text limits and that a
    /// chat was addressed to us.
    pub fn decode(bytes: &[u8], me: ParticipantId) -> Result<PeerMessage, PeerDecodeError> {
        if bytes.len() > MAX_PEER_MESSAGE_BYTES {
            return Err(PeerDecodeError::TooLarge { size: bytes.len() });
        }
        let msg: PeerMessage =
            serde_json::from_slice(bytes).map_err(|e| PeerDecodeError::Malformed(e.to_string()))?;
        match &msg {
            PeerMessage::Chat { text, to, .. } => {
                check_text("text", text, MAX_CHAT_CHARS, false)
                    .map_err(|e| PeerDecodeError::Malformed(e.to_string()))?;
                if !to.is_empty() && !to.contains(&me) {
                    return Err(PeerDecodeError::NotForUs);
                }
            }
            PeerMessage::Refused { reason, .. } => {
                check_text("reason", reason, 1000, false)
                    .map_err(|e| PeerDecodeError::Malformed(e.to_string()))?;
            }
            PeerMessage::SystemInfoRequest { .. } | PeerMessage::SystemInfo { .. } => {}
        }
        Ok(msg)
    }
}

/// The peers a chat goes to: the named recipients that are present (never the sender), or
/// every other present participant when `to` is empty.
pub fn chat_recipients(
    present: &[ParticipantId],
    me: ParticipantId,
    to: &[ParticipantId],
) -> Vec<ParticipantId> {
    present
        .iter()
        .copied()
        .filter(|p| *p != me && (to.is_empty() || to.contains(p)))
        .collect()
}

/// Which side of a pair sends the offer: the lower participant id, so there is never glare.
pub fn offers_to(me: ParticipantId, other: ParticipantId) -> bool {
    me < other
}

#[cfg(test)]
mod tests {
    use super::*;
    const P: fn(u32) -> ParticipantId = ParticipantId;

    #[test]
    fn recipients() {
        let present = [P(1), P(2), P(3), P(4)];
        let cases: [(&[ParticipantId], &[ParticipantId]); 4] = [
            (&[], &[P(2), P(3), P(4)]),
            (&[P(3)], &[P(3)]),
            (&[P(3), P(1), P(9)], &[P(3)]),
            (&[P(1)], &[]),
        ];
        for (to, want) in cases {
            assert_eq!(chat_recipients(&present, P(1), to), want, "{to:?}");
        }
    }

    #[test]
    fn decoding() {
        let chat = |to: Vec<ParticipantId>| PeerMessage::Chat {
            id: 1,
            text: "hi".into(),
            to,
            sent_at: 5,
        };
        let ok = chat(vec![P(2)]);
        assert_eq!(
            PeerMessage::decode(ok.to_json().as_bytes(), P(2)),
            Ok(ok.clone())
        );
        assert_eq!(
            PeerMessage::decode(ok.to_json().as_bytes(), P(3)),
            Err(PeerDecodeError::NotForUs)
        );
        let all = chat(vec![]);
        assert_eq!(PeerMessage::decode(all.to_json().as_bytes(), P(3)), Ok(all));
        let big = vec![b' '; MAX_PEER_MESSAGE_BYTES + 1];
        assert_eq!(
            PeerMessage::decode(&big, P(2)),
            Err(PeerDecodeError::TooLarge { size: big.len() })
        );
        for bad in [
            &b"\xff\xfe"[..],
            b"{}",
            br#"{"type":"chat"}"#,
            br#"{"type":"chat","id":1,"text":"","sent_at":1}"#,
        ] {
            assert!(
                matches!(
                    PeerMessage::decode(bad, P(2)),
                    Err(PeerDecodeError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        assert!(offers_to(P(1), P(2)) && !offers_to(P(2), P(1)));
    }
}
