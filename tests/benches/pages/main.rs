//! Benchmarks of the browser pages beside a native peer, in one run:
//!
//! 1. Consent to first frame: the native helper (a customer sharing its X display) answers `y`
//!    to "see your screen"; the time until the first picture of it is shown in the CSR
//!    console's `<video>` (headless Chromium, `requestVideoFrameCallback`), and beside it until
//!    the first decoded `Picture` of a native CSR engine (`EngineEvent::Screen`). Trials
//!    alternate between the two; each trial revokes the consent afterwards, so each asks anew.
//! 2. Data-channel throughput: one Chromium page sends on an ordered, reliable data channel to
//!    webrtc-rs (the library the engine wraps) in this process, and beside it to a second
//!    Chromium (its own browser process), over loopback. Rounds alternate between the two.
//!
//! `cargo bench -p tether-tests --bench pages` with an X display in `DISPLAY` and Chromium and
//! chromedriver on `PATH`. Env `PAGES_TRIALS` (consent trials per side, default 10),
//! `PAGES_ROUNDS` (throughput rounds per pair, default 5), `PAGES_BYTES` (bytes a round,
//! default 64 MiB; `K`/`M`/`G` suffixes), `PAGES_CHUNKS` (message sizes, default `1152,16384`:
//! the engine's and the console's file-transfer message, one SCTP chunk, and a common 16 KiB),
//! `PAGES_SKIP` (`frame` or `throughput` to skip that part), `PAGES_HELPER` (a helper binary to
//! use instead of building the release one).

#[path = "../../tests/browser/common.rs"]
#[allow(dead_code)]
mod common;
mod first_frame;
mod throughput;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

fn env_number(name: &str, default: u64) -> u64 {
    let Ok(v) = std::env::var(name) else {
        return default;
    };
    let v = v.trim().to_ascii_uppercase();
    let (num, mul) = match v.chars().last() {
        Some('K') => (&v[..v.len() - 1], 1u64 << 10),
        Some('M') => (&v[..v.len() - 1], 1 << 20),
        Some('G') => (&v[..v.len() - 1], 1 << 30),
        _ => (&v[..], 1),
    };
    num.parse::<u64>()
        .unwrap_or_else(|_| panic!("{name} is not a number: {v}"))
        * mul
}

/// Milliseconds since the Unix epoch, from the system's real-time clock: the clock the page's
/// `performance.timeOrigin + performance.now()` also reads.
pub fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// Nearest-rank percentile.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}

/// The release build of the helper (built here when absent or older than the bench), or the
/// binary `PAGES_HELPER` names.
pub fn release_helper() -> PathBuf {
    if let Some(path) = std::env::var_os("PAGES_HELPER") {
        return PathBuf::from(path);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(&cargo)
        .args([
            "build",
            "--release",
            "-p",
            "tether-engine",
            "--bin",
            "tether-helper",
            "--quiet",
        ])
        .current_dir(&workspace)
        .status()
        .expect("run cargo build for the helper");
    assert!(status.success(), "building tether-helper failed: {status}");
    let binary = target.join("release").join("tether-helper");
    assert!(binary.is_file(), "no helper at {}", binary.display());
    binary
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` and listing: nothing to run here
    }
    if std::env::var_os("DISPLAY").is_none() {
        eprintln!("no DISPLAY: the helper shares an X display and Chromium needs one; start Xvfb");
        std::process::exit(2);
    }
    let skip = std::env::var("PAGES_SKIP").unwrap_or_default();
    let trials = env_number("PAGES_TRIALS", 10) as usize;
    let rounds = env_number("PAGES_ROUNDS", 5) as usize;
    let bytes = env_number("PAGES_BYTES", 64 << 20);
    let chunks: Vec<usize> = std::env::var("PAGES_CHUNKS")
        .unwrap_or_else(|_| "1152,16384".into())
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .expect("PAGES_CHUNKS: message sizes in bytes")
        })
        .collect();
    println!(
        "# Browser pages beside native peers ({} logical CPUs)\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if !skip.contains("frame") {
        let helper = release_helper();
        common::run("first-frame", move || first_frame::run(helper, trials));
    }
    if !skip.contains("throughput") {
        common::run("throughput", move || throughput::run(rounds, bytes, chunks));
    }
}
