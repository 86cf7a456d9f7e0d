//! Connection life: slow consumers are cut off with a reason, silent connections time out,
//! participants reconnect within the grace period keeping their role, and time out after it.

use serde_json::json;
use std::time::Duration;
use tether_tests::{Client, TestService, temp_dir};

/// A customer and its controller in a fresh session; returns (controller, customer, customer token).
async fn pair(svc: &TestService) -> (Client, Client, String) {
    let ana = svc.csr("ana", "Ana").await;
    let (session, ana_token) = svc.start_session(&ana, json!({})).await;
    let inv = svc.invite(&ana, &session, "customer").await;
    let token = svc
        .join_ok(json!({"token": inv["token"]}), "Carl", None)
        .await;
    let a = svc.connect(&ana_token).await;
    let c = svc.connect(&token).await;
    (a, c, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_with_a_reason() {
    let svc = TestService::start(temp_dir("slow").join("t.db"), |c| c.outgoing_queue = 8).await;
    let (mut a, mut c, _) = pair(&svc).await;
    // Carl stops reading. Ana floods him with large offers until the service gives up on him.
    let sdp = "a".repeat(60_000);
    let offer =
        json!({"type": "signal", "to": c.id, "data": {"kind": "offer", "sdp": sdp}}).to_string();
    let mut seen = Vec::new();
    for _ in 0..2_000 {
        a.send_text(offer.clone()).await;
        // A fence every so often: once Carl is gone, relays to him are refused.
        seen.extend(a.until_pong().await);
        if seen
            .iter()
            .any(|m| m["type"] == "error" && m["code"] == "not_connected")
        {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|m| m["type"] == "error" && m["code"] == "not_connected"),
        "the service kept queueing for a client that does not read"
    );
    let carl_down = |m: &serde_json::Value| {
        m["type"] == "roster"
            && m["roster"]["participants"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["id"] == c.id && p["connected"] == false)
            })
    };
    if !seen.iter().any(carl_down) {
        a.expect("roster without Carl connected", carl_down).await;
    }
    // Carl, reading at last, finds his connection closed (with the reason when the close
    // frame got through before the socket was dropped).
    let (closed, _) = c.until_closed().await;
    if let Some(code) = closed.code {
        assert_eq!(
            (code, closed.reason.as_str()),
            (1008, "slow consumer: outgoing queue full")
        );
    }
    // The service still serves Ana.
    assert!(a.until_pong().await.iter().all(|m| m["type"] != "error"));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_three_heartbeats() {
    let svc =
        TestService::start(temp_dir("heartbeat").join("t.db"), |c| c.heartbeat_secs = 1).await;
    let (mut a, mut c, _) = pair(&svc).await;
    assert_eq!(c.welcome["heartbeat_ms"], 1000);
    // Carl does not read, so he answers no pings; after ~3 s the service closes him and tells
    // the others.
    let carl = c.id;
    let gone = a.expect("Carl disconnected", |m| {
        m["event"]["type"] == "connection_changed"
            && m["event"]["participant"] == carl
            && m["event"]["connected"] == false
    });
    tokio::time::timeout(Duration::from_secs(6), gone)
        .await
        .expect("closed within three heartbeats");
    // Reading at last, Carl's client finds the connection closed. (The client library writes
    // its queued pongs before reading, so it may fail on the closed socket before it sees the
    // close frame; when the frame gets through it carries the reason.)
    let (closed, _) = c.until_closed().await;
    if let Some(code) = closed.code {
        assert_eq!(
            (code, closed.reason.as_str()),
            (1008, "no heartbeat: connection idle too long")
        );
    }
    // Ana, whose client answers pings while reading, is still connected.
    assert!(a.until_pong().await.iter().all(|m| m["type"] != "error"));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_within_the_grace_period_keeps_the_role_and_after_it_times_out() {
    let svc = TestService::start(temp_dir("grace").join("t.db"), |c| {
        c.reconnect_grace_secs = 2
    })
    .await;
    let (mut a, c, token) = pair(&svc).await;
    let carl = c.id;
    drop(c);
    let down = a.expect("Carl disconnected", |m| {
        m["event"]["type"] == "connection_changed" && m["event"]["connected"] == false
    });
    assert_eq!(down.await["event"]["participant"], carl);
    // Back within the grace period: same participant, same role.
    let c = svc.connect(&token).await;
    assert_eq!((c.id, c.role()), (carl, "primary_customer"));
    // A second connection with the same token replaces the first.
    let mut c2 = svc.connect(&token).await;
    let mut c = c;
    let (closed, _) = c.until_closed().await;
    assert_eq!(
        closed.reason,
        "replaced by a newer connection of the same participant"
    );
    assert!(c2.until_pong().await.iter().all(|m| m["type"] != "error"));
    // Gone for longer than the grace period: Carl times out and leaves.
    drop(c2);
    let left = a.expect_event("participant_left").await;
    assert_eq!(
        (left["participant"].clone(), left["reason"].clone()),
        (json!(carl), json!("timed_out"))
    );
    // His token no longer admits him.
    let mut ws = Client::raw(svc.addr).await;
    use futures_util::{SinkExt, StreamExt};
    let hello = json!({"type": "hello", "version": 1, "token": token}).to_string();
    ws.send(tokio_tungstenite::tungstenite::Message::Text(hello.into()))
        .await
        .expect("send");
    let reply = ws.next().await.expect("reply").expect("frame");
    assert!(
        reply.to_text().expect("text").contains("not_in_session"),
        "{reply:?}"
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_who_joins_but_never_connects_times_out() {
    let svc = TestService::start(temp_dir("ghost").join("t.db"), |c| {
        c.reconnect_grace_secs = 1
    })
    .await;
    let ana = svc.csr("ana", "Ana").await;
    let (session, ana_token) = svc.start_session(&ana, json!({})).await;
    let mut a = svc.connect(&ana_token).await;
    let inv = svc.invite(&ana, &session, "customer").await;
    let (status, joined) = svc
        .join(json!({"token": inv["token"]}), "Ghost", None)
        .await;
    assert_eq!(status, 201, "{joined}");
    // The ghost was primary; after the grace period it leaves and nobody is primary.
    let left = a.expect_event("participant_left").await;
    assert_eq!(
        (left["participant"].clone(), left["reason"].clone()),
        (json!(2), json!("timed_out"))
    );
    let changed = a.expect_event("primary_changed").await;
    assert_eq!(changed["primary"], serde_json::Value::Null);
    svc.stop().await;
}
