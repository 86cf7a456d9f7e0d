//! End-to-end tests of the browser pages: a real service serving this repository's `web/`, a
//! headless Chromium driven over WebDriver, and native engines as the other peers. One test
//! binary shares one build.

mod common;
mod console;
mod console_files;
mod join;
mod share;
