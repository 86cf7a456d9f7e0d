//! File transfer between the console and the browser customer's join page, both in real
//! Chromium, and the console fetching from the native helper. The admin allows advanced
//! transfer; the console publishes a file and the browser customer downloads it (basic), sends
//! one the customer approves (after the `file_transfer` consent) and one the customer refuses
//! (nothing is saved), and fetches one the customer picks with the page's file input; "End file
//! transfer" withdraws the published list. Every received file is saved through the page's
//! "Save" link into the browser's download folder and compared byte for byte. Against the
//! helper, the console also sends a file larger than 64 MiB (hashed while read in slices).

use crate::common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tether_signaling::Service;
use tether_tests::browser::Browser;
use tether_tests::{ADMIN_PASSWORD, http, login_with, temp_dir};

/// `size` bytes that are not all alike (seeded), so a misplaced chunk shows.
fn known_bytes(size: usize, seed: u32) -> Vec<u8> {
    let mut x: u32 = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// A service serving `web/` with advanced file transfer allowed, and the console signed in
/// with a session started and a customer invited: the browser and the invitation's code.
async fn console_with_invitation(dir: &Path) -> (Service, Browser, String) {
    let settings = json!({
        "file_transfer": "advanced",
        "recording_allowed": false,
        "session_types": [{ "name": "General", "requires_tracking_code": false }],
    });
    let (service, _admin) = web_service(dir.join("t.db"), settings).await;
    let (browser, code) = console_invites_by_code(&service.url, (1280, 1200)).await;
    (service, browser, code)
}

/// The file `name` once the browser has finished saving it into `dir` (no `.crdownload` left).
async fn downloaded(browser: &Browser, dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    let deadline = Instant::now() + WAIT;
    loop {
        let partial = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
            })
            .unwrap_or(false);
        if path.is_file() && !partial {
            return std::fs::read(&path).expect("read the downloaded file");
        }
        if Instant::now() > deadline {
            let listed: Vec<_> = std::fs::read_dir(dir)
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            let failed: Result<(), String> = Err(format!(
                "{name} was not saved into the download folder within {WAIT:?}; it holds {listed:?}"
            ));
            check(browser, "download", failed).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until the state of the first (newest) row matching `rows` says one of `words`.
async fn newest_row_says(browser: &Browser, rows: &str, words: &[&str]) {
    let script = "const r = document.querySelector(arguments[0]); \
                  return r ? r.querySelector('.file-state').textContent : '';";
    let deadline = Instant::now() + WAIT;
    loop {
        let text = browser.execute(script, json!([rows])).await;
        let text = check(browser, "newest row", text).await;
        let text = text.as_str().unwrap_or_default().to_owned();
        if words.iter().any(|w| text.contains(w)) {
            return;
        }
        if Instant::now() > deadline {
            let late: Result<(), String> = Err(format!("{rows} says {text:?}, not {words:?}"));
            check(browser, "newest row", late).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The (name, direction, outcome) of every `file_transfer_recorded` of the only session.
async fn recorded_transfers(service: &Service) -> Vec<(String, &'static str, &'static str)> {
    let token = login_with(service.addr, "admin", ADMIN_PASSWORD).await;
    let (status, list) = http(service.addr, "GET", "/api/v1/sessions", Some(&token), None).await;
    assert_eq!(status, 200, "sessions: {list}");
    let id = list["sessions"][0]["id"].as_str().expect("a session id");
    let path = format!("/api/v1/sessions/{id}");
    let (status, record) = http(service.addr, "GET", &path, Some(&token), None).await;
    assert_eq!(status, 200, "record: {record}");
    let known = |v: &serde_json::Value, words: &[&'static str]| -> &'static str {
        words.iter().find(|w| v == **w).copied().unwrap_or("?")
    };
    record["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["type"] == "file_transfer_recorded")
        .map(|e| {
            let t = &e["transfer"];
            let completed = t["outcome"] == "completed";
            assert_eq!(
                t["sha256"].as_str().map(str::len),
                Some(if completed { 64 } else { 0 }),
                "the hash of {t}"
            );
            (
                t["name"].as_str().unwrap_or_default().to_owned(),
                known(
                    &t["direction"],
                    &["published", "to_customer", "from_customer"],
                ),
                known(
                    &t["outcome"],
                    &["completed", "refused", "failed", "cancelled"],
                ),
            )
        })
        .collect()
}

fn same(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: the size");
    assert!(got == want, "{what}: the bytes differ from those sent");
}

#[test]
fn console_and_browser_customer_publish_send_refuse_and_fetch() {
    crate::common::run("join-files", browser_customer);
}

async fn browser_customer() {
    let started = Instant::now();
    let dir = temp_dir("browser-join-files");
    let (console_saves, customer_saves) = (dir.join("console-saves"), dir.join("customer-saves"));
    for d in [&console_saves, &customer_saves] {
        std::fs::create_dir_all(d).expect("download folder");
    }
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("manual.pdf", known_bytes(300 * 1024 + 5, 11)),
        ("driver-5.1.zip", known_bytes(1024 * 1024 + 333, 22)),
        ("unwanted.exe", known_bytes(4096, 33)),
        ("printer log.txt", known_bytes(150 * 1024 + 1, 44)),
    ];
    let source = |name: &str| -> PathBuf { dir.join("sources").join(name) };
    std::fs::create_dir_all(dir.join("sources")).expect("sources");
    for (name, bytes) in &files {
        std::fs::write(source(name), bytes).expect("write a source file");
    }

    let (service, console, code) = console_with_invitation(&dir).await;
    check(
        &console,
        "console downloads",
        console.download_to(&console_saves).await,
    )
    .await;

    // The customer joins from a second browser.
    let customer = Browser::start().await.expect("customer browser starts");
    check(&customer, "resize", customer.resize(1100, 1100).await).await;
    check(
        &customer,
        "customer downloads",
        customer.download_to(&customer_saves).await,
    )
    .await;
    let join = format!("{}/join.html", service.url);
    check(&customer, "open join page", customer.goto(&join).await).await;
    type_into(&customer, "#code", &code).await;
    type_into(&customer, "#name", "Dora Lima").await;
    click(&customer, "#join-button").await;
    shows(&customer, "#roster", "Dora Lima (you)").await;
    shows(&console, "#people", "Dora Lima").await;
    shows(&console, "#people", "connected").await;

    // Basic: the console publishes; the customer downloads the file it chooses.
    shows(&console, "#files", "Publish a file").await;
    let (manual, manual_bytes) = (&files[0].0, &files[0].1);
    type_into(
        &console,
        "#publish-input",
        &source(manual).to_string_lossy(),
    )
    .await;
    shows(&console, "#published-list", manual).await;
    shows(&customer, "#published-files", manual).await;
    let _ = customer.screenshot("join-files-published").await;
    click(&customer, "#published-files button[data-download]").await;
    shows(&customer, "#file-transfers", "SHA-256 checked").await;
    click(
        &customer,
        &format!("#file-transfers a.file-save[download=\"{manual}\"]"),
    )
    .await;
    same(
        "the published file",
        &downloaded(&customer, &customer_saves, manual).await,
        manual_bytes,
    );
    shows(&console, "#file-list", "downloaded by Dora Lima").await;
    shows(&console, "#file-list", "done").await;

    // Advanced send: the customer allows file transfer, then approves the file, seeing its name
    // and size.
    let (driver, driver_bytes) = (&files[1].0, &files[1].1);
    type_into(&console, "#file-input", &source(driver).to_string_lossy()).await;
    shows(&customer, "#consent-prompts", "send files to your computer").await;
    click(&customer, "#consent-prompts button[data-answer=allow]").await;
    shows(&customer, "#file-prompts", driver).await;
    shows(
        &customer,
        "#file-prompts",
        "wants to send a file to your computer",
    )
    .await;
    shows(&customer, "#file-prompts", "1.0 MiB").await;
    let _ = customer.screenshot("join-files-approve").await;
    click(&customer, "#file-prompts button[data-answer=accept]").await;
    let link = format!("#file-transfers a.file-save[download=\"{driver}\"]");
    check(
        &customer,
        "save link",
        customer.wait_visible(&link, WAIT).await,
    )
    .await;
    click(&customer, &link).await;
    same(
        "the sent file",
        &downloaded(&customer, &customer_saves, driver).await,
        driver_bytes,
    );
    shows(
        &console,
        "#file-list",
        "the customer's computer checked the SHA-256",
    )
    .await;

    // A refusal changes nothing: the console says so, nothing is saved.
    let unwanted = &files[2].0;
    type_into(&console, "#file-input", &source(unwanted).to_string_lossy()).await;
    shows(&customer, "#file-prompts", unwanted).await;
    click(&customer, "#file-prompts button[data-answer=refuse]").await;
    shows(&console, "#file-list", "refused").await;
    shows(&console, "#file-list", "declined").await;
    shows(&customer, "#file-transfers", "refused").await;
    let saves = customer
        .execute(
            "return [...document.querySelectorAll('a.file-save')].map(a => a.download);",
            json!([]),
        )
        .await
        .expect("save links");
    assert_eq!(
        saves,
        json!([driver, manual]),
        "no save link for a refused file"
    );

    // Advanced fetch: the customer picks the file with the page's file input.
    let (log, log_bytes) = (&files[3].0, &files[3].1);
    type_into(&console, "#fetch-name", log).await;
    click(&console, "#fetch-button").await;
    shows(
        &customer,
        "#file-prompts",
        "asks for a file from your computer",
    )
    .await;
    let _ = customer.screenshot("join-files-fetch-asked").await;
    type_into(
        &customer,
        "#file-prompts input[type=file]",
        &source(log).to_string_lossy(),
    )
    .await;
    let link = format!("#file-list a.file-save[download=\"{log}\"]");
    check(
        &console,
        "console save link",
        console.wait_visible(&link, WAIT).await,
    )
    .await;
    shows(&customer, "#file-transfers", "checked the SHA-256").await;
    let scroll = "document.getElementById('file-list').scrollIntoView({block: 'center'});";
    let _ = console.execute(scroll, json!([])).await;
    let _ = console.screenshot("join-files-console").await;
    click(&console, &link).await;
    same(
        "the fetched file",
        &downloaded(&console, &console_saves, log).await,
        log_bytes,
    );

    // Revoking the consent while an offer waits: the offer is refused at once (by the page
    // itself, or by the console seeing the service stop the activity, whichever comes first).
    type_into(&console, "#file-input", &source(unwanted).to_string_lossy()).await;
    shows(&customer, "#file-prompts", unwanted).await;
    click(&customer, "#granted-list button[data-revoke=file_transfer]").await;
    newest_row_says(&customer, "#file-transfers li", &["revoked", "ended"]).await;
    newest_row_says(&console, "#file-list li", &["refused", "cancelled"]).await;
    let prompts = customer.text_of("#file-prompts").await.expect("prompts");
    assert!(prompts.is_empty(), "a prompt is left: {prompts}");

    // End file transfer: the activities stop and the published list is withdrawn.
    click(&console, "#files-end").await;
    let gone = customer
        .execute(
            "return document.getElementById('published-box').hidden;",
            json!([]),
        )
        .await;
    let deadline = Instant::now() + WAIT;
    let mut hidden = gone.map(|v| v == true).unwrap_or(false);
    while !hidden && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        hidden = customer
            .execute(
                "return document.getElementById('published-box').hidden;",
                json!([]),
            )
            .await
            .map(|v| v == true)
            .unwrap_or(false);
    }
    assert!(
        hidden,
        "the customer still lists published files after the end"
    );
    let _ = customer.screenshot("join-files-customer").await;

    // Only the files saved on purpose are in the folders.
    let mut saved: Vec<String> = std::fs::read_dir(&customer_saves)
        .expect("customer folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    saved.sort();
    assert_eq!(saved, vec![driver.to_string(), manual.to_string()]);

    // The console reported every transfer to the session record.
    let recorded = recorded_transfers(&service).await;
    for want in [
        (manual.to_string(), "published", "completed"),
        (driver.to_string(), "to_customer", "completed"),
        (unwanted.to_string(), "to_customer", "refused"),
        (log.to_string(), "from_customer", "completed"),
    ] {
        assert!(
            recorded.contains(&want),
            "{want:?} is not in the record: {recorded:?}"
        );
    }

    drop(customer);
    drop(console);
    service.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        started.elapsed() < Duration::from_secs(150),
        "the scenario took {:?}",
        started.elapsed()
    );
}

#[test]
fn console_fetches_from_the_native_helper_and_sends_it_over_64_mib() {
    require_display();
    let helper = helper_binary();
    crate::common::run("join-files-helper", move || native_helper(helper));
}

async fn native_helper(helper_bin: PathBuf) {
    const NAME: &str = "system.log";
    let dir = temp_dir("browser-fetch-helper");
    let (folder, saves) = (dir.join("shared"), dir.join("console-saves"));
    for d in [&folder, &saves] {
        std::fs::create_dir_all(d).expect("folder");
    }
    // Over 16 MiB: the console gathers what it receives into more than one Blob.
    let bytes = known_bytes(20 * 1024 * 1024 + 3, 55);
    std::fs::write(folder.join(NAME), &bytes).expect("the file to fetch");

    let (service, console, code) = console_with_invitation(&dir).await;
    check(
        &console,
        "console downloads",
        console.download_to(&saves).await,
    )
    .await;
    let folder_arg = folder.to_str().expect("a UTF-8 folder");
    let mut eva = Helper::start(
        &helper_bin,
        &service.url,
        &code,
        "Eva",
        &["--folder", folder_arg],
    );
    eva.expect("Joined the support session as Eva").await;
    shows(&console, "#people", "connected").await;

    // A name the protocol refuses is refused in words before anything is asked.
    type_into(&console, "#fetch-name", "../etc/passwd").await;
    click(&console, "#fetch-button").await;
    shows(&console, "#file-status", "path separators").await;
    console
        .execute(
            "document.getElementById('fetch-name').value = '';",
            json!([]),
        )
        .await
        .expect("clear the name");

    type_into(&console, "#fetch-name", NAME).await;
    click(&console, "#fetch-button").await;
    eva.expect("asks to transfer files").await;
    eva.type_line("y").await;
    let asked = eva.expect("wants to copy from your folder the file").await;
    assert!(asked.contains(NAME), "the prompt names the file: {asked}");
    eva.type_line("y").await;
    let link = format!("#file-list a.file-save[download=\"{NAME}\"]");
    check(
        &console,
        "console save link",
        console.wait_visible(&link, WAIT).await,
    )
    .await;
    click(&console, &link).await;
    same(
        "the file fetched from the helper",
        &downloaded(&console, &saves, NAME).await,
        &bytes,
    );
    let scroll = "document.getElementById('file-list').scrollIntoView({block: 'center'});";
    let _ = console.execute(scroll, json!([])).await;
    let _ = console.screenshot("console-fetched-from-helper").await;

    // A file over the console's former 64 MiB limit: hashed and sent slice by slice.
    const BIG: &str = "disk-image.bin";
    let big = known_bytes(65 * 1024 * 1024 + 7, 66);
    let big_source = dir.join(BIG);
    std::fs::write(&big_source, &big).expect("the large file");
    type_into(&console, "#file-input", &big_source.to_string_lossy()).await;
    let asked = eva.expect("wants to send you the file").await;
    assert!(asked.contains(BIG), "the prompt names the file: {asked}");
    eva.type_line("y").await;
    eva.expect(&format!("File transfer of {BIG:?} done.")).await;
    let received = std::fs::read(folder.join(BIG)).expect("the large file in the helper's folder");
    same("the large file", &received, &big);
    shows(
        &console,
        "#file-list",
        "the customer's computer checked the SHA-256",
    )
    .await;

    drop(console);
    drop(eva);
    service.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
