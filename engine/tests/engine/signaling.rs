//! The engine's signaling side against a real service on loopback: a CSR and a customer join
//! through the engine, relay signaling, get refusals in words, and see the session end.

use std::time::Duration;
use tether_engine::EngineError;
use tether_engine::service::{Invitation, ServiceUrl};
use tether_engine::signaling::{Signaling, SignalingEvent};
use tether_protocol::{Command, EndReason, Event, Role, SignalData};
use tether_signaling::Service;
use tether_signaling::config::Config;
use tokio::sync::mpsc::Receiver;

async fn next_matching(
    events: &mut Receiver<SignalingEvent>,
    pred: impl Fn(&SignalingEvent) -> bool,
) -> SignalingEvent {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = events
                .recv()
                .await
                .expect("events keep coming until the end");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the expected event within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csr_and_customer_join_relay_and_end_through_the_engine() {
    let dir = std::env::temp_dir().join(format!("tether-engine-signaling-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let service = Service::start(Config::for_tests(dir.join("t.db")))
        .await
        .expect("service");
    let url = ServiceUrl::parse(&service.url).expect("url");
    let once = service.admin_password.clone().expect("first start");

    // The one-time password must be changed before anything else: the engine says so in words.
    let admin = url.sign_in("admin", &once).await.expect("sign in");
    let refused = url
        .start_session(&admin, None, None)
        .await
        .expect_err("password change first");
    assert!(
        matches!(&refused, EngineError::Service { status: 403, code, .. } if code == "password_change_required"),
        "{refused}"
    );
    let body = serde_json::json!({"current": once, "new": "a new admin password"});
    url.request("POST", "/api/v1/me/password", Some(&admin), Some(&body))
        .await
        .expect("password changed");

    let csr_seat = url
        .start_session(&admin, None, Some("ENG-1"))
        .await
        .expect("start");
    assert_eq!(
        (csr_seat.participant.0, csr_seat.role),
        (1, Role::Controller)
    );
    let invitation = url
        .invite(&admin, &csr_seat.session_id, "customer")
        .await
        .expect("invite");
    let code = invitation["code"].as_str().expect("a short code");
    let link = invitation["link"].as_str().expect("a link");
    assert_eq!(
        Invitation::parse(link),
        Some(Invitation::Token(
            invitation["token"].as_str().unwrap_or_default().into()
        ))
    );
    let customer_seat = url
        .join(&Invitation::parse(code).expect("code"), "Carl", None)
        .await
        .expect("join");
    assert_eq!(customer_seat.role, Role::PrimaryCustomer);
    let wrong = url
        .join(&Invitation::Code("1000-00000".into()), "Eve", None)
        .await
        .expect_err("wrong code");
    assert!(
        matches!(&wrong, EngineError::Service { status: 404, .. }),
        "{wrong}"
    );

    let (csr, welcome, mut csr_events) = Signaling::connect(&url, &csr_seat.token)
        .await
        .expect("csr connects");
    assert_eq!(welcome.role, Role::Controller);
    let (customer, welcome, mut customer_events) = Signaling::connect(&url, &customer_seat.token)
        .await
        .expect("customer connects");
    assert_eq!(
        (welcome.you, welcome.role),
        (customer_seat.participant, Role::PrimaryCustomer)
    );
    assert_eq!(welcome.roster.participants.len(), 2);

    // Signaling is relayed both ways.
    csr.signal(
        customer_seat.participant,
        SignalData::Offer {
            sdp: "v=0 offer".into(),
        },
    )
    .await
    .expect("send");
    let got = next_matching(&mut customer_events, |e| {
        matches!(e, SignalingEvent::Signal { .. })
    })
    .await;
    assert_eq!(
        got,
        SignalingEvent::Signal {
            from: csr_seat.participant,
            data: SignalData::Offer {
                sdp: "v=0 offer".into()
            }
        }
    );
    customer
        .signal(
            csr_seat.participant,
            SignalData::Answer {
                sdp: "v=0 answer".into(),
            },
        )
        .await
        .expect("send");
    let got = next_matching(&mut csr_events, |e| {
        matches!(e, SignalingEvent::Signal { .. })
    })
    .await;
    assert!(
        matches!(
            got,
            SignalingEvent::Signal {
                data: SignalData::Answer { .. },
                ..
            }
        ),
        "{got:?}"
    );

    // A refusal arrives as an event naming the rule; the connection stays usable.
    customer
        .command(Command::End {
            notes: String::new(),
        })
        .await
        .expect("send");
    let refused = next_matching(&mut customer_events, |e| {
        matches!(e, SignalingEvent::Refused { .. })
    })
    .await;
    assert!(
        matches!(&refused, SignalingEvent::Refused { code, .. } if code == "customers_cannot_end"),
        "{refused:?}"
    );

    // The controller ends the session: the customer sees the end and the close.
    csr.command(Command::End {
        notes: "done".into(),
    })
    .await
    .expect("send");
    let ended = next_matching(&mut customer_events, |e| {
        matches!(e, SignalingEvent::Ended { .. })
    })
    .await;
    assert_eq!(
        ended,
        SignalingEvent::Ended {
            reason: EndReason::Ended,
            notes: String::new()
        }
    );
    let closed = next_matching(&mut customer_events, |e| {
        matches!(e, SignalingEvent::Closed { .. })
    })
    .await;
    assert!(
        matches!(
            closed,
            SignalingEvent::Closed {
                code: Some(1000),
                ..
            }
        ),
        "{closed:?}"
    );
    let ended_for_csr = next_matching(&mut csr_events, |e| {
        matches!(e, SignalingEvent::Event(Event::SessionEnded { .. }))
    })
    .await;
    assert!(
        matches!(ended_for_csr, SignalingEvent::Event(Event::SessionEnded { ref notes, .. }) if notes == "done")
    );
    service.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
