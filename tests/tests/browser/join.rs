//! The customer join page in a real browser: a CSR engine invites by code; the browser customer
//! joins with the code and a name, opens the WebRTC mesh to the engine, chats both ways, is
//! asked for consent (denies, then allows and revokes), is pointed to the helper when asked for
//! control, and leaves.

use crate::common::*;
use serde_json::json;
use tether_engine::EngineEvent;
use tether_protocol::{Capability, Command, Event, LeaveReason, ParticipantId, Role};
use tether_tests::browser::Browser;

#[test]
fn customer_joins_by_code_chats_answers_consent_and_leaves() {
    // The scenario runs on a thread with a larger stack: polling this many nested futures of
    // the engine and the service overflows a test thread's stack in debug builds.
    crate::common::run("join", scenario);
}

async fn scenario() {
    // The admin starts a session as the controlling CSR, invites a customer and connects.
    let Invited {
        svc,
        code,
        csr,
        mut events,
    } = csr_invites_a_customer("browser-join").await;
    let csr_name = csr.welcome().roster.participants[0].name.clone();

    // The customer opens the join page.
    let browser = Browser::start().await.expect("browser starts");
    let page = format!("{}/join.html", svc.service.url);
    check(&browser, "open join page", browser.goto(&page).await).await;
    let code_input = check(
        &browser,
        "code field",
        browser.wait_visible("#code", WAIT).await,
    )
    .await;
    let before = check(
        &browser,
        "screenshot",
        browser.screenshot("join-before").await,
    )
    .await;
    assert!(before.is_file(), "no screenshot at {}", before.display());

    // A wrong code is refused in words.
    browser.send_keys(&code_input, "12").await.expect("type");
    let name = browser.find("#name").await.expect("name field");
    browser.send_keys(&name, "Carla Souza").await.expect("type");
    browser
        .click(&browser.find("#join-button").await.expect("join button"))
        .await
        .expect("click");
    let shown = browser.wait_text("#error", "nine digits", WAIT).await;
    check(&browser, "wrong code refused", shown).await;

    // The right code joins.
    browser
        .execute("document.getElementById('code').value = '';", json!([]))
        .await
        .expect("clear");
    browser
        .send_keys(&code_input, &code)
        .await
        .expect("type code");
    browser.send_keys(&name, "\u{E007}").await.expect("enter");
    check(
        &browser,
        "roster shows the CSR",
        browser.wait_text("#roster", &csr_name, WAIT).await,
    )
    .await;
    check(
        &browser,
        "roster shows me",
        browser
            .wait_text("#roster", "Carla Souza (you)", WAIT)
            .await,
    )
    .await;

    // The CSR engine sees the customer connected, then its control channel opens.
    let roster = until(&mut events, "customer connected in the roster", |e| {
        matches!(e, EngineEvent::Roster(r) if r.participants.iter().any(|p| p.name == "Carla Souza" && p.connected))
    })
    .await;
    let EngineEvent::Roster(roster) = roster else {
        unreachable!()
    };
    let carla = roster
        .participants
        .iter()
        .find(|p| p.name == "Carla Souza")
        .expect("Carla in the roster");
    assert_eq!(
        carla.role,
        Role::PrimaryCustomer,
        "the first customer is primary"
    );
    let carla: ParticipantId = carla.id;
    until(
        &mut events,
        "control channel to the browser",
        |e| matches!(e, EngineEvent::PeerOpen(p) if *p == carla),
    )
    .await;
    check(
        &browser,
        "role shown",
        browser.wait_text("#roster", "customer (main)", WAIT).await,
    )
    .await;

    // Chat from the CSR reaches the page, with the sender's name.
    csr.chat(&[], "Hello Carla, I can see you joined.")
        .await
        .expect("CSR chat");
    check(
        &browser,
        "chat received",
        browser
            .wait_text("#chat-log", "Hello Carla, I can see you joined.", WAIT)
            .await,
    )
    .await;
    check(
        &browser,
        "sender named",
        browser.wait_text("#chat-log", &csr_name, WAIT).await,
    )
    .await;

    // Chat from the page reaches the CSR.
    let input = browser.find("#chat-text").await.expect("chat field");
    browser
        .send_keys(&input, "My printer is offline\u{E007}")
        .await
        .expect("type chat");
    let line = until(
        &mut events,
        "chat from the browser",
        |e| matches!(e, EngineEvent::Chat(l) if l.from == carla),
    )
    .await;
    let EngineEvent::Chat(line) = line else {
        unreachable!()
    };
    assert_eq!(line.text, "My printer is offline");
    assert!(line.to.is_empty(), "a line to everyone: {line:?}");
    check(
        &browser,
        "own line shown",
        browser
            .wait_text("#chat-log", "My printer is offline", WAIT)
            .await,
    )
    .await;
    browser
        .screenshot("join-in-session")
        .await
        .expect("screenshot");
    browser.resize(420, 900).await.expect("narrow window");
    let chat_width = browser
        .execute(
            "return document.getElementById('chat-text').getBoundingClientRect().right;",
            json!([]),
        )
        .await
        .expect("measure");
    assert!(
        chat_width.as_f64().is_some_and(|r| r <= 420.0),
        "the chat field overflows a narrow window: {chat_width}"
    );
    browser.screenshot("join-narrow").await.expect("screenshot");
    browser.resize(1100, 850).await.expect("wide window");

    // The CSR asks for system information; the customer denies.
    let ask = Command::RequestConsent {
        customer: carla,
        capability: Capability::SystemInfo,
    };
    csr.command(ask.clone()).await.expect("request consent");
    check(
        &browser,
        "consent prompt",
        browser
            .wait_text("#consent-prompts", "system information", WAIT)
            .await,
    )
    .await;
    browser
        .screenshot("join-consent-prompt")
        .await
        .expect("screenshot");
    let deny = browser
        .wait_visible("[data-consent=system_info] [data-answer=deny]", WAIT)
        .await
        .expect("deny button");
    browser.click(&deny).await.expect("click deny");
    until(&mut events, "consent denied", |e| {
        matches!(e, EngineEvent::Session(Event::ConsentAnswered { customer, capability: Capability::SystemInfo, granted: false }) if *customer == carla)
    })
    .await;

    // Asked again, the customer allows, then revokes.
    csr.command(ask).await.expect("request consent again");
    let allow = browser
        .wait_visible("[data-consent=system_info] [data-answer=allow]", WAIT)
        .await
        .expect("allow button");
    browser.click(&allow).await.expect("click allow");
    until(&mut events, "consent granted", |e| {
        matches!(
            e,
            EngineEvent::Session(Event::ConsentAnswered {
                capability: Capability::SystemInfo,
                granted: true,
                ..
            })
        )
    })
    .await;
    let revoke = browser
        .wait_visible("[data-revoke=system_info]", WAIT)
        .await
        .expect("revoke button");
    browser.click(&revoke).await.expect("click revoke");
    until(&mut events, "consent revoked", |e| {
        matches!(e, EngineEvent::Session(Event::ConsentRevoked { customer, capability: Capability::SystemInfo }) if *customer == carla)
    })
    .await;

    // Control: a web page can't be controlled, so the page explains the helper, offers this
    // server's download, and can only decline.
    csr.command(Command::RequestConsent {
        customer: carla,
        capability: Capability::RemoteControl,
    })
    .await
    .expect("ask for control");
    let link = check(
        &browser,
        "helper download offered",
        browser
            .wait_visible("[data-consent=remote_control] [data-helper-download]", WAIT)
            .await,
    )
    .await;
    assert!(
        browser
            .text(&link)
            .await
            .expect("link text")
            .contains("Download the helper"),
    );
    let size = browser
        .execute(
            "const a = document.querySelector('[data-helper-download]');
             return fetch(a.href).then((r) => r.blob()).then((b) => b.size);",
            json!([]),
        )
        .await
        .expect("download the helper");
    let expected = std::fs::metadata(helper_binary()).expect("helper").len();
    assert_eq!(size.as_u64(), Some(expected), "the download is the helper");
    shows(&browser, "[data-consent=remote_control]", "tether-helper").await;
    browser
        .execute(
            "document.getElementById('consents').scrollIntoView();",
            json!([]),
        )
        .await
        .expect("scroll to the prompt");
    browser
        .screenshot("join-control-needs-helper")
        .await
        .expect("screenshot");
    click(&browser, "[data-consent=remote_control] [data-answer=deny]").await;
    until(&mut events, "control declined", |e| {
        matches!(e, EngineEvent::Session(Event::ConsentAnswered { customer, capability: Capability::RemoteControl, granted: false }) if *customer == carla)
    })
    .await;

    // The customer leaves.
    browser
        .click(&browser.find("#leave").await.expect("leave button"))
        .await
        .expect("click leave");
    until(&mut events, "the customer leaving", |e| {
        matches!(e, EngineEvent::Session(Event::ParticipantLeft { participant, reason: LeaveReason::Left }) if *participant == carla)
    })
    .await;
    until(
        &mut events,
        "the control channel closing",
        |e| matches!(e, EngineEvent::PeerClosed(p) if *p == carla),
    )
    .await;
    check(
        &browser,
        "left page",
        browser.wait_text("#done", "You left", WAIT).await,
    )
    .await;
    let status = browser.text_of("#status").await.expect("status");
    assert_eq!(status, "Not in a session", "the status line after leaving");
    browser
        .screenshot("join-after-leaving")
        .await
        .expect("screenshot");

    drop(browser);
    drop(csr);
    svc.stop().await;
}
