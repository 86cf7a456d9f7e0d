//! A transfer whose peer connection is killed half-way resumes over a new connection from the
//! last confirmed offset, in both directions and from either side of the pair; one killed before
//! its bytes start still completes; the files arrive intact, no `.part` file is left, the record
//! has each transfer once; and revoking consent stops a transfer under way.

use crate::common::{
    FilePair, answer_transfer, consent, end_and_read_transfers, file_pair, file_transfer_mode,
    hash, rows, service, start_activity, until, within, write,
};
use tether_engine::{Engine, EngineError, EngineEvent, TransferDone};
use tether_protocol::{Activity, Capability, ParticipantId};
use tokio::sync::mpsc::Receiver;

const SIZE: usize = 64 << 20;

/// Wait until the receiver has part of transfer `id`.
async fn part_arrived(receiver_ev: &mut Receiver<EngineEvent>, id: u64) {
    until(receiver_ev, "progress", |e| {
        matches!(e, EngineEvent::TransferProgress { id: i, bytes, total } if *i == id && *bytes > 0 && bytes < total)
    })
    .await;
}

/// Once the receiver has part of transfer `id`, kill the connection from `killer`'s side.
/// Returns the offset the receiver resumed from.
async fn kill_half_way(
    receiver_ev: &mut Receiver<EngineEvent>,
    id: u64,
    killer: &Engine,
    other: ParticipantId,
) -> u64 {
    part_arrived(receiver_ev, id).await;
    killer.break_connection(other).await.expect("break");
    let resumed = until(
        receiver_ev,
        "resumed",
        |e| matches!(e, EngineEvent::TransferResumed { id: i, .. } if *i == id),
    )
    .await;
    let EngineEvent::TransferResumed { offset, total, .. } = resumed else {
        unreachable!()
    };
    assert!(
        offset > 0 && offset < total,
        "resumed from {offset} of {total}: neither from the start nor after the end"
    );
    offset
}

/// The customer approves the next transfer request; returns its id.
async fn approve(carl: &Engine, events: &mut Receiver<EngineEvent>) -> u64 {
    answer_transfer(carl, events, true).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_resumes_after_its_connection_is_killed_half_way() {
    let (service, url, admin) = service("resume").await;
    file_transfer_mode(&url, &admin, "advanced").await;
    let FilePair {
        session_id,
        csr,
        mut csr_ev,
        csr_dir,
        carl,
        mut carl_ev,
        carl_dir,
    } = file_pair(&url, &admin, "resume").await;
    let (a, c) = (csr.me(), carl.me());
    consent(
        (&csr, &mut csr_ev),
        (&carl, &mut carl_ev),
        Capability::FileTransfer,
        true,
    )
    .await;
    start_activity(&csr, &mut carl_ev, Activity::FileTransferAdvanced).await;

    // To Carl; Carl's side (the answering one) loses the connection.
    let sha = write(&csr_dir.join("to-carl.bin"), SIZE);
    let sending = tokio::spawn({
        let (csr, path) = (csr.clone(), csr_dir.join("to-carl.bin"));
        async move { csr.send_file(c, path).await }
    });
    let id = approve(&carl, &mut carl_ev).await;
    kill_half_way(&mut carl_ev, id, &carl, a).await;
    let done: TransferDone = within(sending, "sending")
        .await
        .expect("sent after resuming");
    assert_eq!(
        (done.size, done.sha256.as_str()),
        (SIZE as u64, sha.as_str())
    );
    assert_eq!(hash(&carl_dir.join("to-carl.bin")), sha, "arrived intact");

    // From Carl; the CSR's side (the offering one) loses the connection.
    let sha = write(&carl_dir.join("from-carl.bin"), SIZE);
    let fetching = tokio::spawn({
        let csr = csr.clone();
        async move { csr.fetch_file(c, "from-carl.bin").await }
    });
    let id = approve(&carl, &mut carl_ev).await;
    kill_half_way(&mut csr_ev, id, &csr, c).await;
    let done = within(fetching, "fetching")
        .await
        .expect("fetched after resuming");
    assert_eq!(
        (done.size, done.sha256.as_str()),
        (SIZE as u64, sha.as_str())
    );
    assert_eq!(hash(&csr_dir.join("from-carl.bin")), sha, "arrived intact");

    // Killed right after Carl approves, when the offer may still be on the old connection:
    // each side sends again what it is waiting on, and the file still arrives.
    let sha = write(&carl_dir.join("early.bin"), 1 << 20);
    let fetching = tokio::spawn({
        let csr = csr.clone();
        async move { csr.fetch_file(c, "early.bin").await }
    });
    approve(&carl, &mut carl_ev).await;
    csr.break_connection(c).await.expect("break");
    let done = within(fetching, "early").await.expect("fetched");
    assert_eq!(done.sha256, sha);
    assert_eq!(hash(&csr_dir.join("early.bin")), sha, "arrived intact");

    for dir in [&csr_dir, &carl_dir] {
        let parts: Vec<_> = std::fs::read_dir(dir)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .collect();
        assert!(parts.is_empty(), "left behind: {parts:?}");
    }
    // One connection each way again.
    assert_eq!((csr.peer_count(), carl.peer_count()), (1, 1));

    // Rule 12, enforced by Carl's endpoint: revoking the consent stops a transfer under way
    // at once, and nothing is left in his folder.
    write(&csr_dir.join("revoked.bin"), SIZE);
    let sending = tokio::spawn({
        let (csr, path) = (csr.clone(), csr_dir.join("revoked.bin"));
        async move { csr.send_file(c, path).await }
    });
    let id = approve(&carl, &mut carl_ev).await;
    part_arrived(&mut carl_ev, id).await;
    carl.revoke_consent(Capability::FileTransfer)
        .await
        .expect("revoke");
    let refused = within(sending, "revoked").await.expect_err("stopped");
    assert!(
        matches!(&refused, EngineError::Refused(r) if r.contains("revoked")),
        "{refused}"
    );
    until(&mut carl_ev, "given up", |e| {
        matches!(e, EngineEvent::TransferFinished { ok: false, .. })
    })
    .await;
    assert!(!carl_dir.join("revoked.bin").exists());
    assert!(!carl_dir.join(".revoked.bin.part").exists());

    let recorded = end_and_read_transfers(
        (&csr, &mut csr_ev),
        &url,
        &admin,
        &session_id,
        &["name", "outcome"],
    )
    .await;
    let want = rows(&[
        &["to-carl.bin", "completed"],
        &["from-carl.bin", "completed"],
        &["early.bin", "completed"],
        &["revoked.bin", "failed"],
    ]);
    assert_eq!(recorded, want);
    drop((csr, carl));
    service.stop().await;
    for dir in [csr_dir, carl_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
