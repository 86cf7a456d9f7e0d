//! The console's voice and video against native peers: the CSR joins audio in the console
//! (Chromium's fake microphone plays a 440 Hz tone), which invites the native helper; the
//! helper answers `y` and plays a 660 Hz WAV file. The helper's recording of the CSR is 440 Hz
//! and keeps growing, the console's player of the helper carries 660 Hz (a WebAudio analyser),
//! muting stops what the console sends and unmuting resumes it, and leaving audio stops it.
//! Then a native customer engine joins and decodes the console's "Start my video" (Chromium's
//! fake camera) as a camera, not as a screen, until the console stops it.

use crate::audio_probe::*;
use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tether_engine::service::{Invitation, ServiceUrl};
use tether_engine::{Engine, EngineConfig, EngineEvent};
use tether_protocol::{Activity, Event};
use tether_tests::browser::Browser;
use tether_tests::{ADMIN_PASSWORD, TestService, temp_dir};

#[test]
fn console_voice_and_video_with_native_peers() {
    require_display();
    let helper = helper_binary();
    crate::common::run("voice", move || scenario(helper));
}

/// Sign in as the admin, start a session with defaults; the console's session page is shown.
async fn console_session(browser: &Browser, service: &str) {
    check(browser, "resize", browser.resize(1280, 1000).await).await;
    check(
        browser,
        "open console",
        browser.goto(&format!("{service}/")).await,
    )
    .await;
    type_into(browser, "#signin-user", "admin").await;
    type_into(browser, "#signin-pass", ADMIN_PASSWORD).await;
    click(browser, "#signin-form button[type=submit]").await;
    click(browser, "#quick-start").await;
    shows(browser, "#ws-state", "Connected").await;
}

/// A new customer invitation through the console's invite panel; its short code.
async fn console_invites(browser: &Browser) -> String {
    click(browser, "#invite-btn").await;
    click(browser, "#invite-customer").await;
    check(
        browser,
        "invitation code",
        browser.wait_visible(".invitation output.code", WAIT).await,
    )
    .await;
    let code = browser
        .text_of(".invitation output.code")
        .await
        .expect("the code");
    click(browser, "#invite-close").await;
    code
}

/// The console's audio state line and people list in view, then a screenshot.
async fn shot(browser: &Browser, name: &str) {
    let script = "document.getElementById('av').scrollIntoView({ block: 'center' });";
    let _ = browser.execute(script, serde_json::json!([])).await;
    let path = browser.screenshot(name).await.expect("screenshot");
    assert!(path.is_file(), "no screenshot at {}", path.display());
}

async fn scenario(helper_bin: PathBuf) {
    let started = Instant::now();
    let phase = |what: &str| eprintln!("voice test: {what} at {:.1?}", started.elapsed());
    let dir = temp_dir("browser-voice");
    let (mic, helper_voice, heard) = (
        dir.join("mic-440.wav"),
        dir.join("helper-660.wav"),
        dir.join("heard.wav"),
    );
    write_tone(&mic, 440.0, 10);
    write_tone(&helper_voice, 660.0, 120);
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let svc = TestService::start(dir.join("t.db"), |c| c.web_dir = web.clone()).await;
    let url = svc.service.url.clone();

    phase("the console starts a session; the helper joins");
    let browser = Browser::start_with(&[fake_microphone(&mic)])
        .await
        .expect("browser starts");
    console_session(&browser, &url).await;
    let code = console_invites(&browser).await;
    let voice_file = helper_voice.display().to_string();
    let voice_out = heard.display().to_string();
    let mut carl = Helper::start(
        &helper_bin,
        &url,
        &code,
        "Carl",
        &["--voice-file", &voice_file, "--voice-out", &voice_out],
    );
    carl.expect("Joined the support session as Carl").await;
    shows(&browser, "#people", "connected").await;
    shows(&browser, "#av-people", "Carl").await;
    shows(&browser, "#av-people", "not in audio").await;

    phase("the console joins audio and invites Carl");
    click(&browser, "#audio-btn").await;
    shows(&browser, "#av-me", "You are in audio").await;
    carl.expect("invites you to the voice call").await;
    shows(&browser, "#av-people", "invited").await;
    carl.type_line("y").await;
    carl.expect("You joined the voice call").await;

    phase("the console's voice reaches the helper at 440 Hz");
    // The console is participant 1: the helper writes its voice beside --voice-out.
    let from_console = dir.join("heard-1.wav");
    let samples = wav_with(&from_console, 2.0).await;
    let f = tail_frequency(&samples).expect("a tone from the console");
    assert!(
        (f - 440.0).abs() <= 5.0,
        "the helper heard the console at {f:.1} Hz, not 440"
    );
    let growth = wav_growth(&from_console, Duration::ZERO, Duration::from_secs(2)).await;
    assert!(
        growth >= 48_000,
        "the console's voice kept arriving for only {growth} samples in 2 s"
    );
    eprintln!("the helper hears the console at {f:.1} Hz");

    phase("the helper's voice reaches the console at 660 Hz");
    check(
        &browser,
        "Carl in audio",
        browser
            .wait_visible("#av-people li[data-participant=\"2\"][data-audio=in]", WAIT)
            .await,
    )
    .await;
    let (hz, level) = page_hears(&browser, "#voices audio[data-peer=\"2\"]", 660.0, 6.0).await;
    eprintln!("the console hears the helper at {hz:.1} Hz, {level:.1} dB");
    shot(&browser, "voice-console-in-audio").await;

    phase("mute stops what the console sends");
    click(&browser, "#mute-btn").await;
    shows(&browser, "#av-me", "muted").await;
    shows(&browser, "#mute-btn", "Unmute").await;
    let muted = wav_growth(
        &from_console,
        Duration::from_secs(1),
        Duration::from_secs(2),
    )
    .await;
    assert!(
        muted < 4_800,
        "{muted} samples of the console arrived in 2 s while it was muted"
    );
    shot(&browser, "voice-console-muted").await;
    click(&browser, "#mute-btn").await;
    shows(&browser, "#mute-btn", "Mute").await;
    let unmuted = wav_growth(
        &from_console,
        Duration::from_secs(1),
        Duration::from_secs(2),
    )
    .await;
    assert!(
        unmuted >= 48_000,
        "only {unmuted} samples of the console arrived in 2 s after unmuting"
    );

    phase("leaving audio stops it");
    click(&browser, "#audio-btn").await;
    shows(&browser, "#av-me", "You are not in audio").await;
    let left = wav_growth(
        &from_console,
        Duration::from_secs(1),
        Duration::from_secs(2),
    )
    .await;
    assert!(
        left < 4_800,
        "{left} samples arrived in 2 s after the console left audio"
    );
    let players = browser
        .execute(
            "return document.querySelectorAll('#voices audio').length;",
            serde_json::json!([]),
        )
        .await
        .expect("players");
    assert_eq!(players, 0, "voices still play after leaving audio");

    phase("a native customer decodes the console's camera");
    let code = console_invites(&browser).await;
    let service = ServiceUrl::parse(&url).expect("service url");
    let seat = service
        .join(&Invitation::Code(code), "Eve", None)
        .await
        .expect("Eve joins");
    let config = EngineConfig {
        bind: vec!["127.0.0.1:0".into()],
        ..Default::default()
    };
    let (eve, mut eve_events) = Engine::connect(&service, &seat, config)
        .await
        .expect("Eve connects");
    until(
        &mut eve_events,
        "the control channel to the console",
        |e| matches!(e, EngineEvent::PeerOpen(p) if p.0 == 1),
    )
    .await;
    shows(&browser, "#av-people", "Eve").await;
    click(&browser, "#video-btn").await;
    until(&mut eve_events, "the console's video activity", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStarted { activity: Activity::Video, actor, .. }) if actor.0 == 1)
    })
    .await;
    let seen = tokio::time::timeout(WAIT, async {
        while let Some(e) = eve_events.recv().await {
            match e {
                EngineEvent::Camera { from, picture } if from.0 == 1 => return Ok(picture),
                EngineEvent::Screen { from, .. } if from.0 == 1 => {
                    return Err("the console's camera arrived as a screen".to_owned());
                }
                EngineEvent::MediaError(m) => return Err(m),
                _ => {}
            }
        }
        Err("Eve's events ended".into())
    })
    .await;
    let picture = match seen {
        Ok(Ok(p)) => p,
        Ok(Err(why)) => panic!("no camera picture from the console: {why}"),
        Err(_) => panic!(
            "Eve decoded no camera picture from the console within {WAIT:?}\nbrowser console:\n{}",
            browser.console_log().await.join("\n")
        ),
    };
    let (w, h) = (picture.0.width, picture.0.height);
    let [r, g, b] = picture.0.mean_rgb(0, 0, w, h);
    eprintln!("Eve decoded the console's camera at {w}x{h}, mean colour {r:.0},{g:.0},{b:.0}");
    assert!(w >= 320 && h >= 180, "the camera picture is only {w}x{h}");
    // Chromium's fake camera is a green picture with a moving shape.
    assert!(
        g > r + 50.0 && g > b + 50.0,
        "the console's camera arrived as {r:.0},{g:.0},{b:.0}, not mostly green"
    );
    shows(&browser, "#video-btn", "Stop my video").await;
    shows(&browser, "#av-me", "Your camera is on").await;
    shot(&browser, "voice-console-camera").await;

    click(&browser, "#video-btn").await;
    until(&mut eve_events, "the console's video stopping", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStopped { activity: Activity::Video, actor, .. }) if actor.0 == 1)
    })
    .await;
    shows(&browser, "#video-btn", "Start my video").await;

    drop(eve);
    drop(carl);
    drop(browser);
    svc.stop().await;
    eprintln!("voice test took {:.1?}", started.elapsed());
}
