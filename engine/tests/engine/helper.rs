//! The customer helper binary, driven as a customer would: it joins by code, shows chat and
//! takes replies, asks consent as a prompt, revokes on command, and exits when the session ends;
//! on the test command's Xvfb display it shares its screen and is controlled once allowed.

use crate::common::{loopback, mesh_open, service, until};
use std::process::Stdio;
use std::time::Duration;
use tether_engine::{Engine, EngineError, EngineEvent};
use tether_media::tone::{CountingSink, ToneSource};
use tether_media::voice::AudioSink;
use tether_protocol::{Capability, Command, Event};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{ChildStdout, Command as Process};

/// A counting sink the test reads while the engine plays into it.
struct Shared(std::sync::Arc<std::sync::Mutex<CountingSink>>);

impl AudioSink for Shared {
    fn play(&mut self, samples: &[i16]) {
        self.0.lock().expect("sink").play(samples);
    }
}

async fn line_containing(out: &mut Lines<BufReader<ChildStdout>>, words: &str) -> String {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = out.next_line().await {
            if line.contains(words) {
                return Some(line);
            }
            seen.push(line);
        }
        None
    })
    .await;
    match found {
        Ok(Some(line)) => line,
        _ => panic!("the helper never printed {words:?}; it printed {seen:#?}"),
    }
}

/// A service, the admin's engine as the CSR of a new session, and the helper binary joined
/// as Carl by the session's short code, with its terminal.
struct Started {
    service: tether_signaling::Service,
    csr: Engine,
    csr_ev: tokio::sync::mpsc::Receiver<EngineEvent>,
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    out: Lines<BufReader<ChildStdout>>,
}

async fn start(tag: &str) -> Started {
    let (service, url, admin) = service(tag).await;
    let csr_seat = url.start_session(&admin, None, None).await.expect("start");
    let (csr, csr_ev) = Engine::connect(&url, &csr_seat, loopback())
        .await
        .expect("csr");
    let inv = url
        .invite(&admin, &csr_seat.session_id, "customer")
        .await
        .expect("invite");
    let code = inv["code"].as_str().expect("code").to_owned();
    let mut child = Process::new(env!("CARGO_BIN_EXE_tether-helper"))
        .args(["--service", &service.url, "--name", "Carl"])
        .args(["--bind", "127.0.0.1:0", &code])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("helper starts");
    let stdin = child.stdin.take().expect("stdin");
    let out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    Started {
        service,
        csr,
        csr_ev,
        child,
        stdin,
        out,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_helper_joins_chats_consents_revokes_and_exits() {
    let Started {
        service,
        csr,
        mut csr_ev,
        mut child,
        mut stdin,
        mut out,
    } = start("helper").await;
    line_containing(&mut out, "Joined the support session as Carl").await;
    let roster = line_containing(&mut out, "Participants:").await;
    assert!(roster.contains("Carl (primary customer, you)"), "{roster}");
    let carl = tether_protocol::ParticipantId(2);
    mesh_open(&mut csr_ev, &[carl]).await;

    // Chat both ways.
    csr.chat(&[carl], "Hello Carl, I am here to help")
        .await
        .expect("chat");
    line_containing(&mut out, "-> you] Hello Carl, I am here to help").await;
    stdin
        .write_all(b"my printer is jammed\n")
        .await
        .expect("type");
    let got = until(&mut csr_ev, "Carl's reply", |e| {
        matches!(e, EngineEvent::Chat(_))
    })
    .await;
    assert!(
        matches!(got, EngineEvent::Chat(ref l) if l.text == "my printer is jammed" && l.from == carl),
        "{got:?}"
    );

    // Consent is a prompt the customer answers.
    csr.command(Command::RequestConsent {
        customer: carl,
        capability: Capability::SystemInfo,
    })
    .await
    .expect("ask");
    line_containing(&mut out, "asks to read system information").await;
    stdin.write_all(b"y\n").await.expect("answer");
    until(&mut csr_ev, "grant", |e| {
        matches!(
            e,
            EngineEvent::Session(Event::ConsentAnswered { granted: true, .. })
        )
    })
    .await;
    let info = csr
        .request_system_info(carl)
        .await
        .expect("system information");
    assert!(!info.hostname.is_empty() && info.cpu_cores > 0, "{info:?}");

    // Revoked from the helper: refused at once by the customer's endpoint.
    stdin
        .write_all(b"/revoke system_info\n")
        .await
        .expect("revoke");
    line_containing(&mut out, "Revoked").await;
    match csr.request_system_info(carl).await {
        Err(EngineError::Refused(reason)) => assert!(reason.contains("not allowed"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Invited to the voice call, Carl says yes; his helper's voice (a test tone without a
    // microphone or file) reaches the CSR.
    let heard = std::sync::Arc::new(std::sync::Mutex::new(CountingSink::new()));
    let sink = heard.clone();
    csr.join_audio(
        Box::new(ToneSource::endless(1000.0, 3000)),
        Box::new(move |_| Box::new(Shared(sink.clone()))),
    )
    .await
    .expect("csr audio");
    csr.invite_to_audio(&[carl]).await.expect("invite");
    line_containing(&mut out, "invites you to the voice call").await;
    stdin.write_all(b"y\n").await.expect("answer");
    line_containing(&mut out, "You joined the voice call").await;
    let mut frequency = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let sink = heard.lock().expect("sink");
        if sink.frames() > 60 {
            frequency = sink.dominant_frequency();
            break;
        }
    }
    let f = frequency.expect("Carl's voice reached the CSR");
    assert!((f - 440.0).abs() < 3.0, "heard {f} Hz");

    // The session ends: the helper says so and exits cleanly.
    csr.command(Command::End {
        notes: "fixed".into(),
    })
    .await
    .expect("end");
    line_containing(&mut out, "The session has ended").await;
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "{status}");
    service.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helper_shares_its_display_and_is_controlled_after_the_customer_allows_it() {
    use crate::common::start_activity;
    use crate::xdisplay::Display;
    use tether_protocol::{Activity, InputEvent};
    let x = Display::open();
    let _turn = x.turn().await;
    let Started {
        service,
        csr,
        mut csr_ev,
        mut child,
        mut stdin,
        mut out,
    } = start("helper-control").await;
    line_containing(&mut out, "Joined the support session as Carl").await;
    let carl = tether_protocol::ParticipantId(2);
    mesh_open(&mut csr_ev, &[carl]).await;

    // Carl answers both prompts; the CSR views, then controls.
    for (capability, words) in [
        (Capability::RemoteView, "asks to see your screen"),
        (Capability::RemoteControl, "asks to control your mouse"),
    ] {
        csr.command(Command::RequestConsent {
            customer: carl,
            capability,
        })
        .await
        .expect("ask");
        line_containing(&mut out, words).await;
        stdin.write_all(b"y\n").await.expect("answer");
        until(&mut csr_ev, "grant", |e| {
            matches!(
                e,
                EngineEvent::Session(Event::ConsentAnswered { granted: true, .. })
            )
        })
        .await;
    }
    start_activity(&csr, &mut csr_ev, Activity::ViewDesktop).await;
    line_containing(&mut out, "Your screen").await;
    let seen = until(
        &mut csr_ev,
        "Carl's screen",
        |e| matches!(e, EngineEvent::Screen { from, .. } if *from == carl),
    )
    .await;
    let (w, h) = x.size();
    assert!(
        matches!(&seen, EngineEvent::Screen { picture, .. } if (picture.0.width, picture.0.height) == (w as usize, h as usize)),
        "{seen:?}"
    );
    start_activity(&csr, &mut csr_ev, Activity::ControlDesktop).await;
    x.warp(10, 10);
    csr.send_input(carl, InputEvent::PointerMove { x: 0.5, y: 0.5 })
        .await
        .expect("input");
    x.pointer_reaches(x.at(0.5, 0.5)).await;

    // Revoked from the helper: the pointer stays where it is.
    stdin
        .write_all(b"/revoke remote_control\n")
        .await
        .expect("revoke");
    line_containing(&mut out, "Revoked").await;
    csr.send_input(carl, InputEvent::PointerMove { x: 0.1, y: 0.1 })
        .await
        .expect("input");
    line_containing(&mut out, "was not applied").await;
    assert_eq!(x.pointer(), x.at(0.5, 0.5));

    csr.command(Command::End { notes: "".into() })
        .await
        .expect("end");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(status.success(), "{status}");
    service.stop().await;
}
