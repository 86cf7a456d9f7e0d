//! A browser customer shares its screen: a CSR engine invites by code, the customer joins on the
//! join page, clicks "Share my screen" (the browser's picker is its consent; Chromium's fake UI
//! picks a screen), the page starts `customer_share` and sends the capture as H.264 on the screen
//! transceiver, the native engine decodes pictures of it, then "Stop sharing" stops the activity
//! and the customer leaves.

use crate::common::*;
use serde_json::json;
use tether_engine::EngineEvent;
use tether_protocol::{Activity, Event, LeaveReason, ParticipantId, Role};
use tether_tests::browser::Browser;

/// The customer's name on the page.
const CUSTOMER: &str = "Dora Lima";

#[test]
fn a_browser_customer_shares_a_screen_the_native_engine_decodes() {
    // A larger stack, as in the join test: the engine's and service's futures nest deeply.
    crate::common::run("share", scenario);
}

async fn scenario() {
    // The admin starts a session as the controlling CSR, invites a customer and connects.
    let Invited {
        svc,
        code,
        csr,
        mut events,
    } = csr_invites_a_customer("browser-share").await;
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
