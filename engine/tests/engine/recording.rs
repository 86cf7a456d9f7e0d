//! Recording on the controller's engine, over real peers on the test command's Xvfb display:
//! it starts only after the customer's consent, everyone sees the indicator in the roster,
//! pause leaves time out, and when it stops the file is uploaded and attached to the record;
//! ffprobe accepts it with the screen and both voices, and its duration is within a second of
//! the recorded time; and ending the session ends every media thread on both sides.

use crate::common::{
    consent, media_threads_end, service, session_with, setting, start_activity, until,
};
use crate::xdisplay::Display;
use std::time::{Duration, Instant};
use tether_engine::EngineEvent;
use tether_media::tone::{CountingSink, ToneSource};
use tether_protocol::{Activity, Capability, Command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_has_the_screen_and_every_voice_and_reaches_the_record() {
    let x = Display::open();
    let _turn = x.turn().await;
    let (w, h) = x.size();
    let backdrop = x.window((0, 0, w, h), [30, 90, 160], None);
    let (service, url, admin) = service("recording").await;
    setting(&url, &admin, "recording_allowed", true.into()).await;
    let (session_id, (csr, mut csr_ev), mut customers) =
        session_with(&url, &admin, &["Carl"]).await;
    let (carl, mut carl_ev) = customers.remove(0);

    // Without Carl's consent the service refuses to start recording.
    csr.command(Command::StartActivity {
        activity: Activity::Recording,
        target: None,
    })
    .await
    .expect("ask");
    until(&mut csr_ev, "refusal", |e| {
        matches!(e, EngineEvent::Refused { .. })
    })
    .await;

    // Carl lets the CSR see his screen and record; both talk.
    for capability in [Capability::RemoteView, Capability::Recording] {
        consent((&csr, &mut csr_ev), (&carl, &mut carl_ev), capability, true).await;
    }
    start_activity(&csr, &mut carl_ev, Activity::ViewDesktop).await;
    until(&mut csr_ev, "the screen", |e| {
        matches!(e, EngineEvent::Screen { .. })
    })
    .await;
    let quiet = |_| Box::new(CountingSink::new()) as Box<dyn tether_media::voice::AudioSink + Send>;
    csr.join_audio(Box::new(ToneSource::endless(440.0, 6000)), Box::new(quiet))
        .await
        .expect("csr audio");
    carl.join_audio(Box::new(ToneSource::endless(880.0, 6000)), Box::new(quiet))
        .await
        .expect("carl audio");

    start_activity(&csr, &mut csr_ev, Activity::Recording).await;
    until(&mut csr_ev, "recording", |e| {
        matches!(e, EngineEvent::Recording { paused: false })
    })
    .await;
    // The indicator, for everyone: the roster says the session is being recorded.
    until(
        &mut carl_ev,
        "indicator",
        |e| matches!(e, EngineEvent::Roster(r) if r.recording),
    )
    .await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    csr.pause_recording(true).await.expect("pause");
    until(&mut csr_ev, "paused", |e| {
        matches!(e, EngineEvent::Recording { paused: true })
    })
    .await;
    let paused = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let paused_for = paused.elapsed();
    csr.pause_recording(false).await.expect("resume");
    tokio::time::sleep(Duration::from_secs(2)).await;
    csr.command(Command::StopActivity {
        activity: Activity::Recording,
    })
    .await
    .expect("stop");
    let saved = until(&mut csr_ev, "saved", |e| {
        matches!(e, EngineEvent::RecordingSaved { .. })
    })
    .await;
    let truth = started.elapsed() - paused_for;
    let EngineEvent::RecordingSaved { bytes, duration_ms } = saved else {
        unreachable!()
    };
    assert!(bytes > 1000, "{bytes} bytes");
    let told = Duration::from_millis(duration_ms);
    assert!(
        told.abs_diff(truth) < Duration::from_secs(1),
        "recorded {told:?}, truth {truth:?}"
    );

    // Attached to the record, and the file is what common players open.
    let record = url
        .request(
            "GET",
            &format!("/api/v1/sessions/{session_id}"),
            Some(&admin),
            None,
        )
        .await
        .expect("record");
    let attached = record["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["event"]["type"] == "recording_attached")
        .unwrap_or_else(|| panic!("no recording in the record: {record}"))
        .clone();
    let id = attached["event"]["id"]
        .to_string()
        .trim_matches('"')
        .to_owned();
    let file = url
        .download(
            &format!("/api/v1/sessions/{session_id}/recordings/{id}"),
            &admin,
        )
        .await
        .expect("download");
    assert_eq!(file.len() as u64, bytes);
    let path =
        std::env::temp_dir().join(format!("tether-recording-test-{}.mkv", std::process::id()));
    std::fs::write(&path, &file).expect("write");
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe is installed (scripts/packages.sh)");
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&probe.stdout).expect("json");
    let codecs: Vec<&str> = info["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert_eq!(codecs, ["h264", "opus", "opus"], "{info}");
    let video = &info["streams"][0];
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(u64::from(w)), Some(u64::from(h)))
    );
    let seconds: f64 = info["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .expect("duration");
    assert!(
        (seconds - truth.as_secs_f64()).abs() < 1.0,
        "ffprobe says {seconds} s, truth {truth:?}"
    );
    let _ = std::fs::remove_file(&path);

    // Ending frees everything: the screen, decoder and voice threads of both sides end.
    assert!(csr.media_threads() > 0 && carl.media_threads() > 0);
    csr.end("recorded").await.expect("end");
    until(&mut csr_ev, "closed", |e| {
        matches!(e, EngineEvent::Closed { .. })
    })
    .await;
    media_threads_end(&[&csr, &carl]).await;
    assert_eq!((csr.peer_count(), carl.peer_count()), (0, 0));
    drop((csr, carl));
    service.stop().await;
    x.destroy(backdrop);
}
