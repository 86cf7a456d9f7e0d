//! Incremental SHA-256 for the pages' file transfers: a page opens a hash, feeds it the file's
//! bytes slice by slice while it reads or receives them, and takes the hex digest at the end, so
//! a file of any size is hashed without holding it whole in memory (protocol 9.2, "File
//! transfer": every transfer carries and checks the SHA-256 of the whole file).
//!
//! Open hashes live in a table behind small integer handles (never 0); a page that forgets to
//! finish one costs a few hundred bytes, and at most [`MAX_OPEN`] are open at once.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The most hashes open at once: more means a page leaks them.
pub const MAX_OPEN: usize = 1024;

struct Table {
    next: u32,
    open: BTreeMap<u32, Sha256>,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    next: 1,
    open: BTreeMap::new(),
});

fn with_table<T>(f: impl FnOnce(&mut Table) -> T) -> T {
    // A poisoned lock can only follow a panic, which aborts the wasm build; natively the table
    // is still consistent (every change is one map operation), so go on with it.
    let mut table = TABLE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut table)
}

/// Open a hash; its handle, or 0 when [`MAX_OPEN`] are already open.
pub fn begin() -> u32 {
    with_table(|t| {
        if t.open.len() >= MAX_OPEN {
            return 0;
        }
        let mut handle = t.next;
        while handle == 0 || t.open.contains_key(&handle) {
            handle = handle.wrapping_add(1);
        }
        t.next = handle.wrapping_add(1);
        t.open.insert(handle, Sha256::new());
        handle
    })
}

/// Feed `bytes` to hash `handle`; false when no such hash is open.
pub fn update(handle: u32, bytes: &[u8]) -> bool {
    with_table(|t| match t.open.get_mut(&handle) {
        Some(hasher) => {
            hasher.update(bytes);
            true
        }
        None => false,
    })
}

/// Close hash `handle`: the lower-case hex SHA-256 of everything fed to it, or None when no
/// such hash is open.
pub fn finish(handle: u32) -> Option<String> {
    let hasher = with_table(|t| t.open.remove(&handle))?;
    Some(
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The answer of the `sha256_finish` export: `{"ok": "hex"}` or an error in words.
pub fn finish_answer(handle: u32) -> String {
    match finish(handle) {
        Some(hex) => format!(r#"{{"ok":"{hex}"}}"#),
        None => {
            format!(r#"{{"error":"there is no open SHA-256 hash {handle}","code":"bad_input"}}"#)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn hashes_in_slices_as_in_one_piece() {
        let h = begin();
        assert_ne!(h, 0);
        assert_eq!(finish(h).as_deref(), Some(EMPTY));
        let h = begin();
        assert!(update(h, b"a"));
        assert!(update(h, b""));
        assert!(update(h, b"bc"));
        assert_eq!(finish(h).as_deref(), Some(ABC));
        // Two hashes at once do not mix.
        let (x, y) = (begin(), begin());
        assert_ne!(x, y);
        assert!(update(x, b"abc"));
        assert!(update(y, b"ab"));
        assert_eq!(finish(y).map(|d| d.len()), Some(64));
        assert_eq!(finish_answer(x), format!(r#"{{"ok":"{ABC}"}}"#));
    }

    #[test]
    fn unknown_handles_are_refused() {
        assert!(!update(0, b"x"));
        assert_eq!(finish(0), None);
        let h = begin();
        assert!(finish(h).is_some());
        assert!(!update(h, b"x"), "a finished hash is closed");
        assert!(finish_answer(h).contains(r#""code":"bad_input""#));
    }
}
