//! Advanced file transfer between a CSR and a customer over real peers: the customer approves
//! each transfer; 0 B, 1 B and 64 MiB arrive intact in both directions; nothing is written on denial or
//! outside the chosen folder; the service must show the transfer activity running; and the
//! record gets the metadata.

use crate::common::{
    FilePair, answer_transfer as answer, consent, end_and_read_transfers, file_pair,
    file_transfer_mode, hash, rows, service, start_activity, until, within, write,
};
use std::path::Path;
use tether_engine::{EngineError, EngineEvent, TransferDone};
use tether_protocol::{Activity, Capability, Command, Event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advanced_transfers_both_ways_with_the_customers_approval() {
    let (service, url, admin) = service("files").await;
    file_transfer_mode(&url, &admin, "advanced").await;
    let FilePair {
        session_id,
        csr,
        mut csr_ev,
        csr_dir,
        carl,
        mut carl_ev,
        carl_dir,
    } = file_pair(&url, &admin, "advanced").await;
    let c = carl.me();

    let one = csr_dir.join("one.bin");
    write(&one, 1);
    // Before the service shows an advanced transfer running, Carl's engine refuses.
    let refused = csr.send_file(c, &one).await.expect_err("not active");
    assert!(
        matches!(&refused, EngineError::Refused(r) if r.contains("not active")),
        "{refused}"
    );
    // Rule 12: Carl allows file transfer in general; each transfer is still approved.
    consent(
        (&csr, &mut csr_ev),
        (&carl, &mut carl_ev),
        Capability::FileTransfer,
        true,
    )
    .await;
    // Rule 11: while the CSR views Carl's application, the service refuses file transfer.
    let start = |activity| Command::StartActivity {
        activity,
        target: None,
    };
    consent(
        (&csr, &mut csr_ev),
        (&carl, &mut carl_ev),
        Capability::RemoteView,
        true,
    )
    .await;
    csr.command(start(Activity::ViewApplication))
        .await
        .expect("view");
    until(&mut csr_ev, "viewing", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStarted { .. }))
    })
    .await;
    csr.command(start(Activity::FileTransferAdvanced))
        .await
        .expect("send");
    let refused = until(&mut csr_ev, "rule 11", |e| {
        matches!(e, EngineEvent::Refused { .. })
    })
    .await;
    assert!(
        matches!(&refused, EngineEvent::Refused { code, .. } if code == "application_sharing_active"),
        "{refused:?}"
    );
    csr.command(Command::StopActivity {
        activity: Activity::ViewApplication,
    })
    .await
    .expect("stop view");
    until(&mut csr_ev, "view stopped", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStopped { .. }))
    })
    .await;
    start_activity(&csr, &mut carl_ev, Activity::FileTransferAdvanced).await;

    // Declined: an error for the CSR, nothing written for Carl.
    let sending = tokio::spawn({
        let csr = csr.clone();
        let one = one.clone();
        async move { csr.send_file(c, one).await }
    });
    answer(&carl, &mut carl_ev, false).await;
    let declined = within(sending, "declined send")
        .await
        .expect_err("declined");
    assert!(
        matches!(&declined, EngineError::Refused(r) if r.contains("declined")),
        "{declined}"
    );
    assert_eq!(std::fs::read_dir(&carl_dir).expect("dir").count(), 0);

    // 0 B, 1 B and 16 MiB to Carl, each approved, each checked by hash.
    for (name, size) in [("empty.bin", 0), ("one.bin", 1), ("big.bin", 64 << 20)] {
        let path = csr_dir.join(name);
        let sha = write(&path, size);
        let sending = tokio::spawn({
            let csr = csr.clone();
            async move { csr.send_file(c, path).await }
        });
        answer(&carl, &mut carl_ev, true).await;
        let done: TransferDone = within(sending, name).await.expect("sent");
        assert_eq!(
            (done.size, done.sha256.as_str()),
            (size as u64, sha.as_str()),
            "{name}"
        );
        assert_eq!(hash(&carl_dir.join(name)), sha, "{name} arrived intact");
    }

    // Fetched from Carl's folder into the CSR's, each after Carl approves: 0 B, 1 B, 64 MiB.
    for (name, size) in [("empty.log", 0), ("one.log", 1), ("big.log", 64 << 20)] {
        let sha = write(&carl_dir.join(name), size);
        let fetching = tokio::spawn({
            let csr = csr.clone();
            async move { csr.fetch_file(c, name).await }
        });
        let (_, asked) = answer(&carl, &mut carl_ev, true).await;
        assert_eq!(asked, name);
        let done = within(fetching, name).await.expect("fetched");
        assert_eq!(
            (done.size, done.sha256.as_str()),
            (size as u64, sha.as_str()),
            "{name}"
        );
        assert_eq!(hash(&csr_dir.join(name)), sha, "{name} arrived intact");
    }

    // Escapes: a path, a symlink out of the folder, an existing name.
    let escape = csr.fetch_file(c, "../etc/passwd").await.expect_err("path");
    assert!(escape.to_string().contains("file name"), "{escape}");
    std::os::unix::fs::symlink("/etc/hostname", carl_dir.join("link.txt")).expect("symlink");
    let link = csr.fetch_file(c, "link.txt").await.expect_err("symlink");
    assert!(
        matches!(&link, EngineError::Refused(r) if r.contains("not a regular file")),
        "{link}"
    );
    std::os::unix::fs::symlink("/tmp/tether-outside", carl_dir.join("trap.bin")).expect("symlink");
    write(&csr_dir.join("trap.bin"), 10);
    let trap = csr
        .send_file(c, csr_dir.join("trap.bin"))
        .await
        .expect_err("exists");
    assert!(
        matches!(&trap, EngineError::Refused(r) if r.contains("already exists")),
        "{trap}"
    );
    assert!(!Path::new("/tmp/tether-outside").exists());
    let raw = r#"{"type":"file_offer","id":99,"name":"../../x","size":1,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}"#;
    csr.send_raw(c, raw.as_bytes().to_vec()).await.expect("raw");
    until(&mut carl_ev, "peer error", |e| {
        matches!(e, EngineEvent::PeerError { .. })
    })
    .await;

    // The record has the completed transfers' metadata, never their contents.
    let reported = end_and_read_transfers(
        (&csr, &mut csr_ev),
        &url,
        &admin,
        &session_id,
        &["name", "direction"],
    )
    .await;
    let expected = rows(&[
        &["empty.bin", "to_customer"],
        &["one.bin", "to_customer"],
        &["big.bin", "to_customer"],
        &["empty.log", "from_customer"],
        &["one.log", "from_customer"],
        &["big.log", "from_customer"],
    ]);
    assert_eq!(reported, expected);
    service.stop().await;
    let _ = std::fs::remove_dir_all(csr_dir);
    let _ = std::fs::remove_dir_all(carl_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_mode_publishes_files_that_customers_choose_to_download() {
    let (service, url, admin) = service("basic").await; // default settings: file transfer basic
    let FilePair {
        session_id,
        csr,
        mut csr_ev,
        csr_dir,
        carl,
        mut carl_ev,
        carl_dir,
    } = file_pair(&url, &admin, "basic").await;
    let a = csr.me();

    // Rule 10: advanced transfer is refused by the service when the admin allows basic only.
    csr.command(Command::StartActivity {
        activity: Activity::FileTransferAdvanced,
        target: None,
    })
    .await
    .expect("send");
    let refused = until(&mut csr_ev, "refusal", |e| {
        matches!(e, EngineEvent::Refused { .. })
    })
    .await;
    assert!(
        matches!(&refused, EngineEvent::Refused { code, .. } if code == "file_transfer_disabled"),
        "{refused:?}"
    );

    // Published before the basic transfer is active: a download is refused by the CSR's engine.
    let sha = write(&csr_dir.join("manual.pdf"), 1 << 20);
    let published = csr
        .publish(csr_dir.join("manual.pdf"))
        .await
        .expect("publish");
    let listed = until(&mut carl_ev, "list", |e| {
        matches!(e, EngineEvent::FilesPublished { .. })
    })
    .await;
    assert!(
        matches!(&listed, EngineEvent::FilesPublished { from, files } if *from == a && files == &vec![published.clone()]),
        "{listed:?}"
    );
    let early = carl
        .download(a, published.id)
        .await
        .expect_err("not active");
    assert!(
        matches!(&early, EngineError::Refused(r) if r.contains("not active")),
        "{early}"
    );

    // Active: Carl downloads the one he chose; the record says it was published.
    start_activity(&csr, &mut csr_ev, Activity::FileTransferBasic).await;
    let done = carl.download(a, published.id).await.expect("download");
    assert_eq!(
        (done.sha256.as_str(), hash(&carl_dir.join("manual.pdf"))),
        (sha.as_str(), sha.clone())
    );
    let unknown = carl.download(a, 12345).await.expect_err("unknown");
    assert!(
        matches!(&unknown, EngineError::Refused(r) if r.contains("no published file")),
        "{unknown}"
    );

    let directions = end_and_read_transfers(
        (&csr, &mut csr_ev),
        &url,
        &admin,
        &session_id,
        &["direction"],
    )
    .await;
    assert_eq!(directions, rows(&[&["published"]]));
    service.stop().await;
    let _ = std::fs::remove_dir_all(csr_dir);
    let _ = std::fs::remove_dir_all(carl_dir);
}
