//! Organization settings admins edit: file transfer, recording, session types, ICE servers.

use serde::{Deserialize, Serialize};
use tether_protocol::{FileTransferMode, SessionPolicy, SessionType};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSettings {
    pub file_transfer: FileTransferMode,
    pub recording_allowed: bool,
    pub session_types: Vec<SessionType>,
    /// `stun:` URLs given to every participant.
    #[serde(default)]
    pub stun_urls: Vec<String>,
    /// `turn:`/`turns:` URLs; used only with a shared secret.
    #[serde(default)]
    pub turn_urls: Vec<String>,
    /// coturn's `static-auth-secret`; never shown to non-admins.
    #[serde(default)]
    pub turn_secret: String,
    /// Lifetime of issued TURN credentials, in seconds.
    #[serde(default = "default_turn_ttl")]
    pub turn_ttl_secs: u64,
}

fn default_turn_ttl() -> u64 {
    3600
}

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            file_transfer: FileTransferMode::Basic,
            recording_allowed: false,
            session_types: vec![SessionType {
                name: "General".into(),
                requires_tracking_code: false,
            }],
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: String::new(),
            turn_ttl_secs: default_turn_ttl(),
        }
    }
}

impl OrgSettings {
    pub fn policy(&self) -> SessionPolicy {
        SessionPolicy {
            file_transfer: self.file_transfer,
            recording_allowed: self.recording_allowed,
        }
    }

    pub fn session_type(&self, name: &str) -> Option<&SessionType> {
        self.session_types.iter().find(|t| t.name == name)
    }

    /// Check the settings an admin submits; the error names the field and what was expected.
    pub fn validate(&self) -> Result<(), String> {
        if self.session_types.is_empty() {
            return Err("session_types: at least one session type is required".into());
        }
        for (i, t) in self.session_types.iter().enumerate() {
            if t.name.trim().is_empty() || t.name.chars().count() > 64 {
                return Err(format!(
                    "session_types[{i}].name: expected 1 to 64 characters"
                ));
            }
            if self.session_types[..i].iter().any(|o| o.name == t.name) {
                return Err(format!(
                    "session_types[{i}].name: {:?} appears twice",
                    t.name
                ));
            }
        }
        for (field, urls, schemes) in [
            ("stun_urls", &self.stun_urls, &["stun:", "stuns:"][..]),
            ("turn_urls", &self.turn_urls, &["turn:", "turns:"][..]),
        ] {
            for (i, url) in urls.iter().enumerate() {
                if !schemes.iter().any(|s| url.starts_with(s))
                    || url.len() > 256
                    || url.contains(char::is_whitespace)
                {
                    return Err(format!(
                        "{field}[{i}]: expected a URL starting with {}",
                        schemes.join(" or ")
                    ));
                }
            }
        }
        if !self.turn_urls.is_empty() && self.turn_secret.is_empty() {
            return Err("turn_secret: required when turn_urls are set".into());
        }
        if !(60..=86_400).contains(&self.turn_ttl_secs) {
            return Err("turn_ttl_secs: expected 60 to 86400".into());
        }
        Ok(())
    }
}
