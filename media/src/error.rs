//! The one error type of the media crate: each variant names what went wrong in words a user
//! or an embedding program can show.

use std::fmt;

#[derive(Debug)]
pub enum MediaError {
    /// No X display, no such monitor or window, no audio device: what was asked for is absent.
    Unavailable(String),
    /// Input that cannot be used as given (bad size, bad coordinates, unknown key code…).
    Invalid(String),
    /// The encoder or decoder (OpenH264, Opus) failed.
    Codec(String),
    /// The X server refused or the connection to it failed.
    X11(String),
    /// Reading or writing a file failed.
    Io(std::io::Error),
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(what) => write!(f, "unavailable: {what}"),
            Self::Invalid(what) => write!(f, "invalid: {what}"),
            Self::Codec(what) => write!(f, "codec error: {what}"),
            Self::X11(what) => write!(f, "X11 error: {what}"),
            Self::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

impl std::error::Error for MediaError {}

impl From<std::io::Error> for MediaError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}
