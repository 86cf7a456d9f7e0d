//! The engine's integration tests against a real service on loopback, in one test binary:
//! signaling, the WebRTC mesh with chat, and consent with system information.

mod common;
mod consent;
mod mesh;
mod signaling;
