//! Two CSRs and two customers run a whole session over WebSockets, and the record holds it all.

use serde_json::{Value, json};
use tether_tests::{Client, TestService, str_at, temp_dir};

fn events_of(record: &Value) -> Vec<Value> {
    record["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

fn count(events: &[Value], kind: &str) -> usize {
    events.iter().filter(|e| e["type"] == kind).count()
}

fn signals(messages: &[Value]) -> Vec<&Value> {
    messages.iter().filter(|m| m["type"] == "signal").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_csrs_two_customers_run_a_whole_session() {
    let svc = TestService::start(temp_dir("whole").join("t.db"), |_| {}).await;
    let ana = svc.csr("ana", "Ana").await;
    let bea = svc.csr("bea", "Bea").await;

    // Ana starts a session and invites: Carl by link token, Dora by short code, Bea as CSR.
    let (session, ana_token) = svc
        .start_session(&ana, json!({"tracking_code": "T-1001"}))
        .await;
    let carl_inv = svc.invite(&ana, &session, "customer").await;
    let dora_inv = svc.invite(&ana, &session, "customer").await;
    let bea_inv = svc.invite(&ana, &session, "csr").await;
    assert!(str_at(&carl_inv, "/link").ends_with(&str_at(&carl_inv, "/token")));

    let mut a = svc.connect(&ana_token).await;
    assert_eq!(a.role(), "controller");
    let carl_token = svc
        .join_ok(json!({"token": carl_inv["token"]}), "Carl", None)
        .await;
    let dora_token = svc
        .join_ok(json!({"code": dora_inv["code"]}), "Dora", None)
        .await;
    let bea_token = svc
        .join_ok(json!({"token": bea_inv["token"]}), "Bea", Some(&bea))
        .await;
    let mut c = svc.connect(&carl_token).await;
    let mut d = svc.connect(&dora_token).await;
    let mut b = svc.connect(&bea_token).await;
    assert_eq!(
        (c.role(), d.role(), b.role()),
        ("primary_customer", "customer", "csr")
    );
    let (ana_id, bea_id, carl_id, dora_id) = (a.id, b.id, c.id, d.id);

    // Everyone sees the same roster of four.
    let roster = b.welcome["roster"].clone();
    assert_eq!(
        roster["participants"].as_array().map(Vec::len),
        Some(4),
        "{roster}"
    );
    assert_eq!(roster["controller"], ana_id);
    assert_eq!(roster["primary"], carl_id);

    // Rule 3: Ana makes Dora primary; Carl becomes secondary and is told so.
    a.send(json!({"type": "make_primary", "customer": dora_id}))
        .await;
    let changed = c.expect_event("primary_changed").await;
    assert_eq!(
        (changed["previous"].clone(), changed["primary"].clone()),
        (json!(carl_id), json!(dora_id))
    );
    let roster = c.expect("roster", |m| m["type"] == "roster").await;
    let carl_role = roster["roster"]["participants"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["id"] == carl_id))
        .map(|p| p["role"].clone());
    assert_eq!(carl_role, Some(json!("customer")));

    // Offer, answer and candidates reach exactly the named participant.
    a.send(json!({"type": "signal", "to": dora_id, "data": {"kind": "offer", "sdp": "v=0 offer"}}))
        .await;
    let offer = d.expect("offer", |m| m["type"] == "signal").await;
    assert_eq!(
        offer,
        json!({"type": "signal", "from": ana_id, "data": {"kind": "offer", "sdp": "v=0 offer"}})
    );
    d.send(
        json!({"type": "signal", "to": ana_id, "data": {"kind": "answer", "sdp": "v=0 answer"}}),
    )
    .await;
    let cand = json!({"kind": "candidate", "candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdp_mid": "0", "sdp_m_line_index": 0});
    d.send(json!({"type": "signal", "to": ana_id, "data": cand}))
        .await;
    a.send(json!({"type": "signal", "to": dora_id, "data": cand}))
        .await;
    let answer = a.expect("answer", |m| m["type"] == "signal").await;
    assert_eq!(answer["data"]["kind"], "answer");
    assert_eq!(answer["from"], dora_id);
    assert_eq!(
        a.expect("candidate", |m| m["type"] == "signal").await["data"],
        cand
    );
    assert_eq!(
        d.expect("candidate", |m| m["type"] == "signal").await["data"],
        cand
    );
    // Fences: nothing relayed reached Bea or Carl.
    assert!(signals(&b.until_pong().await).is_empty());
    assert!(signals(&c.until_pong().await).is_empty());

    // Rule 12 through the service: Ana asks Dora, Dora allows, Ana views Dora's desktop.
    a.send(json!({"type": "start_activity", "activity": "view_desktop"}))
        .await;
    a.expect_error("consent_required").await;
    a.send(json!({"type": "request_consent", "customer": dora_id, "capability": "remote_view"}))
        .await;
    let asked = d.expect_event("consent_requested").await;
    assert_eq!(asked["capability"], "remote_view");
    d.send(json!({"type": "answer_consent", "capability": "remote_view", "granted": true}))
        .await;
    a.expect_event("consent_answered").await;
    a.send(json!({"type": "start_activity", "activity": "view_desktop"}))
        .await;
    let started = d.expect_event("activity_started").await;
    assert_eq!(started["target"], dora_id);

    // Notes are for CSRs: Ana saves notes; Bea sees them, customers don't.
    a.send(json!({"type": "save_notes", "notes": "printer jams"}))
        .await;
    assert_eq!(b.expect_event("notes_saved").await["notes"], "printer jams");
    let dora_saw = d.until_pong().await;
    assert!(
        dora_saw.iter().all(|m| m["event"]["type"] != "notes_saved"),
        "{dora_saw:?}"
    );

    // Rule 7: Ana hands control to Bea; Ana's view stops.
    a.send(json!({"type": "transfer_control", "to": bea_id}))
        .await;
    let stopped = b.expect_event("activity_stopped").await;
    assert_eq!(
        (stopped["activity"].clone(), stopped["reason"].clone()),
        (json!("view_desktop"), json!("control_transferred"))
    );
    let moved = b.expect_event("control_transferred").await;
    assert_eq!(
        (moved["from"].clone(), moved["to"].clone()),
        (json!(ana_id), json!(bea_id))
    );

    // The former controller can't view or end; a customer can't end.
    a.send(json!({"type": "start_activity", "activity": "view_desktop"}))
        .await;
    a.expect_error("control_transferred_away").await;
    a.send(json!({"type": "end", "notes": "nope"})).await;
    let refused = a.expect_error("controller_only").await;
    assert_eq!(refused["request"], "end");
    c.send(json!({"type": "end", "notes": "bye"})).await;
    c.expect_error("customers_cannot_end").await;

    // Bea, the controller, ends with notes: everyone gets `ended` and a normal close.
    b.send(json!({"type": "end", "notes": "printer fixed"}))
        .await;
    for (who, client) in [
        ("ana", &mut a),
        ("bea", &mut b),
        ("carl", &mut c),
        ("dora", &mut d),
    ] {
        let (closed, before) = client.until_closed().await;
        let ended = before
            .iter()
            .find(|m| m["type"] == "ended")
            .unwrap_or_else(|| panic!("{who} got no ended: {before:?}"));
        let is_csr = who == "ana" || who == "bea";
        assert_eq!(
            ended["notes"],
            if is_csr { "printer fixed" } else { "" },
            "{who}"
        );
        assert_eq!(
            closed.code,
            Some(tether_tests::normal_close()),
            "{who}: {closed:?}"
        );
    }

    // The record holds all of it.
    let (status, record) = svc
        .http(
            "GET",
            &format!("/api/v1/sessions/{session}"),
            Some(&bea),
            None,
        )
        .await;
    assert_eq!(status, 200, "{record}");
    let events = events_of(&record);
    assert_eq!(record["session"]["tracking_code"], "T-1001");
    assert_eq!(record["session"]["live"], false);
    assert_eq!(record["notes"], "printer fixed");
    assert_eq!(record["end"]["by"], bea_id);
    assert_eq!(count(&events, "participant_joined"), 4);
    assert_eq!(count(&events, "invitation_created"), 3);
    assert_eq!(count(&events, "primary_changed"), 2);
    assert_eq!(count(&events, "control_transferred"), 1);
    assert_eq!(count(&events, "consent_requested"), 1);
    assert_eq!(count(&events, "consent_answered"), 1);
    assert_eq!(count(&events, "activity_started"), 1);
    assert_eq!(count(&events, "activity_stopped"), 1);
    assert_eq!(count(&events, "notes_saved"), 1);
    assert_eq!(count(&events, "participant_left"), 4);
    let last = events.last().expect("events");
    assert_eq!(
        (last["type"].clone(), last["notes"].clone()),
        (json!("session_ended"), json!("printer fixed"))
    );
    let participants = record["participants"].as_array().expect("participants");
    assert!(
        participants.iter().all(|p| p["left_at"].is_u64()),
        "{participants:?}"
    );
    let invitations = record["invitations"].as_array().expect("invitations");
    assert!(
        invitations
            .iter()
            .all(|i| i["used_at"].is_u64() && i.get("token").is_none())
    );
    // Signaling payloads are relayed, never recorded.
    assert!(!record.to_string().contains("v=0 offer"));

    // Ana, who took part, lists it; the export is the same record.
    let (_, mine) = svc.http("GET", "/api/v1/sessions", Some(&ana), None).await;
    assert_eq!(mine["sessions"][0]["id"], session);
    let (status, export) = svc
        .http(
            "GET",
            &format!("/api/v1/sessions/{session}/export"),
            Some(&ana),
            None,
        )
        .await;
    assert_eq!((status, export), (200, record));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_leaving_alone_ends_and_with_other_csr_must_transfer() {
    let svc = TestService::start(temp_dir("leave").join("t.db"), |_| {}).await;
    let ana = svc.csr("ana", "Ana").await;
    let bea = svc.csr("bea", "Bea").await;
    let (session, ana_token) = svc.start_session(&ana, json!({})).await;
    let inv = svc.invite(&ana, &session, "csr").await;
    let bea_token = svc
        .join_ok(json!({"token": inv["token"]}), "Bea", Some(&bea))
        .await;
    let cust = svc.invite(&ana, &session, "customer").await;
    let cust_token = svc
        .join_ok(json!({"token": cust["token"]}), "Carl", None)
        .await;
    let mut a = svc.connect(&ana_token).await;
    let mut b = svc.connect(&bea_token).await;
    let mut c: Client = svc.connect(&cust_token).await;

    // Rule 9: with Bea present, Ana can't just leave.
    a.send(json!({"type": "leave"})).await;
    a.expect_error("must_transfer_control_first").await;
    // Bea leaves (allowed); Carl leaves (allowed) and his socket closes normally.
    b.send(json!({"type": "leave"})).await;
    let (closed, _) = b.until_closed().await;
    assert_eq!(closed.reason, "you left the session");
    assert_eq!(a.expect_event("participant_left").await["participant"], 2);
    // Now Ana is the only CSR: leaving ends the session for the customer too.
    a.send(json!({"type": "leave"})).await;
    let (_, before) = c.until_closed().await;
    let ended = before
        .iter()
        .find(|m| m["type"] == "ended")
        .expect("customer told of the end");
    assert_eq!(ended["reason"], "controller_left");
    let (status, _) = svc
        .http(
            "POST",
            &format!("/api/v1/sessions/{session}/invitations"),
            Some(&ana),
            Some(json!({"role": "customer"})),
        )
        .await;
    assert_eq!(status, 409, "no invitations into an ended session");
    svc.stop().await;
}
