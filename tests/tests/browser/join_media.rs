//! The join page's voice and camera against a native CSR engine: the engine joins audio with a
//! 660 Hz tone and invites the browser customer, the page shows a clear prompt, the customer
//! joins (Chromium's fake microphone plays 440 Hz); the engine hears 440 Hz and the page's player
//! carries 660 Hz; muting stops what the page sends. The engine's camera (a green picture) shows
//! in the page's camera tile, and the customer's "Start my camera" reaches the engine as a
//! camera until "Stop my camera".

use crate::audio_probe::*;
use crate::common::*;
use serde_json::json;
use std::time::{Duration, Instant};
use tether_engine::EngineEvent;
use tether_media::frame::{Bgra, I420};
use tether_media::tone::ToneSource;
use tether_protocol::{Activity, Command, Event, ParticipantId};
use tether_tests::browser::Browser;
use tether_tests::temp_dir;

const CUSTOMER: &str = "Dora Lima";
/// The CSR's camera picture, BGRA.
const GREEN: [u8; 4] = [60, 180, 40, 255];

#[test]
fn join_page_voice_and_camera_with_a_native_csr() {
    crate::common::run("join-media", scenario);
}

/// Scroll `id` into view, then a screenshot.
async fn shot(browser: &Browser, id: &str, name: &str) {
    let script = "document.getElementById(arguments[0]).scrollIntoView({ block: 'center' });";
    let _ = browser.execute(script, json!([id])).await;
    let path = browser.screenshot(name).await.expect("screenshot");
    assert!(path.is_file(), "no screenshot at {}", path.display());
}

async fn scenario() {
    let started = Instant::now();
    let phase = |what: &str| eprintln!("join media test: {what} at {:.1?}", started.elapsed());
    let dir = temp_dir("browser-join-media");
    let mic = dir.join("mic-440.wav");
    write_tone(&mic, 440.0, 10);
    let Invited {
        svc,
        code,
        csr,
        mut events,
    } = csr_invites_a_customer("browser-join-media").await;
    let csr_name = csr.welcome().roster.participants[0].name.clone();
    let csr_id = csr.me();

    phase("the customer joins by code");
    let browser = Browser::start_with(&[fake_microphone(&mic)])
        .await
        .expect("browser starts");
    check(&browser, "resize", browser.resize(1100, 1000).await).await;
    let page = format!("{}/join.html", svc.service.url);
    check(&browser, "open join page", browser.goto(&page).await).await;
    type_into(&browser, "#code", &code).await;
    type_into(&browser, "#name", &format!("{CUSTOMER}\u{E007}")).await;
    shows(&browser, "#roster", &csr_name).await;
    let customer: ParticipantId = match until(&mut events, "the customer connected", |e| {
        matches!(e, EngineEvent::Roster(r) if r.participants.iter().any(|p| p.name == CUSTOMER && p.connected))
    })
    .await
    {
        EngineEvent::Roster(r) => r
            .participants
            .iter()
            .find(|p| p.name == CUSTOMER)
            .map(|p| p.id)
            .expect("the customer"),
        _ => unreachable!(),
    };
    until(
        &mut events,
        "the control channel to the browser",
        |e| matches!(e, EngineEvent::PeerOpen(p) if *p == customer),
    )
    .await;

    phase("the CSR joins audio and invites the customer");
    let heard = Heard::default();
    csr.join_audio(Box::new(ToneSource::endless(660.0, 9000)), heard.factory())
        .await
        .expect("the CSR joins audio");
    csr.invite_to_audio(&[customer])
        .await
        .expect("the CSR invites");
    check(
        &browser,
        "the audio invitation",
        browser.wait_visible("#audio-invite", WAIT).await,
    )
    .await;
    shows(
        &browser,
        "#audio-invite",
        &format!("{csr_name} invites you"),
    )
    .await;
    shot(&browser, "audio-invite", "join-audio-invite").await;
    // Nothing is sent before the customer answers.
    assert_eq!(heard.frames(), 0, "the page sent voice before joining");

    phase("the customer joins audio");
    click(&browser, "#audio-accept").await;
    shows(&browser, "#call-state", "You are in audio").await;
    heard.at_least(100).await;
    let f = heard.frequency().expect("a tone from the page");
    assert!(
        (f - 440.0).abs() <= 5.0,
        "the engine heard the page at {f:.1} Hz, not 440"
    );
    let (hz, level) = page_hears(
        &browser,
        &format!("#voices audio[data-peer=\"{}\"]", csr_id.0),
        660.0,
        6.0,
    )
    .await;
    eprintln!("the engine hears the page at {f:.1} Hz; the page hears {hz:.1} Hz at {level:.1} dB");
    // The CSR is shown sending voice.
    check(
        &browser,
        "the CSR in audio",
        browser
            .wait_visible(
                &format!(
                    "#call-people li[data-participant=\"{}\"][data-audio=in]",
                    csr_id.0
                ),
                WAIT,
            )
            .await,
    )
    .await;
    let hidden = browser
        .execute(
            "return document.getElementById('audio-invite').hidden;",
            json!([]),
        )
        .await
        .expect("prompt state");
    assert_eq!(hidden, json!(true), "the prompt stays after joining");
    shot(&browser, "call-card", "join-in-audio").await;

    phase("mute stops what the page sends");
    click(&browser, "#audio-mute").await;
    shows(&browser, "#call-state", "muted").await;
    let muted = heard
        .growth(Duration::from_secs(1), Duration::from_secs(2))
        .await;
    assert!(
        muted <= 5,
        "{muted} frames from the page arrived in 2 s while muted"
    );
    shot(&browser, "call-card", "join-muted").await;
    click(&browser, "#audio-mute").await;
    shows(&browser, "#audio-mute", "Mute").await;
    let unmuted = heard
        .growth(Duration::from_secs(1), Duration::from_secs(2))
        .await;
    assert!(
        unmuted >= 50,
        "only {unmuted} frames from the page arrived in 2 s after unmuting"
    );

    phase("the CSR's camera shows on the page");
    let frame = I420::from_bgra(&Bgra::filled(640, 360, GREEN)).expect("picture");
    csr.set_camera(Box::new(move || Some(frame.clone())))
        .await
        .expect("camera");
    csr.command(Command::StartActivity {
        activity: Activity::Video,
        target: None,
    })
    .await
    .expect("start video");
    let start = Instant::now();
    let want = [GREEN[2], GREEN[1], GREEN[0]].map(i64::from);
    let last = loop {
        let last = check(
            &browser,
            "the CSR's camera tile",
            browser.execute(TILE_COLOUR, json!([csr_id.0])).await,
        )
        .await;
        let close = last["rgb"].as_array().is_some_and(|rgb| {
            rgb.iter()
                .zip(want)
                .all(|(seen, want)| seen.as_i64().is_some_and(|s| (s - want).abs() <= 20))
        });
        if close {
            break last;
        }
        assert!(
            start.elapsed() < WAIT,
            "the page's tile of the CSR's camera did not show {want:?} within {WAIT:?}: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("the page shows the CSR's camera: {last}");
    shows(&browser, "#call-people", "camera on").await;

    phase("the customer's camera reaches the CSR");
    click(&browser, "#camera-start").await;
    until(&mut events, "the customer's video activity", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStarted { activity: Activity::Video, actor, .. }) if *actor == customer)
    })
    .await;
    let seen = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            match e {
                EngineEvent::Camera { from, picture } if from == customer => {
                    return Ok((picture.0.width, picture.0.height));
                }
                EngineEvent::Screen { from, .. } if from == customer => {
                    return Err("the customer's camera arrived as a screen".to_owned());
                }
                EngineEvent::MediaError(m) => return Err(m),
                _ => {}
            }
        }
        Err("the engine's events ended".into())
    })
    .await;
    let (w, h) = match seen {
        Ok(Ok(size)) => size,
        Ok(Err(why)) => panic!("no camera picture from the page: {why}"),
        Err(_) => panic!(
            "the engine decoded no camera picture from the page within {WAIT:?}\nbrowser console:\n{}",
            browser.console_log().await.join("\n")
        ),
    };
    eprintln!("the engine decoded the customer's camera at {w}x{h}");
    assert!(w >= 320 && h >= 180, "the camera picture is only {w}x{h}");
    shows(&browser, "#camera-hint", "Your camera is on").await;
    shot(&browser, "call-card", "join-cameras").await;

    click(&browser, "#camera-stop").await;
    until(&mut events, "the customer's video stopping", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStopped { activity: Activity::Video, actor, .. }) if *actor == customer)
    })
    .await;
    check(
        &browser,
        "start camera button back",
        browser.wait_visible("#camera-start", WAIT).await,
    )
    .await;

    drop(browser);
    drop(csr);
    svc.stop().await;
    eprintln!("join media test took {:.1?}", started.elapsed());
}
