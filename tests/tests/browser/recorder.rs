//! The console's recorder panel in a real browser against the native customer helper: the admin
//! allows recording, the console views the helper's screen, starts recording (the helper asks
//! for the `recording` consent, answered `y`), pauses, resumes and stops; the file is uploaded
//! before the session ends, the record lists it, and the download (over REST) is a Matroska file
//! that `ffprobe` reads with a video stream of a plausible length. A second customer on the join
//! page sees the recording indicator; the history lists the recording too.

use crate::common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tether_engine::service::ServiceUrl;
use tether_tests::browser::{Browser, wait_for};
use tether_tests::{http, temp_dir};

/// How long the test records, pauses, and records again.
const FIRST: Duration = Duration::from_millis(2500);
const PAUSED: Duration = Duration::from_millis(2000);
const SECOND: Duration = Duration::from_millis(2000);

#[test]
fn console_records_the_native_helpers_screen() {
    require_display();
    if std::process::Command::new("ffprobe")
        .arg("-version")
        .output()
        .is_err()
    {
        panic!("no ffprobe: this test checks the recording with it (Debian package ffmpeg)");
    }
    let helper = helper_binary();
    crate::common::run("recorder", move || scenario(helper));
}

/// Open the remote-control menu and choose the item labelled `label`.
async fn remote_control(browser: &Browser, label: &str) {
    click(browser, "#rc-btn").await;
    let script = "const items = [...document.querySelectorAll('#rc-menu button')]; \
                  const i = items.findIndex((b) => b.querySelector('.mi-label').textContent === arguments[0]); \
                  return i < 0 || items[i].disabled ? null : i + 1;";
    let found = check(
        browser,
        label,
        browser.execute(script, json!([label])).await,
    )
    .await;
    let n = found
        .as_u64()
        .unwrap_or_else(|| panic!("the remote-control menu has no usable {label:?} item"));
    click(browser, &format!("#rc-menu button:nth-child({n})")).await;
}

/// Wait until the console's `<video>` shows a decoded picture.
async fn video_plays(browser: &Browser) {
    let script = "const v = document.getElementById('screen'); \
                  return !v.hidden && v.readyState >= 2 && v.videoWidth > 0;";
    let playing = wait_for(WAIT, || async {
        Ok(browser.execute(script, json!([])).await? == true)
    })
    .await;
    assert!(
        check(browser, "the video plays", playing).await,
        "the console's video showed no picture within {WAIT:?}"
    );
}

async fn screenshot(browser: &Browser, name: &str) {
    let shot = check(browser, name, browser.screenshot(name).await).await;
    assert!(shot.is_file(), "no screenshot at {}", shot.display());
}

/// Scroll the recorder panel into view (for the screenshots).
async fn show_recorder(browser: &Browser) {
    let script = "document.getElementById('recorder').scrollIntoView({ block: 'start' });";
    check(browser, "scroll", browser.execute(script, json!([])).await).await;
}

async fn scenario(helper_bin: PathBuf) {
    let started = Instant::now();
    let phase = |what: &str| eprintln!("recorder test: {what} at {:.1?}", started.elapsed());
    let dir = temp_dir("browser-recorder");

    // A service serving web/; the admin's password changed and recording allowed through the
    // API, before the console loads its settings.
    let settings = json!({
        "file_transfer": "basic",
        "recording_allowed": true,
        "session_types": [{ "name": "General", "requires_tracking_code": false }],
    });
    let (service, token) = web_service(dir.join("t.db"), settings).await;

    phase("sign in, start a session, invite");
    let (browser, code) = console_invites_by_code(&service.url, (1280, 1100)).await;
    let session_id = check(
        &browser,
        "session id",
        browser
            .execute(
                "return JSON.parse(sessionStorage.getItem('tether.console.session')).session.id;",
                json!([]),
            )
            .await,
    )
    .await;
    let session_id = session_id.as_str().expect("a session id").to_owned();

    phase("the helper joins; the console views its screen");
    let mut cleo = Helper::start(&helper_bin, &service.url, &code, "Cleo", &[]);
    cleo.expect("Joined the support session as Cleo").await;
    shows(&browser, "#people", "connected").await;
    // Before anything is shown, the recorder says why it can't start yet.
    click(&browser, "#rec-btn").await;
    shows(
        &browser,
        "#rec-hint",
        "View or control the customer's screen first",
    )
    .await;
    remote_control(&browser, "View desktop").await;
    cleo.expect("asks to see your screen").await;
    cleo.type_line("y").await;
    video_plays(&browser).await;
    show_recorder(&browser).await;
    shows(
        &browser,
        "#rec-hint",
        "The customer is asked to allow the recording first",
    )
    .await;
    screenshot(&browser, "recorder-ready").await;

    phase("start recording after Cleo's consent");
    click(&browser, "#rec-start").await;
    shows(&browser, "#pending", "Waiting for Cleo").await;
    cleo.expect("asks to record this session").await;
    cleo.type_line("y").await;
    shows(&browser, "#rec-label", "Recording").await;
    cleo.expect("This session is being recorded").await;
    let pill = check(
        &browser,
        "pill",
        browser.wait_visible("#rec-state", WAIT).await,
    )
    .await;
    let pill = check(&browser, "pill text", browser.text(&pill).await).await;
    assert!(
        pill.contains("Recording"),
        "the session head's indicator: {pill:?}"
    );
    let recording_since = Instant::now();

    phase("a customer on the join page sees the indicator");
    let path = format!("/api/v1/sessions/{session_id}/invitations");
    let role = json!({ "role": "customer" });
    let (status, invitation) = http(service.addr, "POST", &path, Some(&token), Some(role)).await;
    assert_eq!(status, 201, "invitation: {invitation}");
    let dana_code = invitation["code"].as_str().expect("a code").to_owned();
    let dana = Browser::start().await.expect("second browser starts");
    let page = format!("{}/join.html", service.url);
    check(&dana, "open join page", dana.goto(&page).await).await;
    type_into(&dana, "#code", &dana_code).await;
    type_into(&dana, "#name", "Dana").await;
    click(&dana, "#join-button").await;
    let indicator = check(
        &dana,
        "indicator",
        dana.wait_visible("#recording", WAIT).await,
    )
    .await;
    let text = check(&dana, "indicator text", dana.text(&indicator).await).await;
    assert!(
        text.contains("being recorded"),
        "the join page's indicator: {text:?}"
    );
    screenshot(&dana, "recorder-join-indicator").await;
    drop(dana);
    tokio::time::sleep(FIRST).await;
    show_recorder(&browser).await;
    screenshot(&browser, "recorder-recording").await;

    phase("pause and resume");
    click(&browser, "#rec-pause").await;
    shows(&browser, "#rec-label", "Paused").await;
    let at_pause = browser.text_of("#rec-elapsed").await.expect("elapsed");
    tokio::time::sleep(PAUSED).await;
    let later = browser.text_of("#rec-elapsed").await.expect("elapsed");
    assert_eq!(
        at_pause, later,
        "the elapsed time stands still while paused"
    );
    let shown: u64 = at_pause
        .split(':')
        .try_fold(0u64, |acc, part| part.parse::<u64>().map(|n| acc * 60 + n))
        .unwrap_or_else(|_| panic!("the elapsed time is {at_pause:?}"));
    let recorded = recording_since.elapsed().as_secs();
    assert!(
        shown >= 1 && shown <= recorded + 2,
        "the elapsed time at the pause is {at_pause:?}, after about {recorded} s of recording"
    );
    screenshot(&browser, "recorder-paused").await;
    click(&browser, "#rec-resume").await;
    shows(&browser, "#rec-label", "Recording").await;
    tokio::time::sleep(SECOND).await;

    phase("stop: the file is uploaded and attached");
    click(&browser, "#rec-stop").await;
    let wall = recording_since.elapsed();
    shows(&browser, "#rec-list", "Download recording").await;
    shows(&browser, "#rec-hint", "Saved to the session record").await;
    shows(&browser, "#rec-label", "Not recording").await;
    show_recorder(&browser).await;
    screenshot(&browser, "recorder-saved").await;

    // The record lists the recording.
    let path = format!("/api/v1/sessions/{session_id}");
    let (status, record) = http(service.addr, "GET", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{record}");
    let attached: Vec<&Value> = record["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in the record {record}"))
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["type"] == "recording_attached")
        .collect();
    assert_eq!(attached.len(), 1, "one recording in the record: {record}");
    let attached = attached[0];
    assert_eq!(attached["by"], 1, "the controller uploaded it: {attached}");
    let id = attached["id"].as_str().expect("a recording id").to_owned();
    let size = attached["size"].as_u64().expect("a size");
    let duration_ms = attached["duration_ms"].as_u64().expect("a duration");
    let active = FIRST + SECOND;
    assert!(
        duration_ms + 500 >= active.as_millis() as u64
            && duration_ms < (wall - PAUSED).as_millis() as u64 + 2000,
        "the recorded length {duration_ms} ms leaves the pause out (recorded {active:?} of {wall:?})"
    );
    let href = browser
        .execute(
            "return document.querySelector('#rec-list a').getAttribute('href');",
            json!([]),
        )
        .await
        .expect("the download link");
    assert_eq!(
        href,
        json!(format!("/api/v1/sessions/{session_id}/recordings/{id}")),
        "the panel links the attached recording"
    );

    phase("download it and read it with ffprobe");
    let url = ServiceUrl::parse(&service.url).expect("service url");
    let file = url
        .download(
            &format!("/api/v1/sessions/{session_id}/recordings/{id}"),
            &token,
        )
        .await
        .expect("download the recording");
    assert_eq!(
        file.len() as u64,
        size,
        "the download has the size the record says"
    );
    assert!(
        file.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]),
        "a Matroska file"
    );
    let mkv = dir.join("recording.mkv");
    std::fs::write(&mkv, &file).expect("write the recording");
    let probe = ffprobe(&mkv);
    let video = probe["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["codec_type"] == "video")
        .unwrap_or_else(|| panic!("no video stream in the recording: {probe}"));
    assert!(
        video["width"].as_u64().unwrap_or(0) > 0,
        "the video stream has a size: {video}"
    );
    let seconds: f64 = probe["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no duration in the recording: {probe}"));
    let want = duration_ms as f64 / 1000.0;
    assert!(
        (seconds - want).abs() < 1.0,
        "the file lasts {seconds:.2} s, the recorder measured {want:.2} s"
    );
    let last = last_video_packet(&mkv);
    assert!(
        last > active.as_secs_f64() - 1.5 && last < want + 1.0,
        "the last picture is at {last:.2} s; {active:?} were recorded (the pause left out)"
    );

    phase("end the session; the history lists the recording");
    click(&browser, "#end-btn").await;
    click(&browser, "#end-confirm").await;
    shows(&browser, "#ended-why", "ended").await;
    cleo.expect("The session has ended").await;
    click(&browser, "#ended-home").await;
    shows(&browser, "#history", "Recordings").await;
    click(&browser, "#history .rec-history button").await;
    shows(&browser, "#history", "Download recording").await;
    let href = browser
        .execute(
            "return document.querySelector('#history .rec-history a').getAttribute('href');",
            json!([]),
        )
        .await
        .expect("the history's link");
    assert_eq!(
        href,
        json!(format!("/api/v1/sessions/{session_id}/recordings/{id}")),
        "the history links the recording"
    );
    screenshot(&browser, "recorder-history").await;

    drop(browser);
    service.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ffprobe`'s streams and format of `file`, as JSON.
fn ffprobe(file: &Path) -> Value {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(file)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe refused the recording: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe's JSON")
}

/// The time of the last video packet of `file`, in seconds.
fn last_video_packet(file: &Path) -> f64 {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse::<f64>().ok())
        .fold(0.0, f64::max)
}
