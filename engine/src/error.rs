//! The engine's error type: what went wrong, in words, with the service's code when it gave one.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The service URL is not of the form `http://host:port`.
    BadUrl(String),
    /// The service could not be reached or the connection broke.
    Io(String),
    /// The service answered with an error (`code` from its JSON body).
    Service {
        status: u16,
        code: String,
        message: String,
    },
    /// The service's answer was not what the protocol documents.
    Protocol(String),
    /// The request is not valid (empty chat, nobody to send to...).
    Invalid(String),
    /// The other endpoint refused the request, in its words (e.g. no consent).
    Refused(String),
    /// The WebRTC layer failed.
    Peer(String),
    /// The session or its connection has closed.
    Closed,
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(u) => write!(f, "bad service URL {u:?}: expected http://host:port"),
            Self::Io(e) => write!(f, "can't reach the service: {e}"),
            Self::Service {
                status,
                code,
                message,
            } => write!(f, "{message} ({code}, HTTP {status})"),
            Self::Protocol(e) => write!(f, "unexpected answer from the service: {e}"),
            Self::Invalid(e) => f.write_str(e),
            Self::Refused(reason) => write!(f, "refused: {reason}"),
            Self::Peer(e) => write!(f, "peer connection: {e}"),
            Self::Closed => write!(f, "the connection to the session is closed"),
        }
    }
}

impl std::error::Error for EngineError {}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> Self {
        EngineError::Io(e.to_string())
    }
}
