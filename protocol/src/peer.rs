//! Messages peers exchange directly over their `tether` data channel (never through the
//! service): chat, and requests a customer's endpoint answers only under its own consent
//! (system information today; files build on the same envelope).

use crate::ids::{Millis, ParticipantId};
use crate::input::InputEvent;
use crate::limits::check_text;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The label of the reliable, ordered data channel every pair of peers opens.
pub const CONTROL_CHANNEL: &str = "tether";
/// One control message, in bytes.
pub const MAX_PEER_MESSAGE_BYTES: usize = 16 * 1024;
/// The bytes of a file travel in binary messages of at most this size on the `file-ID` channel.
/// It fits one SCTP DATA chunk of webrtc-rs (1191-byte packets: 1160 bytes of payload), so
/// nothing is fragmented or reassembled: webrtc-rs spends about two thirds of the CPU time per
/// byte that 16 KiB messages cost it (BENCHMARKS.md, file transfer, finding 6).
pub const FILE_CHUNK_BYTES: usize = 1152;
/// The size of the digest message that ends a file channel when the offer had no `sha256`.
pub const FILE_DIGEST_BYTES: usize = 32;
/// One chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;

/// A message on the control channel. (Not `Eq`: input events carry `f64` coordinates.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The sender proposes a file; the bytes follow on the data channel `file-ID` once the
    /// receiver answers `file_accept` (a CSR sending, or a customer answering a fetch).
    /// `sha256` is the file's digest in hex, or empty when the sender hashes while it sends:
    /// then the 32-byte digest ([`FILE_DIGEST_BYTES`]) follows the file's bytes as one last
    /// binary message on the same channel (never for an empty file, whose digest is known).
    FileOffer {
        id: u64,
        name: String,
        size: u64,
        sha256: String,
    },
    /// A CSR asks to fetch `name` from the customer's chosen folder; the customer approves, then
    /// offers it with the same id.
    FileFetch { id: u64, name: String },
    /// The receiver is ready for transfer `id`: the sender sends the bytes from `offset` on.
    /// The first accept has offset 0; after a broken connection the receiver accepts again with
    /// the number of bytes it has written (the last confirmed offset), and the transfer resumes.
    FileAccept {
        id: u64,
        #[serde(default)]
        offset: u64,
    },
    /// The receiver got every byte of transfer `id`; `ok` when the SHA-256 matched.
    FileResult { id: u64, ok: bool },
    /// Basic mode: the files a CSR publishes (the whole list, sent again when it changes).
    FilesPublished { files: Vec<PublishedFile> },
    /// Basic mode: a customer downloads published file `id`; the CSR offers it with that id.
    FileDownload { id: u64 },
    /// Remote control: a controlling CSR's pointer or keyboard event, for the customer's
    /// endpoint to inject while its own user's control consent is given.
    Input { event: InputEvent },
    /// The sender asks the receiver's user to join the voice call (the user answers; joining
    /// is always the receiver's own choice).
    AudioInvite,
}

/// A file a CSR published for customers to download (basic file transfer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedFile {
    pub id: u64,
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// The label of the data channel that carries transfer `id`'s bytes.
pub fn file_channel(id: u64) -> String {
    format!("file-{id}")
}

/// The transfer id of a `file-ID` data channel label.
pub fn file_channel_id(label: &str) -> Option<u64> {
    label.strip_prefix("file-")?.parse().ok()
}

/// A file name that stays inside the chosen folder: one path component, not `.` or `..`, no
/// separators or control characters, at most 255 bytes.
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err("expected 1 to 255 bytes".into());
    }
    if name == "." || name == ".." {
        return Err("must not be . or ..".into());
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Err("must be a single name, without path separators or control characters".into());
    }
    Ok(())
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
            PeerMessage::FileOffer {
                name, size, sha256, ..
            } => {
                check_file_name(name)
                    .map_err(|e| PeerDecodeError::Malformed(format!("name: {e}")))?;
                if sha256.is_empty() && *size == 0 {
                    return Err(PeerDecodeError::Malformed(
                        "sha256: required for an empty file".into(),
                    ));
                }
                if !sha256.is_empty()
                    && (sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    return Err(PeerDecodeError::Malformed(
                        "sha256: expected 64 hex digits, or empty when the digest follows the bytes"
                            .into(),
                    ));
                }
            }
            PeerMessage::FilesPublished { files } => {
                for f in files {
                    check_file_name(&f.name)
                        .map_err(|e| PeerDecodeError::Malformed(format!("files.name: {e}")))?;
                }
            }
            PeerMessage::FileFetch { name, .. } => {
                check_file_name(name)
                    .map_err(|e| PeerDecodeError::Malformed(format!("name: {e}")))?;
            }
            PeerMessage::Input { event } => {
                event
                    .validate()
                    .map_err(|e| PeerDecodeError::Malformed(format!("event.{e}")))?;
            }
            PeerMessage::SystemInfoRequest { .. }
            | PeerMessage::SystemInfo { .. }
            | PeerMessage::FileAccept { .. }
            | PeerMessage::FileResult { .. }
            | PeerMessage::FileDownload { .. }
            | PeerMessage::AudioInvite => {}
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

    #[test]
    fn an_offer_may_leave_its_digest_for_the_end_unless_the_file_is_empty() {
        let offer = |size: u64, sha256: &str| {
            let json = format!(
                r#"{{"type":"file_offer","id":7,"name":"a.txt","size":{size},"sha256":"{sha256}"}}"#
            );
            PeerMessage::decode(json.as_bytes(), P(2))
        };
        let hex = "ab".repeat(32);
        assert!(offer(5, &hex).is_ok());
        assert!(offer(5, "").is_ok());
        assert!(offer(0, &hex).is_ok());
        for (size, sha256, says) in [
            (0, "", "required for an empty file"),
            (5, "abc", "expected 64 hex digits"),
            (5, &"zz".repeat(32), "expected 64 hex digits"),
        ] {
            match offer(size, sha256) {
                Err(PeerDecodeError::Malformed(e)) => assert!(e.contains(says), "{e}"),
                other => panic!("{size} {sha256}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_accept_without_offset_starts_at_zero() {
        for (json, offset) in [
            (&br#"{"type":"file_accept","id":7}"#[..], 0),
            (br#"{"type":"file_accept","id":7,"offset":4096}"#, 4096),
        ] {
            assert_eq!(
                PeerMessage::decode(json, P(2)),
                Ok(PeerMessage::FileAccept { id: 7, offset })
            );
        }
    }

    #[test]
    fn file_names_stay_in_the_folder() {
        for ok in [
            "report.pdf",
            "a",
            ".bashrc",
            "name with spaces.txt",
            "..hidden",
        ] {
            assert_eq!(check_file_name(ok), Ok(()), "{ok}");
        }
        let long = "x".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "../etc/passwd",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "nul\0",
            "tab\tname",
            long.as_str(),
        ] {
            assert!(check_file_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(file_channel_id(&file_channel(42)), Some(42));
        assert_eq!(file_channel_id("tether"), None);
        let offer = |name: &str, sha: &str| PeerMessage::FileOffer {
            id: 1,
            name: name.into(),
            size: 0,
            sha256: sha.into(),
        };
        let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(PeerMessage::decode(offer("a.txt", hash).to_json().as_bytes(), P(2)).is_ok());
        assert!(PeerMessage::decode(offer("../a.txt", hash).to_json().as_bytes(), P(2)).is_err());
        assert!(PeerMessage::decode(offer("a.txt", "xyz").to_json().as_bytes(), P(2)).is_err());
    }
}
