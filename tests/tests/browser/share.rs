//! A browser customer shares its screen: a CSR engine invites by code, the customer joins on the
//! join page, clicks "Share my screen" (the browser's picker is its consent; Chromium's fake UI
//! picks a screen), the page starts `customer_share` and sends the capture as H.264 on the screen
//! transceiver, the native engine decodes pictures of it, then "Stop sharing" stops the activity
//! and the customer leaves.

use serde_json::json;
use std::path::Path;
use std::time::Duration;
use tether_engine::service::ServiceUrl;
use tether_engine::{Engine, EngineConfig, EngineEvent};
use tether_protocol::{Activity, Event, LeaveReason, ParticipantId, Role};
use tether_tests::browser::Browser;
use tether_tests::{TestService, temp_dir};
use tokio::sync::mpsc::Receiver;

/// Every wait on the engine or the page is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

/// The customer's name on the page.
const CUSTOMER: &str = "Dora Lima";

/// The next engine event `pred` accepts; panics with what came instead after [`WAIT`]. Screen
/// pictures are counted rather than listed.
async fn until(
    events: &mut Receiver<EngineEvent>,
    what: &str,
    pred: impl Fn(&EngineEvent) -> bool,
) -> EngineEvent {
    let mut seen = Vec::new();
    let mut pictures = 0usize;
    let found = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if pred(&e) {
                return Some(e);
            }
            match e {
                EngineEvent::Screen { .. } | EngineEvent::Camera { .. } => pictures += 1,
                other => seen.push(other),
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(e)) => e,
        _ => panic!(
            "the CSR engine saw no {what} within {WAIT:?}; it saw {pictures} pictures and {seen:#?}"
        ),
    }
}

/// Panic with the page's console (and a screenshot) when a browser step fails.
async fn check<T>(browser: &Browser, step: &str, result: Result<T, impl std::fmt::Display>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            let _ = browser
                .screenshot(&format!("failed-share-{}", step.replace(' ', "-")))
                .await;
            let console = browser.console_log().await;
            panic!("{step}: {e}\nbrowser console:\n{}", console.join("\n"));
        }
    }
}

#[test]
fn a_browser_customer_shares_a_screen_the_native_engine_decodes() {
    // A larger stack, as in the join test: the engine's and service's futures nest deeply.
    let thread = std::thread::Builder::new()
        .name("browser-share".into())
        .stack_size(16 * 1024 * 1024)
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(8 * 1024 * 1024)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(scenario());
        })
        .expect("scenario thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let svc = TestService::start(temp_dir("browser-share").join("t.db"), |c| {
        c.web_dir = web.clone();
    })
    .await;
    let url = ServiceUrl::parse(&svc.service.url).expect("service url");

    // The admin starts a session as the controlling CSR and invites a customer by code.
    let seat = url
        .start_session(&svc.admin, None, None)
        .await
        .expect("start session");
    let invitation = url
        .invite(&svc.admin, &seat.session_id, "customer")
        .await
        .expect("invite");
    let code = invitation["code"]
        .as_str()
        .expect("a short code")
        .to_owned();
    let config = EngineConfig {
        bind: vec!["127.0.0.1:0".into()],
        ..Default::default()
    };
    let (csr, mut events) = Engine::connect(&url, &seat, config)
        .await
        .expect("CSR connects");
    let csr_name = csr.welcome().roster.participants[0].name.clone();

    // The customer joins by code.
    let browser = Browser::start().await.expect("browser starts");
    let page = format!("{}/join.html", svc.service.url);
    check(&browser, "open join page", browser.goto(&page).await).await;
    let code_input = check(
        &browser,
        "code field",
        browser.wait_visible("#code", WAIT).await,
    )
    .await;
    browser
        .send_keys(&code_input, &code)
        .await
        .expect("type code");
    let name = browser.find("#name").await.expect("name field");
    browser
        .send_keys(&name, &format!("{CUSTOMER}\u{E007}"))
        .await
        .expect("type name and enter");
    check(
        &browser,
        "roster shows the CSR",
        browser.wait_text("#roster", &csr_name, WAIT).await,
    )
    .await;

    let roster = until(&mut events, "customer connected in the roster", |e| {
        matches!(e, EngineEvent::Roster(r) if r.participants.iter().any(|p| p.name == CUSTOMER && p.connected))
    })
    .await;
    let EngineEvent::Roster(roster) = roster else {
        unreachable!()
    };
    let entry = roster
        .participants
        .iter()
        .find(|p| p.name == CUSTOMER)
        .expect("the customer in the roster");
    assert_eq!(
        entry.role,
        Role::PrimaryCustomer,
        "the first customer is primary"
    );
    let customer: ParticipantId = entry.id;
    until(
        &mut events,
        "control channel to the browser",
        |e| matches!(e, EngineEvent::PeerOpen(p) if *p == customer),
    )
    .await;

    // The customer shares its screen: the activity starts, and the engine decodes pictures.
    let share = check(
        &browser,
        "share button",
        browser.wait_visible("#share", WAIT).await,
    )
    .await;
    browser.click(&share).await.expect("click share");
    until(&mut events, "customer_share started", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStarted { activity: Activity::CustomerShare, actor, .. }) if *actor == customer)
    })
    .await;
    let found = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            match e {
                EngineEvent::Screen { from, picture }
                    if from == customer && picture.0.width >= 320 && picture.0.height >= 180 =>
                {
                    return Ok((picture.0.width, picture.0.height));
                }
                EngineEvent::MediaError(m) => return Err(m),
                _ => {}
            }
        }
        Err("the engine's events ended".into())
    })
    .await;
    let (width, height) = match found {
        Ok(Ok(size)) => size,
        Ok(Err(why)) => panic!("no picture of the customer's screen: {why}"),
        Err(_) => {
            let console = browser.console_log().await;
            panic!(
                "the engine decoded no picture of the customer's screen (at least 320x180) \
                 within {WAIT:?}; the page says {:?}\nbrowser console:\n{}",
                browser.text_of("#sharing").await,
                console.join("\n")
            );
        }
    };
    eprintln!("the engine decoded the customer's screen at {width}x{height}");

    // The page says clearly who sees the screen.
    check(
        &browser,
        "sharing banner",
        browser
            .wait_text(
                "#sharing",
                &format!("Your screen is being shared with {csr_name}"),
                WAIT,
            )
            .await,
    )
    .await;
    let shot = browser
        .screenshot("share-sharing")
        .await
        .expect("screenshot");
    assert!(shot.is_file(), "no screenshot at {}", shot.display());

    // Stop sharing: the activity stops and the page says so.
    let stop = check(
        &browser,
        "stop button",
        browser.wait_visible("#share-stop", WAIT).await,
    )
    .await;
    browser.click(&stop).await.expect("click stop");
    until(&mut events, "customer_share stopped", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStopped { activity: Activity::CustomerShare, actor, .. }) if *actor == customer)
    })
    .await;
    until(&mut events, "a roster without customer_share", |e| {
        matches!(e, EngineEvent::Roster(r) if !r.activities.iter().any(|a| a.activity == Activity::CustomerShare))
    })
    .await;
    check(
        &browser,
        "share button back",
        browser.wait_visible("#share", WAIT).await,
    )
    .await;
    let banner_hidden = browser
        .execute(
            "return document.getElementById('sharing').hidden;",
            json!([]),
        )
        .await
        .expect("banner state");
    assert_eq!(
        banner_hidden,
        json!(true),
        "the sharing banner after stopping"
    );

    // The customer leaves.
    browser
        .click(&browser.find("#leave").await.expect("leave button"))
        .await
        .expect("click leave");
    until(&mut events, "the customer leaving", |e| {
        matches!(e, EngineEvent::Session(Event::ParticipantLeft { participant, reason: LeaveReason::Left }) if *participant == customer)
    })
    .await;
    check(
        &browser,
        "left page",
        browser.wait_text("#done", "You left", WAIT).await,
    )
    .await;

    drop(browser);
    drop(csr);
    svc.stop().await;
}
