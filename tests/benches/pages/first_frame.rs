//! Consent to first frame: the CSR console in Chromium against the native helper, beside a
//! native CSR engine against another helper, trials alternating. Both clocks are the system's
//! real-time clock: the bench reads it right before it types `y` into the helper (the moment
//! the customer consents); the page stamps the first frame with `performance.timeOrigin` plus
//! the `presentationTime` of `requestVideoFrameCallback` (of the first picture received after
//! the page was armed, just before the consent); the native side reads it when the
//! engine hands over the first decoded `Picture`. A small square of the display changes colour
//! 30 times a second throughout, so the shared screen is never still.

use crate::common::{Helper, WAIT, click, csr_invites_a_customer, shows, type_into, until};
use crate::{epoch_ms, min_max, percentile};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tether_engine::EngineEvent;
use tether_protocol::{Activity, Capability, Command, Event, Role};
use tether_tests::browser::{Browser, wait_for};
use tether_tests::{ADMIN_PASSWORD, TestService, temp_dir};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    ChangeWindowAttributesAux, ConnectionExt as _, CreateWindowAux, WindowClass,
};

/// Open the remote-control menu and choose "View desktop"; false when it is not usable.
const VIEW_DESKTOP: &str = "document.getElementById('rc-btn').click(); \
    const items = [...document.querySelectorAll('#rc-menu button')]; \
    const b = items.find((x) => x.querySelector('.mi-label').textContent === 'View desktop'); \
    if (!b || b.disabled) return false; b.click(); return true;";

/// Stamp the first frame the console's `<video>` presents from now on (re-armed whenever the
/// console gives the video a new stream). A frame received before arming is the last picture of
/// the previous view, which Chromium shows again on the new stream: counted, not stamped.
const ARM: &str = "window.__ff = null; window.__stale = 0; const armed = performance.now(); \
    const v = document.getElementById('screen'); \
    const seen = (now, m) => { if (window.__ff) return; \
      if (m.receiveTime !== undefined && m.receiveTime < armed) { \
        window.__stale++; v.requestVideoFrameCallback(seen); return; } \
      const o = performance.timeOrigin; \
      window.__ff = { presented: o + m.presentationTime, \
        received: m.receiveTime !== undefined ? o + m.receiveTime : null, \
        width: m.width, height: m.height, stale: window.__stale }; }; \
    const hook = () => v.requestVideoFrameCallback(seen); \
    let src = v.srcObject; if (src) hook(); \
    const iv = setInterval(() => { if (window.__ff) { clearInterval(iv); return; } \
      if (v.srcObject !== src) { src = v.srcObject; if (src) hook(); } }, 2); \
    return true;";

/// A square on the shared display that changes colour 30 times a second while this lives (as
/// typing or a blinking cursor would), so the customer's stream never stands still: restarting
/// a view on a still screen can stall (see the screen-sharing section of BENCHMARKS.md).
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start() -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (conn, n) = x11rb::connect(None).expect("connect to the X display");
            let root = conn.setup().roots[n].root;
            let id = conn.generate_id().expect("window id");
            let aux = CreateWindowAux::new()
                .background_pixel(0x20_40_80)
                .override_redirect(1);
            conn.create_window(
                0,
                id,
                root,
                100,
                100,
                256,
                256,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &aux,
            )
            .expect("create the ticker window");
            conn.map_window(id).expect("map");
            let mut k: u32 = 0;
            while !flag.load(Ordering::Relaxed) {
                k = k.wrapping_add(1);
                let pixel = (k.wrapping_mul(2_654_435_761) >> 8) & 0x00ff_ffff;
                let aux = ChangeWindowAttributesAux::new().background_pixel(pixel);
                let _ = conn.change_window_attributes(id, &aux);
                let _ = conn.clear_area(false, id, 0, 0, 0, 0);
                let _ = conn.flush();
                std::thread::sleep(Duration::from_millis(33));
            }
            let _ = conn.destroy_window(id);
            let _ = conn.flush();
        });
        Ticker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One trial's times from the consent, ms.
#[derive(Debug, Clone, Copy)]
struct Trial {
    shown: f64,
    /// The page only: when the last packet of that frame arrived.
    received: Option<f64>,
    /// The page only: pictures of the previous view shown before it.
    stale: u64,
}

struct Console {
    svc: TestService,
    browser: Browser,
    helper: Helper,
}

async fn console(helper_bin: &Path) -> Console {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let svc = TestService::start(temp_dir("bench-pages").join("t.db"), |c| {
        c.web_dir = web.clone();
    })
    .await;
    let browser = Browser::start().await.expect("browser starts");
    browser.resize(1280, 1000).await.expect("resize");
    browser
        .goto(&format!("{}/", svc.service.url))
        .await
        .expect("open the console");
    type_into(&browser, "#signin-user", "admin").await;
    type_into(&browser, "#signin-pass", ADMIN_PASSWORD).await;
    click(&browser, "#signin-form button[type=submit]").await;
    click(&browser, "#quick-start").await;
    shows(&browser, "#ws-state", "Connected").await;
    click(&browser, "#invite-btn").await;
    click(&browser, "#invite-customer").await;
    let code = browser
        .wait_visible(".invitation output.code", WAIT)
        .await
        .expect("invitation code");
    let code = browser.text(&code).await.expect("code");
    click(&browser, "#invite-close").await;
    let mut helper = Helper::start(helper_bin, &svc.service.url, &code, "Cleo", &[]);
    helper.expect("Joined the support session").await;
    shows(&browser, "#people", "connected").await;
    Console {
        svc,
        browser,
        helper,
    }
}

async fn console_trial(c: &mut Console) -> Trial {
    let b = &c.browser;
    let chosen = b.execute(VIEW_DESKTOP, json!([])).await.expect("menu");
    assert_eq!(
        chosen,
        json!(true),
        "View desktop is not usable in the console"
    );
    c.helper.expect("asks to see your screen").await;
    b.execute(ARM, json!([])).await.expect("arm");
    let consent = epoch_ms();
    c.helper.type_line("y").await;
    let asked = std::time::Instant::now();
    let frame: Value = loop {
        let frame = b
            .execute("return window.__ff;", json!([]))
            .await
            .expect("poll the page");
        if !frame.is_null() {
            break frame;
        }
        assert!(
            asked.elapsed() < WAIT,
            "the console showed no frame within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let presented = frame["presented"].as_f64().expect("presentation time");
    assert!(
        presented > consent,
        "a frame from before the consent: {frame}"
    );
    c.helper.type_line("/revoke remote_view").await;
    c.helper.expect("Revoked").await;
    let hidden = wait_for(WAIT, || async {
        Ok(b.execute(
            "return document.getElementById('screen').hidden;",
            json!([]),
        )
        .await?
            == true)
    })
    .await
    .expect("poll the page");
    assert!(
        hidden,
        "the console kept showing the screen after the revoke"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    Trial {
        shown: presented - consent,
        received: frame["received"].as_f64().map(|r| r - consent),
        stale: frame["stale"].as_u64().unwrap_or(0),
    }
}

struct Native {
    invited: crate::common::Invited,
    helper: Helper,
    customer: tether_protocol::ParticipantId,
}

async fn native(helper_bin: &Path) -> Native {
    let mut invited = csr_invites_a_customer("bench-pages-native").await;
    let mut helper = Helper::start(
        helper_bin,
        &invited.svc.service.url,
        &invited.code,
        "Carl",
        &[],
    );
    helper.expect("Joined the support session").await;
    let roster = until(&mut invited.events, "the helper in the roster", |e| {
        matches!(e, EngineEvent::Roster(r)
            if r.participants.iter().any(|p| p.role == Role::PrimaryCustomer && p.connected))
    })
    .await;
    let EngineEvent::Roster(roster) = roster else {
        unreachable!("matched a roster")
    };
    let customer = roster
        .participants
        .iter()
        .find(|p| p.role == Role::PrimaryCustomer)
        .map(|p| p.id)
        .expect("a primary customer");
    until(
        &mut invited.events,
        "the peer connection",
        |e| matches!(e, EngineEvent::PeerOpen(id) if *id == customer),
    )
    .await;
    Native {
        invited,
        helper,
        customer,
    }
}

async fn native_trial(n: &mut Native) -> Trial {
    let csr = &n.invited.csr;
    csr.command(Command::RequestConsent {
        customer: n.customer,
        capability: Capability::RemoteView,
    })
    .await
    .expect("ask");
    n.helper.expect("asks to see your screen").await;
    let consent = epoch_ms();
    n.helper.type_line("y").await;
    until(&mut n.invited.events, "the consent", |e| {
        matches!(
            e,
            EngineEvent::Session(Event::ConsentAnswered { granted: true, .. })
        )
    })
    .await;
    csr.command(Command::StartActivity {
        activity: Activity::ViewDesktop,
        target: None,
    })
    .await
    .expect("view");
    let customer = n.customer;
    until(
        &mut n.invited.events,
        "the first picture",
        |e| matches!(e, EngineEvent::Screen { from, .. } if *from == customer),
    )
    .await;
    let shown = epoch_ms() - consent;
    n.helper.type_line("/revoke remote_view").await;
    n.helper.expect("Revoked").await;
    until(&mut n.invited.events, "the view stopped", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStopped { .. }))
    })
    .await;
    // Pictures still on their way belong to this trial.
    let drain = tokio::time::sleep(Duration::from_millis(300));
    tokio::pin!(drain);
    loop {
        tokio::select! {
            _ = &mut drain => break,
            e = n.invited.events.recv() => if e.is_none() { break },
        }
    }
    Trial {
        shown,
        received: None,
        stale: 0,
    }
}

fn summary(label: &str, values: &[f64]) {
    let (lo, hi) = min_max(values);
    println!(
        "| {label} | {} | {:.0} | {:.0} | {:.0} | {:.0} |",
        values.len(),
        percentile(values, 50.0),
        percentile(values, 95.0),
        lo,
        hi
    );
}

pub async fn run(helper_bin: PathBuf, trials: usize) {
    println!("## Consent to first frame (native helper sharing its display)\n");
    let _ticker = Ticker::start();
    let mut c = console(&helper_bin).await;
    let mut n = native(&helper_bin).await;
    // One warm-up trial each, not counted.
    let _ = console_trial(&mut c).await;
    let _ = native_trial(&mut n).await;
    let (mut page, mut engine) = (Vec::new(), Vec::new());
    for i in 0..trials {
        let p = console_trial(&mut c).await;
        let e = native_trial(&mut n).await;
        println!(
            "trial {:>2}: console shown {:.0} ms (received {}; {} stale before), native engine {:.0} ms",
            i + 1,
            p.shown,
            p.received.map_or("?".into(), |r| format!("{r:.0} ms")),
            p.stale,
            e.shown
        );
        page.push(p);
        engine.push(e);
    }
    println!("\n| path | trials | p50 ms | p95 ms | min ms | max ms |");
    println!("|---|---|---|---|---|---|");
    let shown: Vec<f64> = page.iter().map(|t| t.shown).collect();
    let received: Vec<f64> = page.iter().filter_map(|t| t.received).collect();
    summary("console (Chromium): frame presented", &shown);
    if !received.is_empty() {
        summary("console (Chromium): its last packet received", &received);
    }
    let native: Vec<f64> = engine.iter().map(|t| t.shown).collect();
    summary("native CSR engine: first `Picture`", &native);
    let stale = page.iter().filter(|t| t.stale > 0).count();
    println!(
        "\nThe console showed the previous view's last picture first in {stale} of {} trials \
         (not counted as the first frame).",
        page.len()
    );
    println!();
    drop(c.browser);
    c.svc.stop().await;
    n.invited.csr.command(Command::Leave).await.ok();
    n.invited.svc.stop().await;
}
