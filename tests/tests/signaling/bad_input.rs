//! Bad input on the WebSocket: each case gets an error naming the problem, and the connection
//! and the service keep working.

use serde_json::json;
use tether_tests::{Client, TestService, temp_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_oversized_and_misaddressed_messages_get_errors() {
    let svc = TestService::start(temp_dir("bad").join("t.db"), |_| {}).await;
    let ana = svc.csr("ana", "Ana").await;
    // Session A: Ana and customer Carl (participants 1, 2).
    let (sa, ana_token) = svc.start_session(&ana, json!({})).await;
    let inv = svc.invite(&ana, &sa, "customer").await;
    let carl_token = svc
        .join_ok(json!({"token": inv["token"]}), "Carl", None)
        .await;
    // Session B: Ana again and two customers (participants 1, 2, 3).
    let (sb, ana_b_token) = svc.start_session(&ana, json!({})).await;
    let mut other_tokens = Vec::new();
    for name in ["Uma", "Vic"] {
        let inv = svc.invite(&ana, &sb, "customer").await;
        other_tokens.push(
            svc.join_ok(json!({"token": inv["token"]}), name, None)
                .await,
        );
    }
    let mut a = svc.connect(&ana_token).await;
    let mut c = svc.connect(&carl_token).await;
    let mut ab = svc.connect(&ana_b_token).await;
    let mut vic = svc.connect(&other_tokens[1]).await;
    assert_eq!(vic.id, 3);

    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("not json", "{not json".into(), "malformed", "not JSON"),
        ("no type", r#"{"to": 2}"#.into(), "malformed", "\"type\""),
        (
            "unknown type",
            r#"{"type": "teleport"}"#.into(),
            "unknown_type",
            "teleport",
        ),
        (
            "bad field",
            r#"{"type": "make_primary", "customer": "x"}"#.into(),
            "malformed",
            "customer",
        ),
        (
            "missing field",
            r#"{"type": "signal", "to": 1}"#.into(),
            "malformed",
            "data",
        ),
        (
            "oversized",
            format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(70_000)),
            "too_large",
            "65536",
        ),
        (
            "second hello",
            r#"{"type": "hello", "version": 1, "token": "x"}"#.into(),
            "already_greeted",
            "hello",
        ),
        // Participant 3 exists only in session B: from session A it is nobody.
        (
            "other session",
            r#"{"type":"signal","to":3,"data":{"kind":"offer","sdp":"x"}}"#.into(),
            "unknown_participant",
            "participant 3",
        ),
        (
            "to self",
            r#"{"type":"signal","to":2,"data":{"kind":"offer","sdp":"x"}}"#.into(),
            "self_target",
            "yourself",
        ),
        (
            "rule",
            r#"{"type": "make_primary", "customer": 2}"#.into(),
            "csr_only",
            "support representative",
        ),
    ];
    for (case, text, code, mentions) in cases {
        c.send_text(text).await;
        let e = c.expect(case, |m| m["type"] == "error").await;
        assert_eq!(e["code"], code, "{case}: {e}");
        let message = e["message"].as_str().unwrap_or("");
        assert!(
            message.contains(mentions),
            "{case}: {message:?} should mention {mentions:?}"
        );
    }
    c.send_binary(vec![1, 2, 3]).await;
    c.expect_error("malformed").await;

    // The connection still works, and nothing leaked into session B.
    assert!(c.until_pong().await.iter().all(|m| m["type"] != "signal"));
    assert!(vic.until_pong().await.iter().all(|m| m["type"] != "signal"));
    assert!(ab.until_pong().await.iter().all(|m| m["type"] != "signal"));
    // Relays inside a session still work after all of it.
    c.send(json!({"type": "signal", "to": 1, "data": {"kind": "end_of_candidates"}}))
        .await;
    let got = a.expect("relay", |m| m["type"] == "signal").await;
    assert_eq!(got["data"]["kind"], "end_of_candidates");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_is_required_versioned_and_authenticated() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let svc = TestService::start(temp_dir("hello").join("t.db"), |_| {}).await;
    let ana = svc.csr("ana", "Ana").await;
    let (_, token) = svc.start_session(&ana, json!({})).await;
    let cases = [
        (json!({"type": "ping", "id": 1}), "hello_required"),
        (
            json!({"type": "hello", "version": 2, "token": token}),
            "unsupported_version",
        ),
        (
            json!({"type": "hello", "version": 1, "token": "guessed"}),
            "unauthorized",
        ),
    ];
    for (first, code) in cases {
        let mut ws = Client::raw(svc.addr).await;
        ws.send(Message::Text(first.to_string().into()))
            .await
            .expect("send");
        let reply = ws.next().await.expect("a reply").expect("a frame");
        let reply: serde_json::Value =
            serde_json::from_str(reply.to_text().expect("text")).expect("json");
        assert_eq!(reply["code"], code, "{reply}");
        match ws.next().await {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1008),
            other => panic!("expected a close after a refused hello, got {other:?}"),
        }
    }
    // The right hello still works.
    let c = svc.connect(&token).await;
    assert_eq!(c.role(), "controller");
    svc.stop().await;
}
