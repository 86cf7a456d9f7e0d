//! File-transfer throughput on loopback: tether's advanced file transfer between two real
//! engines (through an in-process service, with the SHA-256 on both sides and the `.part` file
//! on the receiver) against raw webrtc-rs data-channel throughput (no framing, no hash, no
//! files) measured in the same run. Prints a table with throughput, % of raw and peak RSS.
//!
//! `cargo bench -p tether-engine --bench transfer` (env `TRANSFER_BYTES`, default 1 GiB;
//! accepts a plain number or a `K`/`M`/`G` suffix, powers of 1024).

use bytes::BytesMut;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tether_engine::service::{Invitation, ServiceUrl};
use tether_engine::{Engine, EngineConfig, EngineEvent};
use tether_protocol::{Activity, Capability, Command, Event};
use tether_signaling::Service;
use tether_signaling::config::Config;
use tokio::sync::{mpsc, oneshot};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, Registry, register_default_interceptors,
};

/// The engine's message size (`FILE_CHUNK_BYTES`, one SCTP chunk), and the 16 KiB messages it
/// used before, for the comparison that made it change.
const CHUNK: usize = tether_protocol::FILE_CHUNK_BYTES;
const CHUNK_16K: usize = 16 * 1024;
const WAIT: Duration = Duration::from_secs(30);

fn bytes_from_env() -> u64 {
    let Ok(v) = std::env::var("TRANSFER_BYTES") else {
        return 1 << 30;
    };
    let v = v.trim().to_ascii_uppercase();
    let (num, mul) = match v.chars().last() {
        Some('K') => (&v[..v.len() - 1], 1u64 << 10),
        Some('M') => (&v[..v.len() - 1], 1 << 20),
        Some('G') => (&v[..v.len() - 1], 1 << 30),
        _ => (&v[..], 1),
    };
    num.parse::<u64>().expect("TRANSFER_BYTES") * mul
}

/// A field of /proc/self/status in KiB (VmHWM: peak RSS, VmRSS: current RSS).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Reset VmHWM to the current RSS (Linux ≥ 4.0), so each part's peak is its own. Returns
/// whether the kernel accepted it.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn memory(label: &str) {
    println!(
        "  [{label}] VmRSS {:.1} MiB, VmHWM {:.1} MiB",
        mib(status_kib("VmRSS")),
        mib(status_kib("VmHWM"))
    );
}

// ── Raw webrtc-rs baseline ───────────────────────────────────────────────────

struct Gathered(mpsc::Sender<()>);

struct Receiving {
    gathered: mpsc::Sender<()>,
    target: u64,
    done: std::sync::Mutex<Option<oneshot::Sender<Instant>>>,
    received: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Gathered {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.0.try_send(());
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Receiving {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let target = self.target;
        let done = self.done.lock().expect("lock").take();
        let received = self.received.clone();
        // Spawn: returning unblocks the connection's driver.
        tokio::spawn(async move {
            let mut done = done;
            let mut total = 0u64;
            while let Some(event) = channel.poll().await {
                if let DataChannelEvent::OnMessage(msg) = event {
                    total += msg.data.len() as u64;
                    received.store(total, Ordering::Relaxed);
                    if total >= target
                        && let Some(done) = done.take()
                    {
                        let _ = done.send(Instant::now());
                    }
                }
            }
        });
    }
}

async fn peer_connection(handler: Arc<dyn PeerConnectionEventHandler>) -> impl PeerConnection {
    let mut media = MediaEngine::default();
    media.register_default_codecs().expect("codecs");
    let registry = register_default_interceptors(Registry::new(), &mut media).expect("registry");
    // The engine's transport settings (UDP receive buffers, send limit), so only framing,
    // hashing and files differ.
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

/// Seconds from the first send to the last byte received, in messages of `chunk` bytes, and
/// the memory span of the transfer.
async fn raw(total: u64, chunk: usize) -> (f64, Span) {
    let (gather_tx, mut gather_rx) = mpsc::channel(1);
    let sender = peer_connection(Arc::new(Gathered(gather_tx))).await;
    let init = RTCDataChannelInit {
        ordered: true,
        ..Default::default()
    };
    let dc = sender
        .create_data_channel("raw", Some(init))
        .await
        .expect("channel");
    let offer = sender.create_offer(None).await.expect("offer");
    sender.set_local_description(offer).await.expect("local");
    tokio::time::timeout(WAIT, gather_rx.recv())
        .await
        .expect("sender gathering");
    let offer = sender.local_description().await.expect("offer sdp");

    let (gather_tx, mut gather_rx) = mpsc::channel(1);
    let (done_tx, done_rx) = oneshot::channel();
    let received = Arc::new(AtomicU64::new(0));
    let receiver = peer_connection(Arc::new(Receiving {
        gathered: gather_tx,
        target: total,
        done: std::sync::Mutex::new(Some(done_tx)),
        received: received.clone(),
    }))
    .await;
    receiver
        .set_remote_description(offer)
        .await
        .expect("remote");
    let answer = receiver.create_answer(None).await.expect("answer");
    receiver.set_local_description(answer).await.expect("local");
    tokio::time::timeout(WAIT, gather_rx.recv())
        .await
        .expect("receiver gathering");
    let answer = receiver.local_description().await.expect("answer sdp");
    sender.set_remote_description(answer).await.expect("remote");

    loop {
        match tokio::time::timeout(WAIT, dc.poll()).await.expect("open") {
            Some(DataChannelEvent::OnOpen) => break,
            Some(DataChannelEvent::OnClose) | None => panic!("raw channel closed"),
            _ => {}
        }
    }
    // The same loop as `Peer::send_file` (the channel's events drained beside it), minus the
    // file read and the progress callback.
    let drain = tokio::spawn({
        let dc = dc.clone();
        async move { while dc.poll().await.is_some() {} }
    });
    let block = vec![0xa5u8; chunk];
    let span = Span::start();
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let n = chunk.min((total - sent) as usize);
        dc.send(BytesMut::from(&block[..n]))
            .await
            .expect("raw channel closed");
        sent += n as u64;
    }
    let end = match tokio::time::timeout(Duration::from_secs(600), done_rx).await {
        Ok(Ok(end)) => end,
        _ => panic!(
            "raw: only {} of {total} bytes arrived",
            received.load(Ordering::Relaxed)
        ),
    };
    let secs = end.duration_since(start).as_secs_f64();
    let span = span.end();
    drain.abort();
    let _ = dc.close().await;
    let _ = sender.close().await;
    let _ = receiver.close().await;
    (secs, span)
}

// ── tether: two engines through the real service ─────────────────────────────

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tether-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("folder");
    dir
}

/// Write `size` bytes that are not all alike, 1 MiB at a time (memory stays small).
fn write_file(path: &Path, size: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0u64;
    while written < size {
        let n = block.len().min((size - written) as usize);
        for (i, b) in block[..n].iter_mut().enumerate() {
            let x = written + i as u64;
            *b = (x.wrapping_mul(2_654_435_761) >> 13) as u8;
        }
        file.write_all(&block[..n]).expect("write");
        written += n as u64;
    }
    file.flush().expect("flush");
}

async fn until(
    events: &mut mpsc::Receiver<EngineEvent>,
    what: &str,
    pred: impl Fn(&EngineEvent) -> bool,
) -> EngineEvent {
    let found = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if pred(&e) {
                return Some(e);
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(e)) => e,
        _ => panic!("no {what} within {WAIT:?}"),
    }
}

async fn open(events: &mut mpsc::Receiver<EngineEvent>) {
    until(events, "peer open", |e| {
        matches!(e, EngineEvent::PeerOpen(_))
    })
    .await;
}

struct Tether {
    /// From `Engine::send_file` until it resolves.
    total: f64,
    /// From the call until the customer's engine shows the request: the offer (the sender
    /// hashes while it sends, and the digest follows the bytes).
    offer: f64,
    /// From the request until `send_file` resolves: approval, bytes, the receiver's hash,
    /// flush and rename, the result back.
    wire: f64,
    /// RSS right before the transfer and its peak during it, KiB.
    memory: Span,
}

/// The process's CPU time so far (user + system, all threads), in seconds, from
/// /proc/self/stat (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with the last ')'): utime is the 12th, stime
    // the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// UDP datagrams the kernel dropped so far because a socket's receive buffer was full
/// (`RcvbufErrors` in /proc/net/snmp, for the whole machine).
fn udp_drops() -> u64 {
    let snmp = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// RSS when a transfer starts and its peak (VmHWM, reset at the start) until it ends, KiB;
/// and the CPU time the process used and the UDP datagrams the kernel dropped meanwhile.
#[derive(Clone, Copy, Default)]
struct Span {
    before: u64,
    peak: u64,
    cpu: f64,
    drops: u64,
}

impl Span {
    fn start() -> Span {
        reset_peak();
        Span {
            before: status_kib("VmRSS"),
            peak: 0,
            cpu: cpu_seconds(),
            drops: udp_drops(),
        }
    }

    fn end(self) -> Span {
        Span {
            peak: status_kib("VmHWM"),
            cpu: cpu_seconds() - self.cpu,
            drops: udp_drops().saturating_sub(self.drops),
            ..self
        }
    }

    fn added(self) -> u64 {
        self.peak.saturating_sub(self.before)
    }
}

async fn tether(total: u64) -> Tether {
    let db = folder("db");
    let service = Service::start(Config::for_tests(db.join("t.db")))
        .await
        .expect("service");
    let url = ServiceUrl::parse(&service.url).expect("url");
    let once = service.admin_password.clone().expect("first start");
    let admin = url.sign_in("admin", &once).await.expect("sign in");
    let body = serde_json::json!({"current": once, "new": "a new admin password"});
    url.request("POST", "/api/v1/me/password", Some(&admin), Some(&body))
        .await
        .expect("password");
    let mut settings = url
        .request("GET", "/api/v1/admin/settings", Some(&admin), None)
        .await
        .expect("settings");
    settings["file_transfer"] = "advanced".into();
    url.request(
        "PUT",
        "/api/v1/admin/settings",
        Some(&admin),
        Some(&settings),
    )
    .await
    .expect("advanced");

    let csr_seat = url.start_session(&admin, None, None).await.expect("start");
    let inv = url
        .invite(&admin, &csr_seat.session_id, "customer")
        .await
        .expect("invite");
    let code = Invitation::Code(inv["code"].as_str().expect("code").to_owned());
    let carl_seat = url.join(&code, "Carl", None).await.expect("join");
    let (csr_dir, carl_dir) = (folder("csr"), folder("carl"));
    let config = |dir: &PathBuf| EngineConfig {
        bind: vec!["127.0.0.1:0".into()],
        files_dir: Some(dir.clone()),
        ..Default::default()
    };
    let (csr, mut csr_ev) = Engine::connect(&url, &csr_seat, config(&csr_dir))
        .await
        .expect("csr");
    let (carl, mut carl_ev) = Engine::connect(&url, &carl_seat, config(&carl_dir))
        .await
        .expect("carl");
    let c = carl.me();
    open(&mut csr_ev).await;
    open(&mut carl_ev).await;

    csr.command(Command::RequestConsent {
        customer: c,
        capability: Capability::FileTransfer,
    })
    .await
    .expect("ask");
    until(&mut carl_ev, "consent request", |e| {
        matches!(e, EngineEvent::Session(Event::ConsentRequested { .. }))
    })
    .await;
    carl.answer_consent(Capability::FileTransfer, true)
        .await
        .expect("allow");
    until(&mut csr_ev, "grant", |e| {
        matches!(
            e,
            EngineEvent::Session(Event::ConsentAnswered { granted: true, .. })
        )
    })
    .await;
    csr.command(Command::StartActivity {
        activity: Activity::FileTransferAdvanced,
        target: None,
    })
    .await
    .expect("activity");
    until(&mut carl_ev, "activity", |e| {
        matches!(e, EngineEvent::Session(Event::ActivityStarted { .. }))
    })
    .await;

    // The file exists before the clock starts (and sits in the page cache, as it would right
    // after a user picked it).
    let path = csr_dir.join("big.bin");
    write_file(&path, total);
    // Keep the CSR's events drained, as a program would.
    let drain = tokio::spawn(async move { while csr_ev.recv().await.is_some() {} });
    let span = Span::start();
    let start = Instant::now();
    let sending = tokio::spawn({
        let csr = csr.clone();
        let path = path.clone();
        async move { csr.send_file(c, path).await }
    });
    let request = until(&mut carl_ev, "transfer request", |e| {
        matches!(e, EngineEvent::TransferRequest { .. })
    })
    .await;
    let requested = Instant::now();
    let EngineEvent::TransferRequest { id, from, .. } = request else {
        unreachable!()
    };
    carl.approve_transfer(from, id, true)
        .await
        .expect("approve");
    let carl_drain = tokio::spawn(async move { while carl_ev.recv().await.is_some() {} });
    let done = tokio::time::timeout(Duration::from_secs(1800), sending)
        .await
        .expect("transfer within 30 min")
        .expect("task")
        .expect("sent");
    let end = Instant::now();
    let span = span.end();
    let arrived = std::fs::metadata(carl_dir.join("big.bin"))
        .expect("received file")
        .len();
    assert_eq!(
        (done.size, arrived),
        (total, total),
        "received file has the size sent"
    );

    let _ = csr.end("bench done").await;
    drop((csr, carl));
    drain.abort();
    carl_drain.abort();
    service.stop().await;
    for dir in [db, csr_dir, carl_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
    Tether {
        total: end.duration_since(start).as_secs_f64(),
        offer: requested.duration_since(start).as_secs_f64(),
        wire: end.duration_since(requested).as_secs_f64(),
        memory: span,
    }
}

fn rounds_from_env() -> usize {
    std::env::var("TRANSFER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

/// The median of some figures (the lower middle one for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() - 1) / 2]
}

fn main() {
    let total = bytes_from_env();
    let rounds = rounds_from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mbit = |secs: f64| total as f64 * 8.0 / secs / 1e6;
    println!(
        "transfer bench: {total} bytes ({:.0} MiB), {rounds} rounds, {} CPUs, one process (service, \
         both engines and the raw peers share it)",
        total as f64 / (1 << 20) as f64,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    memory("start");
    if !reset_peak() {
        println!("  (could not reset VmHWM: the memory figures below are not per transfer)");
    }
    // Once: raw webrtc-rs with the 16 KiB messages the engine used before.
    let (raw16, raw16_mem) = runtime.block_on(raw(total, CHUNK_16K));
    println!("  raw, 16 KiB messages: {:.0} Mbit/s", mbit(raw16));
    // Then raw and tether in turns, so a slow spell of the machine hits both.
    let (mut raws, mut totals, mut wires) = (vec![], vec![], vec![]);
    let (mut raw_mem, mut tether_mem) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let (r, r_mem) = runtime.block_on(raw(total, CHUNK));
        let t = runtime.block_on(tether(total));
        println!(
            "  round {round}: raw {:.0} Mbit/s, {:.2} CPU s, {} UDP drops (RSS {:.0} MiB, +{:.1} at peak); tether \
             {:.0} Mbit/s call to resolve, {:.0} after the offer shown at {:.2} s, {:.2} CPU s, {} UDP drops \
             (RSS {:.0} MiB, +{:.1} at peak)",
            mbit(r),
            r_mem.cpu,
            r_mem.drops,
            mib(r_mem.before),
            mib(r_mem.added()),
            mbit(t.total),
            mbit(t.wire),
            t.offer,
            t.memory.cpu,
            t.memory.drops,
            mib(t.memory.before),
            mib(t.memory.added()),
        );
        raws.push(r);
        totals.push(t.total);
        wires.push(t.wire);
        raw_mem.push(r_mem);
        tether_mem.push(t.memory);
    }
    memory("end");

    println!();
    println!(
        "Medians of {rounds} rounds; min–max in Mbit/s; memory: RSS when the transfer starts and \
         the most it rose during it, the highest of the rounds (MiB):"
    );
    println!();
    println!(
        "| mode | bytes | seconds | Mbit/s | min–max | % of raw | RSS at start | rise during |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let raw_mbit = mbit(median(raws.clone()));
    let row = |mode: &str, secs: &[f64], mem: &[Span]| {
        let fastest = secs.iter().copied().fold(f64::INFINITY, f64::min);
        let slowest = secs.iter().copied().fold(0.0, f64::max);
        let secs = median(secs.to_vec());
        let before = mem.iter().map(|m| m.before).max().unwrap_or(0);
        let added = mem.iter().map(|m| m.added()).max().unwrap_or(0);
        println!(
            "| {mode} | {total} | {secs:.2} | {:.0} | {:.0}–{:.0} | {:.0} | {:.0} | {:.1} |",
            mbit(secs),
            mbit(slowest),
            mbit(fastest),
            100.0 * mbit(secs) / raw_mbit,
            mib(before),
            mib(added)
        );
    };
    row(
        &format!("raw webrtc-rs, {CHUNK}-byte messages"),
        &raws,
        &raw_mem,
    );
    row(
        "raw webrtc-rs, 16 KiB messages (once)",
        &[raw16],
        &[raw16_mem],
    );
    row(
        "tether send_file, call to resolve (hashing while sending)",
        &totals,
        &tether_mem,
    );
    row(
        "tether after the offer (approve, bytes, receiver hash, rename)",
        &wires,
        &tether_mem,
    );
}
