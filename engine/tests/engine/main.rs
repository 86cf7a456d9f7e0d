//! The engine's integration tests against a real service on loopback, in one test binary:
//! signaling, the WebRTC mesh with chat, consent with system information, and the customer
//! helper binary.

mod common;
mod consent;
mod helper;
mod mesh;
mod signaling;
