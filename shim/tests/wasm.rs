//! The committed module `web/wasm/tether_protocol.wasm` is a fresh build of `shim/` (so the pages
//! run exactly this source of the protocol crate), imports nothing, exports the ABI, and carries
//! no path of the machine that built it.
#![allow(clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;

const COMMITTED: &str = "web/wasm/tether_protocol.wasm";
const REFRESH: &str = "run scripts/build-wasm.sh and commit web/wasm/tether_protocol.wasm";

/// The calls the module exports besides `alloc`, `dealloc` and `memory` (the shim's
/// `abi::CALLS`, which this test can't link: the crate is only a cdylib).
const CALLS: [&str; 12] = [
    "protocol_info",
    "check_client",
    "decode_server",
    "decode_peer",
    "encode_peer",
    "validate_input",
    "check_file_name",
    "check_chat_text",
    "chat_recipients",
    "parse_short_code",
    "check_command",
    "startable_activities",
];

/// The raw (JSON-free) exports of incremental SHA-256 (the shim's `abi::HASH_CALLS`).
const HASH_CALLS: [&str; 3] = ["sha256_begin", "sha256_update", "sha256_finish"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| panic!("the shim lives in the workspace"))
        .to_owned()
}

fn committed() -> Vec<u8> {
    let path = workspace().join(COMMITTED);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; {REFRESH}", path.display()))
}

#[test]
fn the_committed_module_is_a_fresh_build() {
    // The build the script makes, in its own folder of this target directory (not the one
    // `cargo test` holds), so that after `scripts/build-wasm.sh` it is already up to date.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap_or(tmp);
    let out = tmp.join("tether_protocol.fresh.wasm");
    let status = Command::new("bash")
        .arg(workspace().join("scripts/build-wasm.sh"))
        .arg("--out")
        .arg(&out)
        .env("CARGO_TARGET_DIR", target)
        .status()
        .unwrap_or_else(|e| panic!("running scripts/build-wasm.sh: {e}"));
    assert!(
        status.success(),
        "scripts/build-wasm.sh failed (is the wasm32-unknown-unknown target installed? \
         `rustup target add wasm32-unknown-unknown`)"
    );
    let fresh = std::fs::read(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    let committed = committed();
    assert!(
        fresh == committed,
        "{COMMITTED} ({} bytes) is not a fresh build of shim/ ({} bytes): {REFRESH}",
        committed.len(),
        fresh.len()
    );
}

/// A LEB128 unsigned number at `*at`.
fn leb(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0;
    for shift in (0..64).step_by(7) {
        let byte = *bytes
            .get(*at)
            .unwrap_or_else(|| panic!("truncated module at byte {at}; {REFRESH}"));
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
    }
    panic!("LEB128 number too long at {at}");
}

fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or_else(|e| panic!("{e}"))
}

/// The sections of a wasm module: (id, contents).
fn sections(module: &[u8]) -> Vec<(u8, &[u8])> {
    assert_eq!(
        module.get(..8),
        Some(&b"\0asm\x01\0\0\0"[..]),
        "not a wasm module"
    );
    let mut at = 8;
    let mut out = Vec::new();
    while at < module.len() {
        let id = module[at];
        at += 1;
        let size = usize_of(leb(module, &mut at));
        let contents = module
            .get(at..at + size)
            .unwrap_or_else(|| panic!("section {id} overruns the module; {REFRESH}"));
        out.push((id, contents));
        at += size;
    }
    assert_eq!(at, module.len(), "sections overrun the module");
    out
}

/// The names and kinds (0 function, 2 memory...) of the export section.
fn exports(section: &[u8]) -> Vec<(String, u8)> {
    let mut at = 0;
    let count = leb(section, &mut at);
    (0..count)
        .map(|_| {
            let len = usize_of(leb(section, &mut at));
            let name =
                String::from_utf8(section[at..at + len].to_vec()).unwrap_or_else(|e| panic!("{e}"));
            at += len;
            let kind = section[at];
            at += 1;
            leb(section, &mut at);
            (name, kind)
        })
        .collect()
}

#[test]
fn the_module_imports_nothing_and_exports_the_abi() {
    let module = committed();
    let sections = sections(&module);
    const IMPORT: u8 = 2;
    const EXPORT: u8 = 7;
    assert!(
        sections.iter().all(|(id, _)| *id != IMPORT),
        "the module imports from its host; it must be self-contained"
    );
    let export = sections
        .iter()
        .find(|(id, _)| *id == EXPORT)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("no export section"));
    let mut got = exports(export);
    got.sort();
    let mut want: Vec<(String, u8)> = CALLS
        .iter()
        .chain(&HASH_CALLS)
        .chain(&["alloc", "dealloc"])
        .map(|name| ((*name).to_owned(), 0))
        .chain([("memory".to_owned(), 2)])
        // Globals the linker exports from every Rust cdylib (where static data ends).
        .chain(["__data_end", "__heap_base"].map(|g| (g.to_owned(), 3)))
        .collect();
    want.sort();
    assert_eq!(got, want, "{REFRESH}");
}

#[test]
fn the_module_carries_no_path_of_this_machine() {
    let module = committed();
    let contains = |needle: &str| module.windows(needle.len()).any(|w| w == needle.as_bytes());
    let mut paths = vec![workspace().display().to_string()];
    paths.extend(
        ["HOME", "CARGO_HOME", "RUSTUP_HOME"]
            .iter()
            .filter_map(|v| std::env::var(v).ok()),
    );
    for path in paths.iter().filter(|p| p.len() > 1) {
        assert!(!contains(path), "{COMMITTED} contains the path {path}");
    }
    for prefix in ["/home/", "/root/", "/Users/", "/tmp/", "C:\\"] {
        assert!(!contains(prefix), "{COMMITTED} contains {prefix}");
    }
}

#[test]
fn the_javascript_wraps_every_call() {
    let path = workspace().join("web/js/protocol.js");
    let js = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for call in CALLS.iter().chain(&HASH_CALLS) {
        assert!(
            js.contains(&format!("\"{call}\"")),
            "web/js/protocol.js doesn't wrap {call}"
        );
    }
}
