//! Real WebRTC peers on loopback through a real service: a CSR and two customers form a mesh;
//! private and broadcast chat reach exactly their recipients; a misbehaving peer causes an
//! error event, not a panic; ending the session frees every peer.

use crate::common::{service, session_with, until};
use tether_engine::EngineEvent;
use tether_protocol::ParticipantId;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_reaches_exactly_its_recipients_over_a_real_mesh() {
    let (service, url, admin) = service("mesh").await;
    let (session, (csr, mut csr_ev), customers) =
        session_with(&url, &admin, &["Carl", "Dora"]).await;
    let [(carl, mut carl_ev), (dora, mut dora_ev)]: [_; 2] =
        customers.try_into().expect("two customers");
    let (c, d) = (carl.me(), dora.me());
    assert_eq!(
        (csr.peer_count(), carl.peer_count(), dora.peer_count()),
        (2, 2, 2)
    );

    // Private: the CSR to Carl only.
    let private = csr
        .chat(&[c], "Carl, please open the printer settings")
        .await
        .expect("send");
    let got = until(&mut carl_ev, "private chat", |e| {
        matches!(e, EngineEvent::Chat(_))
    })
    .await;
    assert_eq!(got, EngineEvent::Chat(private.clone()));
    // Broadcast: Dora to everyone.
    let broadcast = dora.chat(&[], "hello everyone").await.expect("send");
    for events in [&mut csr_ev, &mut carl_ev] {
        let got = until(events, "broadcast chat", |e| {
            matches!(e, EngineEvent::Chat(_))
        })
        .await;
        assert_eq!(got, EngineEvent::Chat(broadcast.clone()));
    }
    // A second private line, to Dora, proves ordering and that Dora never got Carl's line.
    let to_dora = csr.chat(&[d], "Dora, thanks").await.expect("send");
    let got = until(&mut dora_ev, "chat to dora", |e| {
        matches!(e, EngineEvent::Chat(_))
    })
    .await;
    assert_eq!(got, EngineEvent::Chat(to_dora.clone()));
    let texts = |t: Vec<tether_engine::ChatLine>| t.into_iter().map(|l| l.text).collect::<Vec<_>>();
    assert_eq!(
        texts(dora.transcript().await.expect("t")),
        ["hello everyone", "Dora, thanks"]
    );
    assert_eq!(
        texts(carl.transcript().await.expect("t")),
        ["Carl, please open the printer settings", "hello everyone"]
    );
    assert_eq!(csr.transcript().await.expect("t").len(), 3);
    // Chat to nobody present is refused in words.
    let refused = csr
        .chat(&[ParticipantId(99)], "anyone?")
        .await
        .expect_err("nobody");
    assert!(
        refused.to_string().contains("no present participant"),
        "{refused}"
    );

    // A misbehaving peer: malformed, oversized, and mis-addressed frames become error events.
    let misaddressed =
        serde_json::json!({"type": "chat", "id": 9, "text": "psst", "to": [d.0], "sent_at": 1})
            .to_string();
    for bytes in [
        b"{not json".to_vec(),
        vec![b'x'; 20 * 1024],
        misaddressed.into_bytes(),
    ] {
        dora.send_raw(c, bytes).await.expect("raw send");
        let e = until(&mut carl_ev, "peer error", |e| {
            matches!(e, EngineEvent::PeerError { .. })
        })
        .await;
        assert!(
            matches!(e, EngineEvent::PeerError { peer, .. } if peer == d),
            "{e:?}"
        );
    }
    // ...and the mesh still works.
    let after = dora.chat(&[c], "still here").await.expect("send");
    assert_eq!(
        until(&mut carl_ev, "chat", |e| matches!(e, EngineEvent::Chat(_))).await,
        EngineEvent::Chat(after)
    );

    // Ending attaches the controller's transcript to the record and frees every peer.
    csr.end("done").await.expect("end");
    for (engine, events) in [
        (&csr, &mut csr_ev),
        (&carl, &mut carl_ev),
        (&dora, &mut dora_ev),
    ] {
        until(events, "closed", |e| {
            matches!(e, EngineEvent::Closed { .. })
        })
        .await;
        assert_eq!(engine.peer_count(), 0);
    }
    let path = format!("/api/v1/sessions/{session}");
    let record = url
        .request("GET", &path, Some(&admin), None)
        .await
        .expect("record");
    let recorded: Vec<&str> = record["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["event"]["type"] == "chat_recorded")
        .flat_map(|e| e["event"]["lines"].as_array().into_iter().flatten())
        .filter_map(|l| l["text"].as_str())
        .collect();
    // The controller's transcript: what it sent and received, not the customers' private line.
    assert_eq!(
        recorded,
        [
            "Carl, please open the printer settings",
            "hello everyone",
            "Dora, thanks"
        ]
    );
    service.stop().await;
}
