//! Restarting the service on the same database file: sessions, records and live sessions
//! survive, and participants reconnect with their tokens.

use serde_json::json;
use tether_tests::{TestService, temp_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_records_survive_a_restart() {
    let db = temp_dir("restart").join("t.db");
    let svc = TestService::start(db.clone(), |_| {}).await;
    let ana = svc.csr("ana", "Ana").await;
    // An ended session and a live one.
    let (ended, ended_token) = svc
        .start_session(&ana, json!({"tracking_code": "OLD-1"}))
        .await;
    let mut a = svc.connect(&ended_token).await;
    a.send(json!({"type": "end", "notes": "done before restart"}))
        .await;
    a.until_closed().await;
    let (live, ana_token) = svc
        .start_session(&ana, json!({"tracking_code": "LIVE-2"}))
        .await;
    let inv = svc.invite(&ana, &live, "customer").await;
    let carl_token = svc
        .join_ok(json!({"token": inv["token"]}), "Carl", None)
        .await;
    let pending = svc.invite(&ana, &live, "customer").await;
    let (_, before) = svc
        .http("GET", &format!("/api/v1/sessions/{live}"), Some(&ana), None)
        .await;
    svc.stop().await;

    let svc = TestService::start(db, |_| {}).await;
    assert!(
        svc.service.admin_password.is_none(),
        "no second bootstrap admin"
    );
    let ana = tether_tests::login_with(svc.addr, "ana", "ana password 123").await;
    let (_, list) = svc.http("GET", "/api/v1/sessions", Some(&ana), None).await;
    let codes: Vec<_> = list["sessions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["tracking_code"].clone())
        .collect();
    assert_eq!(codes.len(), 2, "{list}");
    assert!(codes.contains(&json!("OLD-1")) && codes.contains(&json!("LIVE-2")));
    let (_, old) = svc
        .http(
            "GET",
            &format!("/api/v1/sessions/{ended}"),
            Some(&ana),
            None,
        )
        .await;
    assert_eq!(old["notes"], "done before restart");
    let (_, after) = svc
        .http("GET", &format!("/api/v1/sessions/{live}"), Some(&ana), None)
        .await;
    let n = before["events"].as_array().map_or(0, Vec::len);
    assert_eq!(
        after["events"].as_array().map(|e| e[..n].to_vec()),
        before["events"].as_array().cloned(),
        "record kept"
    );
    assert_eq!(after["session"]["live"], true);

    // Participants come back with their tokens and roles; an invitation made before the
    // restart still admits someone.
    let mut a = svc.connect(&ana_token).await;
    let c = svc.connect(&carl_token).await;
    assert_eq!((a.role(), c.role()), ("controller", "primary_customer"));
    let dora = svc
        .join_ok(json!({"code": pending["code"]}), "Dora", None)
        .await;
    let d = svc.connect(&dora).await;
    assert_eq!(d.role(), "customer");
    a.send(json!({"type": "end", "notes": "done after restart"}))
        .await;
    a.until_closed().await;
    let (_, done) = svc
        .http("GET", &format!("/api/v1/sessions/{live}"), Some(&ana), None)
        .await;
    assert_eq!(
        (done["session"]["live"].clone(), done["notes"].clone()),
        (json!(false), json!("done after restart"))
    );
    svc.stop().await;
}
