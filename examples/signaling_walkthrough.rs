//! A whole support session through the signaling service on loopback, printed step by step.

use serde_json::{Value, json};
use tether_tests::{TestService, str_at, temp_dir};

fn show(step: &str, detail: impl std::fmt::Display) {
    println!("{step:<44} {detail}");
}

#[tokio::main]
async fn main() {
    let dir = temp_dir("walkthrough");
    let svc = TestService::start(dir.join("walkthrough.db"), |_| {}).await;
    show("service listening on", format!("http://{}", svc.addr));

    let ana = svc.csr("ana", "Ana (support)").await;
    show("CSR signed in", "ana");
    let (session, ana_token) = svc
        .start_session(&ana, json!({"tracking_code": "CASE-42"}))
        .await;
    show("session started", &session);

    let invitation = svc.invite(&ana, &session, "customer").await;
    show("customer invited: link", str_at(&invitation, "/link"));
    show(
        "customer invited: code to read out",
        str_at(&invitation, "/code"),
    );
    let carl_token = svc
        .join_ok(json!({"code": invitation["code"]}), "Carl", None)
        .await;

    let mut a = svc.connect(&ana_token).await;
    let mut c = svc.connect(&carl_token).await;
    show("Ana connected as", a.role());
    show("Carl joined by code and connected as", c.role());

    a.send(json!({"type": "signal", "to": c.id, "data": {"kind": "offer", "sdp": "v=0 (offer)"}}))
        .await;
    let offer = c.expect("offer", |m| m["type"] == "signal").await;
    show("Carl received, relayed from Ana", &offer["data"]);
    c.send(
        json!({"type": "signal", "to": a.id, "data": {"kind": "answer", "sdp": "v=0 (answer)"}}),
    )
    .await;
    let answer = a.expect("answer", |m| m["type"] == "signal").await;
    show("Ana received, relayed from Carl", &answer["data"]);

    a.send(json!({"type": "request_consent", "customer": c.id, "capability": "remote_view"}))
        .await;
    let asked = c.expect_event("consent_requested").await;
    show("Carl is asked for consent", &asked["capability"]);
    c.send(json!({"type": "answer_consent", "capability": "remote_view", "granted": true}))
        .await;
    a.expect_event("consent_answered").await;
    a.send(json!({"type": "start_activity", "activity": "view_desktop"}))
        .await;
    let started = a.expect_event("activity_started").await;
    show("Ana views Carl's desktop", &started);

    c.send(json!({"type": "end", "notes": "all good"})).await;
    let refused = c.expect("refusal", |m| m["type"] == "error").await;
    show("Carl tries to end the session", &refused["message"]);

    a.send(json!({"type": "end", "notes": "Printer driver reinstalled."}))
        .await;
    let (closed, _) = c.until_closed().await;
    show(
        "Ana ended the session; Carl's connection",
        format!("closed ({:?}, {:?})", closed.code, closed.reason),
    );

    let (_, record) = svc
        .http(
            "GET",
            &format!("/api/v1/sessions/{session}"),
            Some(&ana),
            None,
        )
        .await;
    println!(
        "\nsession record ({} events):",
        record["events"].as_array().map_or(0, Vec::len)
    );
    for entry in record["events"].as_array().into_iter().flatten() {
        let event: &Value = &entry["event"];
        println!("  #{:<3} {}", entry["seq"], event);
    }
    println!("notes: {}", record["notes"]);
    svc.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
