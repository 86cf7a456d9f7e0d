//! tether's protocol crate for the browser pages: a small C ABI over wasm32 linear memory.
//!
//! The CSR console and the customer join page (`web/`) load this crate compiled to
//! `wasm32-unknown-unknown` (`web/wasm/tether_protocol.wasm`, built by `scripts/build-wasm.sh`,
//! wrapped by `web/js/protocol.js`), so that encoding, decoding and rule pre-checks in the browser
//! are the protocol crate's own, never a second implementation in JavaScript.
//!
//! # The ABI
//!
//! - `alloc(len) -> ptr` reserves `len` bytes; `dealloc(ptr, len)` frees them.
//! - Every other export takes `(ptr, len)`: a UTF-8 JSON input the caller wrote into memory it
//!   allocated (and frees afterwards), and returns a pointer to a result: a little-endian `u32`
//!   byte length, then that many bytes of UTF-8 JSON, either `{"ok": …}` or
//!   `{"error": "a sentence", "code": "a_snake_case_code", …}`. The caller frees the result with
//!   `dealloc(ptr, 4 + length)`.
//! - The module imports nothing from its host.
//! - Incremental SHA-256 for file transfers, without JSON: `sha256_begin() -> handle`,
//!   `sha256_update(handle, ptr, len) -> 1 | 0`, `sha256_finish(handle) -> result` (a result as
//!   above, `{"ok": "hex digest"}`); see [`hashing`].
//!
//! # Design
//!
//! [`calls`] holds the logic as safe functions `fn(&str) -> String` (tested natively); [`abi`] is a
//! thin layer that exports them and is the only place with `unsafe` code (the workspace forbids
//! it elsewhere). [`rules`] rebuilds a [`tether_protocol::Session`] from what a page knows (the
//! roster) so the pages can ask the model itself whether a command would be accepted.
//!
//! # Panics
//!
//! Nothing here panics on any input: errors come back as `{"error": …}` results. (The wasm build
//! aborts on a panic rather than unwinding, so a bug would trap, never cross the boundary.)

pub mod abi;
pub mod calls;
pub mod hashing;
pub mod rules;

#[cfg(test)]
mod tests;
