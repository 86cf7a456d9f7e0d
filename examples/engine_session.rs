//! A whole support session between native engines on loopback: a CSR and two customers chat,
//! a customer allows system information, and a file goes each way, each approved.

use serde_json::json;
use std::path::Path;
use tether_engine::service::{Invitation, ServiceUrl};
use tether_engine::{Engine, EngineConfig, EngineEvent};
use tether_protocol::{Activity, Capability, Command, Event};
use tether_tests::{TestService, temp_dir};
use tokio::sync::mpsc::Receiver;

fn show(step: &str, detail: impl std::fmt::Display) {
    println!("{step:<46} {detail}");
}

/// The next event that `pick` accepts (other events are skipped), within 20 s.
async fn next<T>(events: &mut Receiver<EngineEvent>, pick: impl Fn(EngineEvent) -> Option<T>) -> T {
    let wait = async {
        while let Some(e) = events.recv().await {
            if let Some(t) = pick(e) {
                return t;
            }
        }
        panic!("the session closed early");
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), wait)
        .await
        .expect("an answer within 20 s")
}

fn config(dir: &Path) -> EngineConfig {
    EngineConfig {
        bind: vec!["127.0.0.1:0".into()],
        files_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() {
    let dir = temp_dir("engine-session");
    let svc = TestService::start(dir.join("example.db"), |_| {}).await;
    let url = ServiceUrl::parse(&format!("http://{}", svc.addr)).expect("url");
    let (_, mut settings) = svc
        .http("GET", "/api/v1/admin/settings", Some(&svc.admin), None)
        .await;
    settings["file_transfer"] = json!("advanced");
    svc.http(
        "PUT",
        "/api/v1/admin/settings",
        Some(&svc.admin),
        Some(settings),
    )
    .await;
    show("service on loopback, file transfer", "advanced");

    let ana = svc.csr("ana", "Ana (support)").await;
    let seat = url
        .start_session(&ana, None, Some("CASE-7"))
        .await
        .expect("start");
    let (csr_dir, carl_dir, dora_dir) = (dir.join("ana"), dir.join("carl"), dir.join("dora"));
    for d in [&csr_dir, &carl_dir, &dora_dir] {
        std::fs::create_dir_all(d).expect("folder");
    }
    let mut seats = Vec::new();
    for name in ["Carl", "Dora"] {
        let inv = url
            .invite(&ana, &seat.session_id, "customer")
            .await
            .expect("invite");
        let code = inv["code"].as_str().expect("code").to_owned();
        show(&format!("{name} joins with the code"), &code);
        seats.push(
            url.join(&Invitation::Code(code), name, None)
                .await
                .expect("join"),
        );
    }
    let (csr, mut csr_ev) = Engine::connect(&url, &seat, config(&csr_dir))
        .await
        .expect("csr");
    let (carl, mut carl_ev) = Engine::connect(&url, &seats[0], config(&carl_dir))
        .await
        .expect("carl");
    let (dora, mut dora_ev) = Engine::connect(&url, &seats[1], config(&dora_dir))
        .await
        .expect("dora");
    let c = carl.me();
    for (events, n) in [(&mut csr_ev, 2), (&mut carl_ev, 2), (&mut dora_ev, 2)] {
        for _ in 0..n {
            next(events, |e| {
                matches!(e, EngineEvent::PeerOpen(_)).then_some(())
            })
            .await;
        }
    }
    show(
        "peer connections open (a mesh of three)",
        format!("{} from Ana", csr.peer_count()),
    );

    csr.chat(&[], "Hello both, I can see you.")
        .await
        .expect("chat");
    let line = next(&mut dora_ev, |e| {
        if let EngineEvent::Chat(l) = e {
            Some(l)
        } else {
            None
        }
    })
    .await;
    show("Dora reads (to everyone)", &line.text);
    csr.chat(&[c], "Carl, only for you: your ticket is CASE-7.")
        .await
        .expect("chat");
    let line = next(&mut carl_ev, |e| match e {
        EngineEvent::Chat(l) if !l.to.is_empty() => Some(l),
        _ => None,
    })
    .await;
    show("Carl reads (private)", &line.text);
    let dora_lines = dora.transcript().await.expect("transcript").len();
    show(
        "Dora's transcript (the private line is not in it)",
        format!("{dora_lines} line"),
    );

    for capability in [Capability::SystemInfo, Capability::FileTransfer] {
        csr.command(Command::RequestConsent {
            customer: c,
            capability,
        })
        .await
        .expect("ask");
        next(&mut carl_ev, |e| {
            matches!(e, EngineEvent::Session(Event::ConsentRequested { .. })).then_some(())
        })
        .await;
        carl.answer_consent(capability, true).await.expect("allow");
        show("Carl allows", capability);
    }
    let info = csr
        .request_system_info(c)
        .await
        .expect("system information");
    show(
        "Carl's machine",
        format!(
            "{} ({}), {} cores, {} MiB RAM",
            info.hostname,
            info.os,
            info.cpu_cores,
            info.memory_total_bytes >> 20
        ),
    );

    csr.command(Command::StartActivity {
        activity: Activity::FileTransferAdvanced,
        target: None,
    })
    .await
    .expect("start");
    next(&mut carl_ev, |e| {
        matches!(e, EngineEvent::Roster(r) if r.activities.iter().any(|a| a.activity == Activity::FileTransferAdvanced))
            .then_some(())
    })
    .await;
    std::fs::write(csr_dir.join("fix-printer.sh"), b"#!/bin/sh\necho fixed\n").expect("file");
    std::fs::write(carl_dir.join("printer.log"), vec![b'.'; 200_000]).expect("file");
    let sending = tokio::spawn({
        let csr = csr.clone();
        let path = csr_dir.join("fix-printer.sh");
        async move { csr.send_file(c, path).await }
    });
    let (from, id) = next(&mut carl_ev, |e| match e {
        EngineEvent::TransferRequest { id, from, .. } => Some((from, id)),
        _ => None,
    })
    .await;
    carl.approve_transfer(from, id, true)
        .await
        .expect("approve");
    let sent = sending.await.expect("task").expect("sent");
    show(
        "Ana -> Carl, approved, hash checked",
        format!("{} ({} bytes)", sent.name, sent.size),
    );
    let fetching = tokio::spawn({
        let csr = csr.clone();
        async move { csr.fetch_file(c, "printer.log").await }
    });
    let (from, id) = next(&mut carl_ev, |e| match e {
        EngineEvent::TransferRequest { id, from, .. } => Some((from, id)),
        _ => None,
    })
    .await;
    carl.approve_transfer(from, id, true)
        .await
        .expect("approve");
    let got = fetching.await.expect("task").expect("fetched");
    show(
        "Carl -> Ana, approved, hash checked",
        format!("{} ({} bytes)", got.name, got.size),
    );

    csr.end("Printer fixed; log collected.").await.expect("end");
    next(&mut carl_ev, |e| {
        matches!(e, EngineEvent::Closed { .. }).then_some(())
    })
    .await;
    next(&mut csr_ev, |e| {
        matches!(e, EngineEvent::Closed { .. }).then_some(())
    })
    .await;
    show("session ended; peers left on Ana's side", csr.peer_count());
    let (_, record) = svc
        .http(
            "GET",
            &format!("/api/v1/sessions/{}", seat.session_id),
            Some(&ana),
            None,
        )
        .await;
    println!("\nsession record:");
    for entry in record["events"].as_array().into_iter().flatten() {
        let e = &entry["event"];
        match e["type"].as_str().unwrap_or("") {
            "chat_recorded" | "file_transfer_recorded" | "consent_answered" | "session_ended" => {
                println!("  {e}")
            }
            _ => {}
        }
    }
    svc.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
