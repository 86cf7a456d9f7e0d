//! Data-channel throughput from a Chromium page: to webrtc-rs in this process (the library the
//! engine wraps, with the engine's send-buffer setting) and, beside it in the same run, to a
//! second Chromium (its own browser process, so the receiving page has its own renderer). The
//! sending page and its loop are the same for both; the SDP goes through WebDriver (no
//! trickle: each side gathers fully first); every candidate is on loopback. Throughput is
//! measured by the receiver: bytes of a round divided by the time from its first message to
//! its last.

use crate::{min_max, percentile};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tether_tests::browser::{Browser, wait_for};
use tokio::sync::{mpsc, oneshot};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCSessionDescription, Registry,
    register_default_interceptors,
};

const WAIT: Duration = Duration::from_secs(60);

/// The sending page: an offer with one ordered, reliable channel, all candidates gathered.
const OFFER: &str = "const pc = new RTCPeerConnection(); \
    const dc = pc.createDataChannel('bench', { ordered: true }); dc.binaryType = 'arraybuffer'; \
    window.__tx = { pc, dc, open: false }; dc.onopen = () => { window.__tx.open = true; }; \
    await pc.setLocalDescription(await pc.createOffer()); \
    await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); \
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') r(); }; }); \
    return pc.localDescription.sdp;";

/// The sending page takes the answer.
const ANSWER: &str = "await window.__tx.pc.setRemoteDescription({ type: 'answer', sdp: arguments[0] }); \
    return true;";

/// Send `arguments[0]` bytes in messages of `arguments[1]`, keeping at most 4 MiB buffered
/// (the same limit as the engine's); returns at once, the receiver times the round.
const SEND: &str = "const [total, size] = arguments; const dc = window.__tx.dc; \
    const chunk = new Uint8Array(size).fill(0xa5); let sent = 0; \
    dc.bufferedAmountLowThreshold = 1 << 20; \
    const pump = () => { while (sent < total && dc.bufferedAmount < (4 << 20)) { \
      const n = Math.min(size, total - sent); dc.send(n === size ? chunk : chunk.subarray(0, n)); sent += n; } \
      dc.onbufferedamountlow = sent < total ? pump : null; }; \
    pump(); return true;";

/// The receiving page: answers the offer, counts what arrives and times each round.
const RECEIVE: &str = "const pc = new RTCPeerConnection(); \
    window.__rx = { pc, bytes: 0, first: null, last: null }; \
    pc.ondatachannel = (e) => { const dc = e.channel; dc.binaryType = 'arraybuffer'; \
      dc.onmessage = (m) => { const rx = window.__rx; const t = performance.now(); \
        if (rx.first === null) rx.first = t; rx.bytes += m.data.byteLength; rx.last = t; }; }; \
    await pc.setRemoteDescription({ type: 'offer', sdp: arguments[0] }); \
    await pc.setLocalDescription(await pc.createAnswer()); \
    await new Promise((r) => { if (pc.iceGatheringState === 'complete') r(); \
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') r(); }; }); \
    return pc.localDescription.sdp;";

/// What webrtc-rs received in the round under way.
#[derive(Default)]
struct Round {
    bytes: u64,
    first: Option<Instant>,
    target: u64,
    done: Option<oneshot::Sender<(u64, Duration)>>,
}

struct Receiver {
    gathered: mpsc::Sender<()>,
    round: Arc<Mutex<Round>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Receiver {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let round = self.round.clone();
        // Spawn: returning unblocks the connection's driver.
        tokio::spawn(async move {
            while let Some(event) = channel.poll().await {
                if let DataChannelEvent::OnMessage(msg) = event {
                    let now = Instant::now();
                    let mut r = round.lock().expect("lock");
                    let first = *r.first.get_or_insert(now);
                    r.bytes += msg.data.len() as u64;
                    if r.target > 0
                        && r.bytes >= r.target
                        && let Some(done) = r.done.take()
                    {
                        let _ = done.send((r.bytes, now.duration_since(first)));
                    }
                }
            }
        });
    }
}

async fn rust_peer(handler: Arc<dyn PeerConnectionEventHandler>) -> impl PeerConnection {
    let mut media = MediaEngine::default();
    media.register_default_codecs().expect("codecs");
    let registry = register_default_interceptors(Registry::new(), &mut media).expect("registry");
    // The engine's transport settings: its send-buffer limit and socket buffers.
    tether_engine::tuned(PeerConnectionBuilder::new())
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .build()
        .await
        .expect("peer connection")
}

/// The sending page's offer (a fresh page and connection).
async fn offer(sender: &Browser) -> String {
    sender.goto("about:blank").await.expect("blank page");
    let sdp = sender.execute(OFFER, json!([])).await.expect("offer");
    sdp.as_str().expect("offer SDP").to_owned()
}

async fn opened(sender: &Browser, answer: &str) {
    sender
        .execute(ANSWER, json!([answer]))
        .await
        .expect("answer");
    let open = wait_for(WAIT, || async {
        Ok(sender
            .execute("return window.__tx.open;", json!([]))
            .await?
            == true)
    })
    .await
    .expect("poll the page");
    assert!(open, "the data channel did not open within {WAIT:?}");
}

fn mbits(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e6
}

/// Chromium → webrtc-rs: Mbit/s of each round (the first, `warmup` bytes, not returned).
async fn to_webrtc_rs(sender: &Browser, rounds: &[u64], chunk: usize) -> Vec<f64> {
    let (gathered, mut gathered_rx) = mpsc::channel(1);
    let round = Arc::new(Mutex::new(Round::default()));
    let pc = rust_peer(Arc::new(Receiver {
        gathered,
        round: round.clone(),
    }))
    .await;
    let sdp = offer(sender).await;
    pc.set_remote_description(RTCSessionDescription::offer(sdp).expect("offer"))
        .await
        .expect("remote");
    let answer = pc.create_answer(None).await.expect("answer");
    pc.set_local_description(answer).await.expect("local");
    tokio::time::timeout(WAIT, gathered_rx.recv())
        .await
        .expect("gathering");
    let answer = pc.local_description().await.expect("answer SDP").sdp;
    opened(sender, &answer).await;
    let mut out = Vec::new();
    for &total in rounds {
        let (done, finished) = oneshot::channel();
        *round.lock().expect("lock") = Round {
            target: total,
            done: Some(done),
            ..Round::default()
        };
        sender
            .execute(SEND, json!([total, chunk]))
            .await
            .expect("send");
        let (bytes, took) = tokio::time::timeout(Duration::from_secs(600), finished)
            .await
            .expect("the round in time")
            .expect("the round");
        out.push(mbits(bytes, took));
    }
    let _ = pc.close().await;
    out
}

/// Chromium → Chromium (another browser): Mbit/s of each round.
async fn to_chromium(
    sender: &Browser,
    receiver: &Browser,
    rounds: &[u64],
    chunk: usize,
) -> Vec<f64> {
    let sdp = offer(sender).await;
    receiver.goto("about:blank").await.expect("blank page");
    let answer = receiver
        .execute(RECEIVE, json!([sdp]))
        .await
        .expect("answer");
    opened(sender, answer.as_str().expect("answer SDP")).await;
    let mut out = Vec::new();
    for &total in rounds {
        receiver
            .execute(
                "Object.assign(window.__rx, { bytes: 0, first: null, last: null }); return true;",
                json!([]),
            )
            .await
            .expect("reset");
        sender
            .execute(SEND, json!([total, chunk]))
            .await
            .expect("send");
        let started = Instant::now();
        let rx: Value = loop {
            let rx = receiver
                .execute(
                    "const r = window.__rx; return { bytes: r.bytes, first: r.first, last: r.last };",
                    json!([]),
                )
                .await
                .expect("poll the receiver");
            if rx["bytes"].as_u64().unwrap_or(0) >= total {
                break rx;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "the receiving page got {rx} of {total} bytes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let ms = rx["last"].as_f64().unwrap_or(0.0) - rx["first"].as_f64().unwrap_or(0.0);
        out.push(mbits(
            total,
            Duration::from_secs_f64(ms.max(0.001) / 1000.0),
        ));
    }
    out
}

fn summary(label: &str, values: &[f64]) {
    let (lo, hi) = min_max(values);
    let rounds: Vec<String> = values.iter().map(|v| format!("{v:.0}")).collect();
    println!(
        "| {label} | {} | {:.0} | {:.0}–{:.0} | {} |",
        values.len(),
        percentile(values, 50.0),
        lo,
        hi,
        rounds.join(", ")
    );
}

pub async fn run(rounds: usize, bytes: u64, chunks: Vec<usize>) {
    let sizes: Vec<String> = chunks.iter().map(|c| format!("{c} B")).collect();
    println!(
        "## Data-channel throughput from Chromium ({} MiB a round; messages of {})\n",
        bytes >> 20,
        sizes.join(" and ")
    );
    let sender = Browser::start().await.expect("sending browser");
    let receiver = Browser::start().await.expect("receiving browser");
    // A short warm-up transfer before the first round of each pair; then the rounds, taking
    // turns between the receivers and message sizes (so a slow spell of the VM hits all).
    let warmup = (8u64 << 20).min(bytes);
    let mut rust = vec![Vec::new(); chunks.len()];
    let mut chromium = vec![Vec::new(); chunks.len()];
    for i in 0..rounds {
        let plan = if i == 0 {
            vec![warmup, bytes]
        } else {
            vec![bytes]
        };
        for (k, &chunk) in chunks.iter().enumerate() {
            let r = to_webrtc_rs(&sender, &plan, chunk).await;
            let c = to_chromium(&sender, &receiver, &plan, chunk).await;
            let (r, c) = (r[r.len() - 1], c[c.len() - 1]);
            println!(
                "round {}, {chunk} B: to webrtc-rs {r:.0} Mbit/s, to Chromium {c:.0} Mbit/s",
                i + 1
            );
            rust[k].push(r);
            chromium[k].push(c);
        }
    }
    println!("\n| receiver | message | rounds | median Mbit/s | range | rounds Mbit/s |");
    println!("|---|---|---|---|---|---|");
    for (k, chunk) in chunks.iter().enumerate() {
        summary(
            &format!("webrtc-rs 0.21 (the engine's library), in this process | {chunk} B"),
            &rust[k],
        );
        summary(
            &format!("Chromium, a second browser process | {chunk} B"),
            &chromium[k],
        );
    }
    println!();
}
