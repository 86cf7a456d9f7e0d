//! Leaving and ending free the peers: the peer count drops to zero, and the process's memory
//! stays flat over 50 connect/close cycles (webrtc-rs issue 906 was an Arc-cycle leak).

use crate::common::{service, session_with, until};
use tether_engine::EngineEvent;
use tether_protocol::Command;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_connect_close_cycles_free_their_peers_and_memory() {
    let (service, url, admin) = service("teardown").await;
    let mut samples = Vec::new();
    for cycle in 0..50 {
        let (_, (csr, mut csr_ev), mut customers) = session_with(&url, &admin, &["Carl"]).await;
        let (carl, mut carl_ev) = customers.remove(0);
        assert_eq!((csr.peer_count(), carl.peer_count()), (1, 1));
        if cycle % 2 == 0 {
            // The customer leaves first: the CSR's peer to it closes, the session goes on.
            carl.command(Command::Leave).await.expect("leave");
            until(&mut carl_ev, "closed", |e| {
                matches!(e, EngineEvent::Closed { .. })
            })
            .await;
            until(&mut csr_ev, "peer closed", |e| {
                matches!(e, EngineEvent::PeerClosed(_))
            })
            .await;
            assert_eq!((csr.peer_count(), carl.peer_count()), (0, 0));
        }
        csr.command(Command::End {
            notes: String::new(),
        })
        .await
        .expect("end");
        until(&mut csr_ev, "closed", |e| {
            matches!(e, EngineEvent::Closed { .. })
        })
        .await;
        assert_eq!(csr.peer_count(), 0);
        drop((csr, carl, csr_ev, carl_ev));
        if cycle >= 9 {
            samples.push(rss_kib());
        }
    }
    // After ten warm-up cycles, forty more must not keep growing memory. A leaked peer
    // connection (sockets, SCTP and DTLS state, buffers) costs well over 100 KiB every cycle;
    // allow allocator noise. RSS is the whole process's, and the other tests of this binary
    // run beside this one: one of them may raise it once (a 16 MiB step was seen), so the
    // largest single rise between two cycles is not counted. A leak rises every cycle.
    let (first, last) = (samples[0], *samples.last().expect("samples"));
    let growth = last.saturating_sub(first);
    let largest_step = samples
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or(0);
    let steady = growth.saturating_sub(largest_step);
    println!(
        "RSS after cycle 10: {first} KiB, after cycle 50: {last} KiB (growth {growth} KiB, \
         {steady} KiB without the largest single step of {largest_step} KiB)"
    );
    assert!(
        steady < 4 * 1024,
        "RSS grew {steady} KiB over 40 cycles besides one step of {largest_step} KiB: {samples:?}"
    );
    service.stop().await;
}
