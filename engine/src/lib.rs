//! tether's native engine: a participant's side of a support session.
//!
//! Today it joins a session through the signaling service: sign-in and session start for CSRs,
//! joining by invitation link or short code for customers ([`service`]), and the WebSocket
//! signaling connection ([`signaling`]) that delivers the roster, the session's events and
//! relayed WebRTC signaling. The WebRTC peers (media, chat, files, remote input) build on it.
//!
//! # Shape
//!
//! A [`signaling::Signaling`] is a cheap, cloneable handle; one task owns the socket and
//! `select!`s over socket input, the handle's commands and the heartbeat timer. Events arrive
//! on a bounded channel the embedding program reads.

mod blocks;
pub mod camera;
mod control;
pub mod error;
pub mod helper;
mod peer;
mod recording;
pub mod service;
pub mod session;
mod sharing;
pub mod signaling;
mod system_info;
mod threads;
pub mod viewing;
pub mod voice;

pub use error::EngineError;
/// The transport settings the engine's connections use, for benchmarks that compare raw
/// webrtc-rs on the same transport.
pub use peer::tuned;
pub use session::{ChatLine, Engine, EngineConfig, EngineEvent, TransferDone};
