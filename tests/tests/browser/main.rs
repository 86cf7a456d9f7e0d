//! End-to-end tests of the browser pages: a real service serving this repository's `web/`, a
//! headless Chromium driven over WebDriver, and native engines as the other peers. One test
//! binary shares one build.

// The administration page and invitations by e-mail.
mod admin;
mod common;
mod console;
mod console_files;
mod join;
// File transfer between the console, the join page and the native helper.
mod join_files;
mod recorder;
mod share;
// Voice and camera: the console's and the join page's, against native peers.
mod audio_probe;
mod join_media;
mod voice;
