//! The console's advanced file transfer in a real browser against the native customer helper:
//! the admin allows advanced transfer, the console sends a file of known bytes through its
//! file panel, the helper asks for the `file_transfer` consent and then for the file (both
//! answered `y`), the file arrives in the helper's `--folder` with the same bytes, and the
//! console shows the transfer done. It needs the test command's X display (the helper opens
//! it) but draws nothing, so it can run beside the other browser tests.

use crate::common::*;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tether_tests::temp_dir;

/// The name and size of the file sent.
const FILE_NAME: &str = "known-bytes.bin";
const FILE_SIZE: usize = 200 * 1024 + 77;

/// Bytes that are not all alike, so a misplaced chunk shows.
fn known_bytes() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..FILE_SIZE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn console_sends_a_file_to_the_native_helper() {
    require_display();
    let helper = helper_binary();
    // A larger stack, as in the other browser tests: the service's futures nest deeply.
    crate::common::run("console-files", move || scenario(helper));
}

async fn scenario(helper_bin: PathBuf) {
    let started = Instant::now();
    let dir = temp_dir("browser-console-files");
    let folder = dir.join("received");
    std::fs::create_dir_all(&folder).expect("the helper's folder");
    let source = dir.join(FILE_NAME);
    let bytes = known_bytes();
    std::fs::write(&source, &bytes).expect("write the file to send");

    // A service serving web/; the admin's password changed and advanced transfer allowed
    // through the API, before the console loads its settings.
    let settings = json!({
        "file_transfer": "advanced",
        "recording_allowed": false,
        "session_types": [{ "name": "General", "requires_tracking_code": false }],
    });
    let (service, _admin) = web_service(dir.join("t.db"), settings).await;
    let (browser, code) = console_invites_by_code(&service.url, (1280, 1100)).await;

    // The helper joins with its folder; the console connects to it directly.
    let mut cleo = Helper::start(
        &helper_bin,
        &service.url,
        &code,
        "Cleo",
        &["--folder", folder.to_str().expect("a UTF-8 folder")],
    );
    cleo.expect("Joined the support session as Cleo").await;
    shows(&browser, "#people", "connected").await;

    // The file panel: the path goes into the file input; the helper asks for consent, then
    // for the file itself.
    shows(&browser, "#files", "Send a file to the customer").await;
    type_into(&browser, "#file-input", &source.to_string_lossy()).await;
    cleo.expect("asks to transfer files").await;
    cleo.type_line("y").await;
    let asked = cleo.expect("wants to send you the file").await;
    assert!(
        asked.contains(FILE_NAME) && asked.contains(&FILE_SIZE.to_string()),
        "the prompt names the file and its size: {asked}"
    );
    cleo.type_line("y").await;
    cleo.expect(&format!("File transfer of {FILE_NAME:?} done."))
        .await;
    shows(&browser, "#file-list", "done").await;

    let received = std::fs::read(folder.join(FILE_NAME)).expect("the file in the helper's folder");
    assert_eq!(received.len(), bytes.len(), "the received file's size");
    assert!(
        received == bytes,
        "the received file's bytes differ from those sent"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&folder)
        .expect("read the folder")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        1,
        "only the file is in the folder: {leftovers:?}"
    );

    let _ = browser.screenshot("console-file-sent").await;
    drop(browser);
    drop(cleo);
    service.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the scenario took {:?}",
        started.elapsed()
    );
}
