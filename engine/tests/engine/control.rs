//! Remote control of a customer's machine over real peers, on the test command's Xvfb display:
//! input from the controlling CSR moves the pointer and types on the customer's display only
//! while the customer allows control; nothing is injected before consent, after a revoke, or
//! from a CSR who does not control.

use crate::common::{consent, loopback, mesh_open, service, session_with, start_activity, until};
use crate::xdisplay::Display;
use std::time::Duration;
use tether_engine::service::Invitation;
use tether_engine::{Engine, EngineEvent};
use tether_protocol::{Activity, Capability, InputEvent, ParticipantId};

async fn refused(
    events: &mut tokio::sync::mpsc::Receiver<EngineEvent>,
    from: ParticipantId,
    part: &str,
) {
    let e = until(
        events,
        "input refused",
        |e| matches!(e, EngineEvent::InputRefused { from: f, .. } if *f == from),
    )
    .await;
    assert!(
        matches!(&e, EngineEvent::InputRefused { reason, .. } if reason.contains(part)),
        "{e:?}"
    );
}

fn moved(x: f64, y: f64) -> InputEvent {
    InputEvent::PointerMove { x, y }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_is_injected_only_while_the_customer_allows_control() {
    let x = Display::open();
    let _turn = x.turn().await;
    let (service, url, admin) = service("control").await;
    let (session_id, (csr, mut csr_ev), mut customers) =
        session_with(&url, &admin, &["Carl"]).await;
    let (carl, mut carl_ev) = customers.remove(0);
    let c = carl.me();

    // Bea, a second CSR with her own account, joins: she may view, never control.
    let account = serde_json::json!({"username": "bea", "display_name": "Bea", "password": "bea password 123"});
    url.request("POST", "/api/v1/admin/csrs", Some(&admin), Some(&account))
        .await
        .expect("account");
    let bea_token = url
        .sign_in("bea", "bea password 123")
        .await
        .expect("sign in");
    let inv = url
        .invite(&admin, &session_id, "csr")
        .await
        .expect("invite");
    let token = Invitation::Token(inv["token"].as_str().expect("token").to_owned());
    let bea_seat = url
        .join(&token, "Bea", Some(&bea_token))
        .await
        .expect("join");
    let (bea, mut bea_ev) = Engine::connect(&url, &bea_seat, loopback())
        .await
        .expect("bea");
    mesh_open(&mut bea_ev, &[csr.me(), c]).await;
    mesh_open(&mut carl_ev, &[bea.me()]).await;

    // No consent yet: Carl's endpoint injects nothing.
    x.warp(10, 10);
    csr.send_input(c, moved(0.5, 0.5)).await.expect("sent");
    refused(&mut carl_ev, csr.me(), "not allowed").await;
    assert_eq!(x.pointer(), (10, 10), "moved without consent");

    // Carl allows control and the controller starts it: pointer moves land where sent.
    consent(
        (&csr, &mut csr_ev),
        (&carl, &mut carl_ev),
        Capability::RemoteControl,
        true,
    )
    .await;
    start_activity(&csr, &mut carl_ev, Activity::ControlDesktop).await;
    for (px, py) in [(0.25, 0.5), (0.0, 0.0), (0.75, 0.125)] {
        csr.send_input(c, moved(px, py)).await.expect("sent");
        x.pointer_reaches(x.at(px, py)).await;
    }

    // Keys reach a small X client that has the focus.
    let _listener = x.key_listener();
    for event in [
        InputEvent::KeyDown {
            code: "KeyQ".into(),
        },
        InputEvent::KeyUp {
            code: "KeyQ".into(),
        },
    ] {
        csr.send_input(c, event).await.expect("key");
    }
    let q = x.keycode_of(u32::from(b'q'));
    let keys = x.pressed(Duration::from_millis(1500)).await;
    assert_eq!(keys, vec![q], "the key press arrived once");

    // Bea does not control: her input is refused, the pointer stays.
    let before = x.pointer();
    bea.send_input(c, moved(0.9, 0.9)).await.expect("sent");
    refused(
        &mut carl_ev,
        bea.me(),
        "not running for this support representative",
    )
    .await;
    assert_eq!(x.pointer(), before, "moved by a CSR without control");

    // Carl revokes: injection stops at once, whatever the controller sends.
    carl.revoke_consent(Capability::RemoteControl)
        .await
        .expect("revoke");
    csr.send_input(c, moved(0.9, 0.9)).await.expect("sent");
    refused(&mut carl_ev, csr.me(), "not allowed").await;
    assert_eq!(x.pointer(), before, "moved after the revoke");

    drop((csr, carl, bea));
    service.stop().await;
}
