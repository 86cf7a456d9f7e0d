//! The exported C ABI: `alloc`, `dealloc`, and one function per call of [`crate::calls`].
//!
//! The only module of the workspace allowed `unsafe` code (see ARCHITECTURE.md): exporting
//! unmangled symbols and reading the caller's buffers through raw pointers can't be done without
//! it. Each unsafe block is one operation with its justification; everything else is in safe
//! code.
#![allow(unsafe_code)]

use crate::calls;

/// Reserve `len` bytes (zeroed) for the caller to write an input into. Free with `dealloc`.
#[unsafe(no_mangle)]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    leak(vec![0; len])
}

/// Free `len` bytes at `ptr`: an `alloc(len)`, or a result with `len` = 4 + its length. A null
/// `ptr` does nothing.
///
/// # Safety
///
/// `ptr` and `len` must be exactly what `alloc` returned and was given, or a result pointer of
/// this module and its whole size, not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    if ptr.is_null() {
        return;
    }
    let whole = std::ptr::slice_from_raw_parts_mut(ptr, len);
    // SAFETY: by this function's contract `whole` is a `Box<[u8]>` of `len` bytes that `leak`
    // turned into a raw pointer and nothing has freed since.
    drop(unsafe { Box::from_raw(whole) });
}

/// A buffer handed to the caller: ownership moves to it until `dealloc`.
fn leak(bytes: Vec<u8>) -> *mut u8 {
    Box::into_raw(bytes.into_boxed_slice()).cast::<u8>()
}

/// The result of a call as the caller reads it: `u32` little-endian length, then the JSON.
fn result(json: String) -> *mut u8 {
    let (len, json) = match u32::try_from(json.len()) {
        Ok(len) => (len, json),
        // Only reachable on a 64-bit host: wasm32 strings are shorter than 4 GiB.
        Err(_) => {
            let short = calls::too_large_result();
            (u32::try_from(short.len()).unwrap_or(0), short)
        }
    };
    let mut out = Vec::with_capacity(4 + json.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(json.as_bytes());
    leak(out)
}

/// Run `call` on the caller's input.
///
/// # Safety
///
/// Unless `ptr` is null or `len` is 0, `ptr` must point to `len` initialized bytes that stay
/// unchanged for the call.
unsafe fn run(call: fn(&str) -> String, ptr: *const u8, len: usize) -> *mut u8 {
    let input: &[u8] = if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: by this function's contract `ptr` points to `len` readable, initialized bytes
        // that nothing changes while the call runs (wasm32 pages are single-threaded).
        unsafe { std::slice::from_raw_parts(ptr, len) }
    };
    result(calls::run_bytes(call, input))
}

/// One exported function per call, all with the same signature and contract.
macro_rules! exports {
    ($($name:ident),* $(,)?) => {
        /// The names of the calls this module exports (beside `alloc`, `dealloc` and `memory`).
        pub const CALLS: &[&str] = &[$(stringify!($name)),*];

        $(
            #[doc = concat!("Export of [`calls::", stringify!($name), "`]: JSON in at `ptr`/`len`, ")]
            #[doc = "a length-prefixed JSON result out (free it with `dealloc`)."]
            ///
            /// # Safety
            ///
            /// Unless `ptr` is null or `len` is 0, `ptr` must point to `len` initialized bytes
            /// that stay unchanged for the call.
            #[unsafe(no_mangle)]
            pub unsafe extern "C" fn $name(ptr: *const u8, len: usize) -> *mut u8 {
                // SAFETY: the same contract as `run`'s, passed on unchanged.
                unsafe { run(calls::$name, ptr, len) }
            }
        )*
    };
}

exports!(
    protocol_info,
    check_client,
    decode_server,
    decode_peer,
    encode_peer,
    validate_input,
    check_file_name,
    check_chat_text,
    chat_recipients,
    parse_short_code,
    check_command,
    startable_activities,
);

/// The raw (JSON-free) exports of incremental SHA-256, see [`crate::hashing`].
pub const HASH_CALLS: &[&str] = &["sha256_begin", "sha256_update", "sha256_finish"];

/// Open an incremental SHA-256; its handle, or 0 when too many are open.
#[unsafe(no_mangle)]
pub extern "C" fn sha256_begin() -> u32 {
    crate::hashing::begin()
}

/// Feed the `len` bytes at `ptr` (memory the caller `alloc`ed) to hash `handle`: 1, or 0 when
/// no such hash is open.
///
/// # Safety
///
/// Unless `ptr` is null or `len` is 0, `ptr` must point to `len` initialized bytes that stay
/// unchanged for the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sha256_update(handle: u32, ptr: *const u8, len: usize) -> u32 {
    let bytes: &[u8] = if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: by this function's contract `ptr` points to `len` readable, initialized bytes
        // that nothing changes while the call runs.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    };
    u32::from(crate::hashing::update(handle, bytes))
}

/// Close hash `handle`: a length-prefixed JSON answer as every call's, `{"ok": "hex digest"}`
/// or an error (free it with `dealloc`).
#[unsafe(no_mangle)]
pub extern "C" fn sha256_finish(handle: u32) -> *mut u8 {
    result(crate::hashing::finish_answer(handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Export = unsafe extern "C" fn(*const u8, usize) -> *mut u8;
    type Call = fn(&str) -> String;

    /// Call an export as a page does: copy the input into `alloc`ed memory, call, free the
    /// input, read the answer.
    fn through_abi(export: Export, input: &[u8]) -> String {
        let ptr = alloc(input.len());
        // SAFETY: `alloc` returned `input.len()` writable bytes, distinct from `input`.
        unsafe { std::ptr::copy_nonoverlapping(input.as_ptr(), ptr, input.len()) };
        // SAFETY: `ptr` holds `input.len()` initialized bytes nothing else touches.
        let out = unsafe { export(ptr, input.len()) };
        // SAFETY: `ptr` and its length are what `alloc` returned and was given.
        unsafe { dealloc(ptr, input.len()) };
        read_answer(out)
    }

    /// Read a length-prefixed answer and free it.
    fn read_answer(out: *mut u8) -> String {
        let mut prefix = [0u8; 4];
        // SAFETY: every answer starts with its 4-byte length.
        unsafe { std::ptr::copy_nonoverlapping(out, prefix.as_mut_ptr(), 4) };
        let len = usize::try_from(u32::from_le_bytes(prefix)).unwrap_or(0);
        let mut json = vec![0u8; len];
        // SAFETY: the `len` bytes of JSON follow the prefix in the same buffer.
        unsafe { std::ptr::copy_nonoverlapping(out.wrapping_add(4), json.as_mut_ptr(), len) };
        // SAFETY: `out` is an answer of `len` bytes after its prefix, freed once.
        unsafe { dealloc(out, 4 + len) };
        String::from_utf8(json).unwrap_or_default()
    }

    #[test]
    fn every_export_answers_through_memory_as_its_call_does() {
        let exports: [(Export, Call, &str); 12] = [
            (protocol_info, calls::protocol_info, "null"),
            (
                check_client,
                calls::check_client,
                r#"{"type":"ping","id":7}"#,
            ),
            (
                decode_server,
                calls::decode_server,
                r#"{"type":"pong","id":7}"#,
            ),
            (
                decode_peer,
                calls::decode_peer,
                r#"{"me":1,"text":"{\"type\":\"audio_invite\"}"}"#,
            ),
            (
                encode_peer,
                calls::encode_peer,
                r#"{"type":"file_download","id":3}"#,
            ),
            (
                validate_input,
                calls::validate_input,
                r#"{"type":"key_up","code":"Enter"}"#,
            ),
            (
                check_file_name,
                calls::check_file_name,
                r#""ünïcode name.txt""#,
            ),
            (check_chat_text, calls::check_chat_text, r#"" hi ""#),
            (
                chat_recipients,
                calls::chat_recipients,
                r#"{"present":[1,2],"me":2}"#,
            ),
            (parse_short_code, calls::parse_short_code, r#""1000 00000""#),
            (check_command, calls::check_command, "{}"),
            (startable_activities, calls::startable_activities, "[]"),
        ];
        assert_eq!(exports.len(), CALLS.len());
        for (export, call, input) in exports {
            let direct = call(input);
            assert!(
                direct.starts_with(r#"{"ok":"#) || direct.contains(r#""code":"bad_input""#),
                "{direct}"
            );
            assert_eq!(through_abi(export, input.as_bytes()), direct, "{input}");
            // Empty input and a null pointer are empty input (an error, but for `protocol_info`,
            // which takes any); bytes that are not UTF-8 are an error. Never a crash.
            let empty = through_abi(export, b"");
            assert_eq!(empty, call(""));
            // SAFETY: a null pointer with any length is read as empty input.
            let null = read_answer(unsafe { export(std::ptr::null(), 5) });
            assert_eq!(null, empty);
            let answer = through_abi(export, b"\xff\xfe");
            assert!(answer.contains(r#""code":"not_utf8""#), "{answer}");
        }
        // alloc(0) and dealloc of it, and of null, are fine.
        let empty = alloc(0);
        assert!(!empty.is_null());
        // SAFETY: what `alloc(0)` returned, with its length.
        unsafe { dealloc(empty, 0) };
        // SAFETY: a null pointer is ignored.
        unsafe { dealloc(std::ptr::null_mut(), 10) };
    }

    #[test]
    fn sha256_exports_hash_through_memory() {
        let handle = sha256_begin();
        assert_ne!(handle, 0);
        for piece in [&b"a"[..], b"", b"bc"] {
            let ptr = alloc(piece.len());
            // SAFETY: `alloc` returned `piece.len()` writable bytes, distinct from `piece`.
            unsafe { std::ptr::copy_nonoverlapping(piece.as_ptr(), ptr, piece.len()) };
            // SAFETY: `ptr` holds `piece.len()` initialized bytes nothing else touches.
            assert_eq!(unsafe { sha256_update(handle, ptr, piece.len()) }, 1);
            // SAFETY: `ptr` and its length are what `alloc` returned and was given.
            unsafe { dealloc(ptr, piece.len()) };
        }
        // SAFETY: a null pointer is empty input.
        assert_eq!(unsafe { sha256_update(handle, std::ptr::null(), 3) }, 1);
        assert_eq!(
            read_answer(sha256_finish(handle)),
            r#"{"ok":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#
        );
        // SAFETY: a null pointer is empty input.
        assert_eq!(unsafe { sha256_update(handle, std::ptr::null(), 0) }, 0);
        assert!(read_answer(sha256_finish(handle)).contains("bad_input"));
        assert_eq!(HASH_CALLS.len(), 3);
    }
}
