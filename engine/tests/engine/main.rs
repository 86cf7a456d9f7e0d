//! The engine's integration tests against a real service on loopback, in one test binary:
//! signaling, the WebRTC mesh with chat, consent with system information, the customer helper
//! binary, file transfer (resuming after a broken connection too), and teardown.

mod camera;
mod common;
mod consent;
mod control;
mod files;
mod helper;
mod mesh;
mod recording;
mod resume;
mod screen;
mod signaling;
mod teardown;
mod voice;
mod xdisplay;
