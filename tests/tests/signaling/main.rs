//! Integration tests of the signaling service over real sockets: whole sessions, bad input,
//! slow consumers, heartbeats, reconnects and restarts. One test binary shares one build.

mod bad_input;
mod connections;
mod restart;
mod whole_session;
