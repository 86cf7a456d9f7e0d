//! Load benchmark of the signaling relay: starts the real `tether-signaling` binary and, in the same
//! run, a PeerJS server, connects many two-participant sessions to each on 127.0.0.1, drives
//! open-loop offer/answer/candidate rounds at fixed rates and prints sessions per second,
//! offer-to-answer and whole-round latency percentiles, CPU use, and server memory per idle
//! participant.
//!
//! Run with `cargo bench -p tether-signaling --bench relay` (or `scripts/bench-signaling.sh`);
//! BENCHMARKS.md describes the method. Knobs (environment): `RELAY_SESSIONS` (2000),
//! `RELAY_LEVELS` (200,1000,2000 sessions/s), `RELAY_WARMUP_SECS` (2), `RELAY_MEASURE_SECS` (8),
//! `RELAY_CLIENT_THREADS` (1), `RELAY_SKIP_PEERJS` (unset), `PEERJS_DIR` (target/bench/peerjs),
//! `RELAY_TETHER_BIN` (another build of the service, for experiments).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc as std_mpsc};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, Error>;
type Ws = WebSocketStream<TcpStream>;

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(msg.into().into())
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_CONCURRENCY: usize = 64;
/// The PeerJS browser client's default heartbeat interval.
const PEERJS_HEARTBEAT: Duration = Duration::from_secs(5);
const SEQ: &str = "SEQPLACEHOLDER";

// ---------------------------------------------------------------------------------------------
// Options

#[derive(Debug, Clone)]
struct Opts {
    sessions: usize,
    levels: Vec<u32>,
    warmup: Duration,
    measure: Duration,
    client_threads: usize,
    peerjs: bool,
    peerjs_dir: PathBuf,
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Opts {
    fn from_env() -> Opts {
        let levels = std::env::var("RELAY_LEVELS")
            .ok()
            .map(|v| {
                v.split(',')
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<u32>>()
            })
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| vec![200, 1000, 2000]);
        Opts {
            sessions: env_or("RELAY_SESSIONS", 2000usize).max(1),
            levels,
            warmup: Duration::from_secs_f64(env_or("RELAY_WARMUP_SECS", 2.0f64)),
            measure: Duration::from_secs_f64(env_or("RELAY_MEASURE_SECS", 8.0f64).max(0.5)),
            client_threads: env_or("RELAY_CLIENT_THREADS", 1usize).max(1),
            peerjs: std::env::var_os("RELAY_SKIP_PEERJS").is_none(),
            peerjs_dir: std::env::var_os("PEERJS_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench/peerjs")
                }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Child servers

/// A server child process, killed when dropped (also on error paths and panics).
struct Server {
    name: &'static str,
    child: Child,
    lines: std_mpsc::Receiver<String>,
}

impl Server {
    fn spawn(name: &'static str, mut cmd: Command) -> Result<Server> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| format!("starting {name}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let (tx, lines) = std_mpsc::channel();
        // Drain stdout for the whole run so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        Ok(Server { name, child, lines })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first stdout line for which `pick` returns something, within `timeout`.
    fn wait_line<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return fail(format!("{} exited early: {status}", self.name));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return fail(format!(
                    "{}: expected start-up line not seen within {timeout:?}",
                    self.name
                ));
            }
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    if let Some(v) = pick(&line) {
                        return Ok(v);
                    }
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                    return fail(format!("{} closed its stdout", self.name));
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

// ---------------------------------------------------------------------------------------------
// /proc readings

/// Resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS for process {pid}").into())
}

/// User plus system CPU time of a process ("self" for this one), in clock ticks (1/100 s).
fn cpu_ticks(pid: &str) -> u64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// Busy CPU time of the whole machine (all cores, everything but idle and iowait), in ticks.
fn machine_busy_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    f.iter().take(8).sum::<u64>() - f.get(3).copied().unwrap_or(0) - f.get(4).copied().unwrap_or(0)
}

fn open_files_soft_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or_else(String::new, |kib| {
            format!(", {:.1} GiB RAM", kib as f64 / 1048576.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores ({cpu}){mem}, Linux {}", kernel.trim())
}

// ---------------------------------------------------------------------------------------------
// A tiny blocking HTTP/1.1 client for the (untimed) tether setup

struct Http {
    addr: SocketAddr,
    stream: Option<StdStream>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        Http { addr, stream: None }
    }

    fn post(&mut self, path: &str, bearer: Option<&str>, body: &Value) -> Result<Value> {
        let (status, value) = self.request("POST", path, bearer, body)?;
        if !(200..300).contains(&status) {
            return fail(format!("POST {path}: HTTP {status}: {value}"));
        }
        Ok(value)
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<(u16, Value)> {
        let body = body.to_string();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        if let Some(t) = bearer {
            let _ = write!(req, "Authorization: Bearer {t}\r\n");
        }
        req.push_str("\r\n");
        req.push_str(&body);
        if self.stream.is_none() {
            let s = StdStream::connect_timeout(&self.addr, CONNECT_TIMEOUT)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let stream = self.stream.as_mut().ok_or("no HTTP connection")?;
        stream.write_all(req.as_bytes())?;
        let (status, body, close) = read_response(stream)?;
        if close {
            self.stream = None;
        }
        let value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)?
        };
        Ok((status, value))
    }
}

fn read_response(stream: &mut StdStream) -> Result<(u16, Vec<u8>, bool)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let mut more = |buf: &mut Vec<u8>, stream: &mut StdStream| -> Result<()> {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return fail("HTTP connection closed mid-response");
        }
        buf.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p + 4;
        }
        more(&mut buf, stream)?;
    };
    let head = std::str::from_utf8(&buf[..head_end])?.to_owned();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad HTTP status line")?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    for line in head.lines().skip(1) {
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => length = v.parse::<usize>().ok(),
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" => close = v.contains("close"),
                _ => {}
            }
        }
    }
    let mut body = buf.split_off(head_end);
    if let Some(len) = length {
        while body.len() < len {
            more(&mut body, stream)?;
        }
        body.truncate(len);
    } else if chunked {
        while !(body.starts_with(b"0\r\n\r\n") || find(&body, b"\r\n0\r\n\r\n").is_some()) {
            more(&mut body, stream)?;
        }
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let eol = find(rest, b"\r\n").ok_or("bad chunk")?;
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol])?.trim(), 16)?;
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(eol + 2..eol + 2 + size).ok_or("short chunk")?);
            rest = rest.get(eol + 4 + size..).ok_or("short chunk")?;
        }
        body = out;
    } else if status != 204 && status != 304 {
        close = true;
        loop {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
    }
    Ok((status, body, close))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur
            .get(p)
            .ok_or_else(|| format!("response has no {}: {v}", path.join(".")))?;
    }
    cur.as_str()
        .ok_or_else(|| format!("{} is not a string: {v}", path.join(".")).into())
}

// ---------------------------------------------------------------------------------------------
// Messages: realistic SDP, pre-serialized with a placeholder for the sequence number

const OFFER_SDP: &str = "v=0\r\no=- SEQPLACEHOLDER 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS 7c1e8f0a-3b4d-4e2a-9f61-2d5c8b7a9e10\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Xk3d\r\na=ice-pwd:Qm7v2LrT9bWc4NpZs8HfJ1yE\r\na=ice-options:trickle\r\na=fingerprint:sha-256 4F:2A:91:C3:7E:0B:D5:68:13:AF:92:4C:E7:3D:B0:51:86:2F:CA:09:7B:E4:35:D1:6C:88:0A:F3:5E:21:B9:47\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendrecv\r\na=msid:7c1e8f0a-3b4d-4e2a-9f61-2d5c8b7a9e10 0b9d2e4f-6a1c-4b7e-8d3f-5e2a1c9b7d60\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\na=ssrc:2841736520 cname:b6Yq1JzKp0Hc9vRd\r\na=ssrc:2841736520 msid:7c1e8f0a-3b4d-4e2a-9f61-2d5c8b7a9e10 0b9d2e4f-6a1c-4b7e-8d3f-5e2a1c9b7d60\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 98 99 112 113\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Xk3d\r\na=ice-pwd:Qm7v2LrT9bWc4NpZs8HfJ1yE\r\na=ice-options:trickle\r\na=fingerprint:sha-256 4F:2A:91:C3:7E:0B:D5:68:13:AF:92:4C:E7:3D:B0:51:86:2F:CA:09:7B:E4:35:D1:6C:88:0A:F3:5E:21:B9:47\r\na=setup:actpass\r\na=mid:1\r\na=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=extmap:13 urn:3gpp:video-orientation\r\na=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\na=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\na=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type\r\na=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing\r\na=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\na=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\na=sendrecv\r\na=msid:7c1e8f0a-3b4d-4e2a-9f61-2d5c8b7a9e10 3f8a6c1d-9b2e-4d7a-a5c3-8e1f0b6d2a94\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\na=rtcp-fb:102 goog-remb\r\na=rtcp-fb:102 transport-cc\r\na=rtcp-fb:102 ccm fir\r\na=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\na=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=rtpmap:98 VP9/90000\r\na=rtcp-fb:98 goog-remb\r\na=rtcp-fb:98 transport-cc\r\na=rtcp-fb:98 ccm fir\r\na=rtcp-fb:98 nack\r\na=rtcp-fb:98 nack pli\r\na=fmtp:98 profile-id=0\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\na=rtpmap:112 red/90000\r\na=rtpmap:113 ulpfec/90000\r\na=ssrc-group:FID 1398471652 3029417765\r\na=ssrc:1398471652 cname:b6Yq1JzKp0Hc9vRd\r\na=ssrc:1398471652 msid:7c1e8f0a-3b4d-4e2a-9f61-2d5c8b7a9e10 3f8a6c1d-9b2e-4d7a-a5c3-8e1f0b6d2a94\r\na=ssrc:3029417765 cname:b6Yq1JzKp0Hc9vRd\r\na=ssrc:3029417765 msid:7c1e8f0a-3b4d-4e2a-9f61-2d5c8b7a9e10 3f8a6c1d-9b2e-4d7a-a5c3-8e1f0b6d2a94\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:Xk3d\r\na=ice-pwd:Qm7v2LrT9bWc4NpZs8HfJ1yE\r\na=ice-options:trickle\r\na=fingerprint:sha-256 4F:2A:91:C3:7E:0B:D5:68:13:AF:92:4C:E7:3D:B0:51:86:2F:CA:09:7B:E4:35:D1:6C:88:0A:F3:5E:21:B9:47\r\na=setup:actpass\r\na=mid:2\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";

const ANSWER_SDP: &str = "v=0\r\no=- SEQPLACEHOLDER 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:pR8e\r\na=ice-pwd:Hd5kW1cQz7XmTf3VbN9gLs2J\r\na=ice-options:trickle\r\na=fingerprint:sha-256 1D:6E:A8:3B:F2:47:9C:05:E1:7A:B4:28:6F:D3:90:CE:52:0F:8B:A6:34:E9:71:2C:D8:05:BB:6A:93:1F:4E:C7\r\na=setup:active\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 98 99 39 40 112 113\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:pR8e\r\na=ice-pwd:Hd5kW1cQz7XmTf3VbN9gLs2J\r\na=ice-options:trickle\r\na=fingerprint:sha-256 1D:6E:A8:3B:F2:47:9C:05:E1:7A:B4:28:6F:D3:90:CE:52:0F:8B:A6:34:E9:71:2C:D8:05:BB:6A:93:1F:4E:C7\r\na=setup:active\r\na=mid:1\r\na=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=extmap:13 urn:3gpp:video-orientation\r\na=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\na=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\na=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type\r\na=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing\r\na=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\na=rtcp-fb:102 goog-remb\r\na=rtcp-fb:102 transport-cc\r\na=rtcp-fb:102 ccm fir\r\na=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\na=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=rtpmap:104 H264/90000\r\na=rtcp-fb:104 goog-remb\r\na=rtcp-fb:104 transport-cc\r\na=rtcp-fb:104 ccm fir\r\na=rtcp-fb:104 nack\r\na=rtcp-fb:104 nack pli\r\na=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\na=rtpmap:105 rtx/90000\r\na=fmtp:105 apt=104\r\na=rtpmap:106 H264/90000\r\na=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\na=rtpmap:107 rtx/90000\r\na=fmtp:107 apt=106\r\na=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\na=rtpmap:39 AV1/90000\r\na=rtpmap:40 rtx/90000\r\na=fmtp:40 apt=39\r\na=rtpmap:112 red/90000\r\na=rtpmap:113 ulpfec/90000\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:pR8e\r\na=ice-pwd:Hd5kW1cQz7XmTf3VbN9gLs2J\r\na=ice-options:trickle\r\na=fingerprint:sha-256 1D:6E:A8:3B:F2:47:9C:05:E1:7A:B4:28:6F:D3:90:CE:52:0F:8B:A6:34:E9:71:2C:D8:05:BB:6A:93:1F:4E:C7\r\na=setup:active\r\na=mid:2\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";

const CANDIDATES: [&str; 2] = [
    "candidate:1467250027 1 udp 2122260223 127.0.0.1 54321 typ host generation 0 ufrag Xk3d network-id 1",
    "candidate:3205429347 1 udp 1686052607 203.0.113.7 61022 typ srflx raddr 127.0.0.1 rport 54321 generation 0 ufrag Xk3d network-id 1",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tether,
    PeerJs,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Tether => "tether",
            Kind::PeerJs => "PeerJS",
        }
    }
}

/// What one connection sends: an offer (CSR side) or an answer (customer side) split around the
/// sequence number, and its two candidates.
#[derive(Debug, Clone)]
struct Side {
    prefix: Arc<str>,
    suffix: Arc<str>,
    candidates: [Utf8Bytes; 2],
}

impl Side {
    /// `csr`: the offering side. `n`: the session index (PeerJS peer ids are `c{n}` and `u{n}`).
    fn new(kind: Kind, csr: bool, n: usize, shared: &Shared) -> Side {
        let (sdp_kind, sdp) = if csr {
            ("offer", OFFER_SDP)
        } else {
            ("answer", ANSWER_SDP)
        };
        let sdp_json = Value::String(sdp.to_owned()).to_string();
        let (whole, candidates) = match kind {
            Kind::Tether => {
                let to = if csr { 2 } else { 1 };
                let whole = format!(
                    r#"{{"type":"signal","to":{to},"data":{{"kind":"{sdp_kind}","sdp":{sdp_json}}}}}"#
                );
                let cand = |c: &str| {
                    Utf8Bytes::from(format!(
                        r#"{{"type":"signal","to":{to},"data":{{"kind":"candidate","candidate":{},"sdp_mid":"0","sdp_m_line_index":0}}}}"#,
                        Value::String(c.to_owned())
                    ))
                };
                (whole, [cand(CANDIDATES[0]), cand(CANDIDATES[1])])
            }
            Kind::PeerJs => {
                let dst = if csr {
                    format!("u{n}")
                } else {
                    format!("c{n}")
                };
                let upper = sdp_kind.to_ascii_uppercase();
                let whole = format!(
                    r#"{{"type":"{upper}","dst":"{dst}","payload":{{"type":"data","connectionId":"dc_bench{n}","browser":"chrome","sdp":{{"type":"{sdp_kind}","sdp":{sdp_json}}}}}}}"#
                );
                let cand = |c: &str| {
                    Utf8Bytes::from(format!(
                        r#"{{"type":"CANDIDATE","dst":"{dst}","payload":{{"type":"data","connectionId":"dc_bench{n}","candidate":{{"candidate":{},"sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"Xk3d"}}}}}}"#,
                        Value::String(c.to_owned())
                    ))
                };
                (whole, [cand(CANDIDATES[0]), cand(CANDIDATES[1])])
            }
        };
        let (prefix, suffix) = whole.split_once(SEQ).unwrap_or((&whole, ""));
        // The long tail is the same for every session: share it.
        let shared_suffix = if csr {
            &shared.offer_suffix
        } else {
            &shared.answer_suffix
        };
        let suffix = {
            let mut s = shared_suffix.lock().unwrap_or_else(|e| e.into_inner());
            match &*s {
                Some(existing) if **existing == *suffix => existing.clone(),
                _ => {
                    let a: Arc<str> = suffix.into();
                    *s = Some(a.clone());
                    a
                }
            }
        };
        Side {
            prefix: prefix.into(),
            suffix,
            candidates,
        }
    }

    fn message(&self, seq: u64) -> Message {
        let mut s = String::with_capacity(self.prefix.len() + 20 + self.suffix.len());
        s.push_str(&self.prefix);
        let _ = write!(s, "{seq}");
        s.push_str(&self.suffix);
        Message::Text(s.into())
    }
}

#[derive(Debug, Default)]
struct Shared {
    offer_suffix: Mutex<Option<Arc<str>>>,
    answer_suffix: Mutex<Option<Arc<str>>>,
}

enum Received {
    Offer(u64),
    Answer(u64),
    Candidate,
    Error,
    Other,
}

fn seq_of(text: &str) -> Option<u64> {
    let at = text.find("o=- ")? + 4;
    let digits = text[at..].split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// Classify a message from the server without parsing the whole JSON.
fn classify(kind: Kind, text: &str) -> Received {
    let head = text.get(..96).unwrap_or(text);
    let is = |needle: &str| head.contains(needle);
    let (offer, answer, candidate, errors): (&str, &str, &str, &[&str]) = match kind {
        Kind::Tether => (
            r#""kind":"offer""#,
            r#""kind":"answer""#,
            r#""kind":"candidate""#,
            &[r#"{"type":"error""#],
        ),
        Kind::PeerJs => (
            r#"{"type":"OFFER""#,
            r#"{"type":"ANSWER""#,
            r#"{"type":"CANDIDATE""#,
            &[
                r#"{"type":"ERROR""#,
                r#"{"type":"EXPIRE""#,
                r#"{"type":"LEAVE""#,
            ],
        ),
    };
    if kind == Kind::Tether && !head.starts_with(r#"{"type":"signal""#) {
        return if errors.iter().any(|e| head.starts_with(e)) {
            Received::Error
        } else {
            Received::Other
        };
    }
    if is(offer) {
        seq_of(text).map_or(Received::Other, Received::Offer)
    } else if is(answer) {
        seq_of(text).map_or(Received::Other, Received::Answer)
    } else if is(candidate) {
        Received::Candidate
    } else if errors.iter().any(|e| head.starts_with(e)) {
        Received::Error
    } else {
        Received::Other
    }
}

// ---------------------------------------------------------------------------------------------
// Measurement state

/// One level's (or its warm-up's) results, filled in by the connection tasks.
#[derive(Debug)]
struct Level {
    base: Instant,
    sent: AtomicU64,
    answered: AtomicU64,
    /// Nanoseconds after `base` of the last answer seen.
    last_answer: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
    /// Offer sent to the answer and both of the answerer's candidates received.
    rounds_us: Mutex<Vec<u32>>,
    lags_us: Mutex<Vec<u32>>,
}

impl Level {
    fn new(base: Instant, capacity: usize) -> Level {
        Level {
            base,
            sent: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            last_answer: AtomicU64::new(0),
            latencies_us: Mutex::new(Vec::with_capacity(capacity)),
            rounds_us: Mutex::new(Vec::with_capacity(capacity)),
            lags_us: Mutex::new(Vec::with_capacity(capacity)),
        }
    }

    fn lag(&self, lag: Duration) {
        self.lags_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(micros(lag));
    }

    fn round(&self, latency: Duration) {
        self.rounds_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(micros(latency));
    }

    fn answer(&self, latency: Duration, at: Instant) {
        self.latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(micros(latency));
        self.last_answer.fetch_max(
            at.duration_since(self.base).as_nanos() as u64,
            Ordering::Relaxed,
        );
        self.answered.fetch_add(1, Ordering::Relaxed);
    }
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}

/// Counts over a whole server's run.
#[derive(Debug, Default)]
struct Totals {
    offers_seen: AtomicU64,
    candidates_seen: AtomicU64,
    candidates_sent: AtomicU64,
    errors: AtomicU64,
    closed: AtomicU64,
    unmatched_answers: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Totals {
    fn error(&self, text: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            *first = Some(text.chars().take(300).collect());
        }
    }
}

/// The scheduler's order to a CSR connection: send offer `seq` now (it was due at `due`).
struct Fire {
    seq: u64,
    due: Instant,
    level: Arc<Level>,
}

// ---------------------------------------------------------------------------------------------
// Connection tasks

async fn heartbeat_tick(hb: &mut Option<tokio::time::Interval>) {
    match hb {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

fn heartbeat(kind: Kind, index: usize, count: usize) -> Option<tokio::time::Interval> {
    (kind == Kind::PeerJs).then(|| {
        // Staggered so that the heartbeats of all connections spread over the interval.
        let offset = PEERJS_HEARTBEAT.mul_f64(index as f64 / count.max(1) as f64);
        let mut i =
            tokio::time::interval_at(tokio::time::Instant::now() + offset, PEERJS_HEARTBEAT);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    })
}

const HEARTBEAT_MSG: &str = r#"{"type":"HEARTBEAT"}"#;

async fn send_round(ws: &mut Ws, first: Message, side: &Side) -> bool {
    ws.feed(first).await.is_ok()
        && ws
            .feed(Message::Text(side.candidates[0].clone()))
            .await
            .is_ok()
        && ws
            .feed(Message::Text(side.candidates[1].clone()))
            .await
            .is_ok()
        && ws.flush().await.is_ok()
}

/// The offering side (the CSR): on each `Fire`, send an offer and two candidates; time the answer.
async fn csr_loop(
    kind: Kind,
    mut ws: Ws,
    side: Side,
    mut fires: mpsc::Receiver<Fire>,
    mut hb: Option<tokio::time::Interval>,
    totals: Arc<Totals>,
) {
    let mut pending: VecDeque<(u64, Instant, Arc<Level>)> = VecDeque::new();
    // Answered rounds still waiting for the answerer's candidates (which follow its answer on
    // the same ordered stream): send instant, level, candidates still expected.
    let mut answered: VecDeque<(Instant, Arc<Level>, u8)> = VecDeque::new();
    loop {
        tokio::select! {
            fire = fires.recv() => {
                let Some(fire) = fire else { break };
                let msg = side.message(fire.seq);
                let sent_at = Instant::now();
                fire.level.lag(sent_at.saturating_duration_since(fire.due));
                pending.push_back((fire.seq, sent_at, fire.level));
                if !send_round(&mut ws, msg, &side).await {
                    totals.closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                totals.candidates_sent.fetch_add(2, Ordering::Relaxed);
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => match classify(kind, text.as_str()) {
                    Received::Answer(seq) => {
                        let now = Instant::now();
                        match pending.iter().position(|p| p.0 == seq) {
                            Some(i) => {
                                if let Some((_, sent_at, level)) = pending.remove(i) {
                                    level.answer(now.duration_since(sent_at), now);
                                    answered.push_back((sent_at, level, 2));
                                }
                            }
                            None => {
                                totals.unmatched_answers.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Received::Candidate => {
                        totals.candidates_seen.fetch_add(1, Ordering::Relaxed);
                        if let Some(front) = answered.front_mut() {
                            front.2 -= 1;
                            if front.2 == 0 {
                                let now = Instant::now();
                                if let Some((sent_at, level, _)) = answered.pop_front() {
                                    level.round(now.duration_since(sent_at));
                                }
                            }
                        }
                    }
                    Received::Error => totals.error(text.as_str()),
                    Received::Offer(_) | Received::Other => {}
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    totals.closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            },
            () = heartbeat_tick(&mut hb) => {
                if ws.send(Message::Text(Utf8Bytes::from_static(HEARTBEAT_MSG))).await.is_err() {
                    totals.closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

/// The answering side (the customer): answer each offer at once, with two candidates.
async fn customer_loop(
    kind: Kind,
    mut ws: Ws,
    side: Side,
    mut hb: Option<tokio::time::Interval>,
    totals: Arc<Totals>,
) {
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => match classify(kind, text.as_str()) {
                    Received::Offer(seq) => {
                        totals.offers_seen.fetch_add(1, Ordering::Relaxed);
                        if !send_round(&mut ws, side.message(seq), &side).await {
                            totals.closed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        totals.candidates_sent.fetch_add(2, Ordering::Relaxed);
                    }
                    Received::Candidate => {
                        totals.candidates_seen.fetch_add(1, Ordering::Relaxed);
                    }
                    Received::Error => totals.error(text.as_str()),
                    Received::Answer(_) | Received::Other => {}
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    totals.closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            },
            () = heartbeat_tick(&mut hb) => {
                if ws.send(Message::Text(Utf8Bytes::from_static(HEARTBEAT_MSG))).await.is_err() {
                    totals.closed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
}

/// Open a WebSocket and wait for the server's greeting (`welcome` after our `hello` for tether,
/// `OPEN` for PeerJS).
async fn open(kind: Kind, addr: SocketAddr, url: String, hello: Option<String>) -> Result<Ws> {
    let go = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(ws_config()))
                .await?;
        if let Some(h) = hello {
            ws.send(Message::Text(h.into())).await?;
        }
        let greeting = match kind {
            Kind::Tether => r#"{"type":"welcome""#,
            Kind::PeerJs => r#"{"type":"OPEN""#,
        };
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str().starts_with(greeting) => return Ok(ws),
                Some(Ok(Message::Text(t)))
                    if matches!(classify(kind, t.as_str()), Received::Error) =>
                {
                    return fail(format!("{url}: refused: {}", t.as_str()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return fail(format!("{url}: closed before the greeting")),
            }
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, go)
        .await
        .map_err(|_| format!("{url}: no greeting within {CONNECT_TIMEOUT:?}"))?
}

/// How to reach one session's two participants.
#[derive(Debug, Clone)]
struct PairSpec {
    csr_url: String,
    csr_hello: Option<String>,
    customer_url: String,
    customer_hello: Option<String>,
}

/// Connect every pair (bounded concurrency) and start their tasks. Returns the fire senders (one
/// per session) and the task handles.
async fn connect_all(
    kind: Kind,
    addr: SocketAddr,
    specs: Vec<PairSpec>,
    totals: &Arc<Totals>,
) -> Result<(Vec<mpsc::Sender<Fire>>, Vec<JoinHandle<()>>)> {
    let count = specs.len();
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut set = JoinSet::new();
    for (n, spec) in specs.into_iter().enumerate() {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let csr = open(kind, addr, spec.csr_url, spec.csr_hello).await?;
            let customer = open(kind, addr, spec.customer_url, spec.customer_hello).await?;
            Ok::<_, Error>((n, csr, customer))
        });
    }
    let mut pairs: Vec<Option<(Ws, Ws)>> = (0..count).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (n, csr, customer) = joined??;
        pairs[n] = Some((csr, customer));
    }
    let shared = Shared::default();
    let mut fires = Vec::with_capacity(count);
    let mut tasks = Vec::with_capacity(count * 2);
    for (n, pair) in pairs.into_iter().enumerate() {
        let (csr, customer) = pair.ok_or("a connection is missing")?;
        let (tx, rx) = mpsc::channel(16);
        fires.push(tx);
        let csr_side = Side::new(kind, true, n, &shared);
        let customer_side = Side::new(kind, false, n, &shared);
        tasks.push(tokio::spawn(csr_loop(
            kind,
            csr,
            csr_side,
            rx,
            heartbeat(kind, 2 * n, 2 * count),
            totals.clone(),
        )));
        tasks.push(tokio::spawn(customer_loop(
            kind,
            customer,
            customer_side,
            heartbeat(kind, 2 * n + 1, 2 * count),
            totals.clone(),
        )));
    }
    Ok((fires, tasks))
}

// ---------------------------------------------------------------------------------------------
// The open-loop driver

#[derive(Debug, Clone)]
struct LevelResult {
    target: u32,
    sent: u64,
    answered: u64,
    skipped: u64,
    achieved: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    lag_p99_ms: f64,
    round_p50_ms: f64,
    round_p99_ms: f64,
    server_cpu: f64,
    generator_cpu: f64,
    /// Everything else on the machine (kernel softirq work included), from /proc/stat.
    other_cpu: f64,
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

/// Drive `rate` offer/answer rounds per second: warm-up, then the measured window, then wait for
/// the outstanding answers (bounded).
async fn run_level(
    fires: &[mpsc::Sender<Fire>],
    rate: u32,
    opts: &Opts,
    server_pid: u32,
    seq: &mut u64,
    cursor: &mut usize,
) -> LevelResult {
    let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let n_warm = (opts.warmup.as_secs_f64() * f64::from(rate)).round() as u64;
    let n_measure = (opts.measure.as_secs_f64() * f64::from(rate))
        .round()
        .max(1.0) as u64;
    let start = Instant::now() + Duration::from_millis(20);
    let warm = Arc::new(Level::new(start, n_warm as usize));
    let measured_start = start + period.mul_f64(n_warm as f64);
    let measured = Arc::new(Level::new(measured_start, n_measure as usize));
    let mut skipped = 0u64;
    let mut cpu0 = None;
    for i in 0..n_warm + n_measure {
        let due = start + period.mul_f64(i as f64);
        if i == n_warm {
            cpu0 = Some((
                Instant::now(),
                cpu_ticks(&server_pid.to_string()),
                cpu_ticks("self"),
                machine_busy_ticks(),
            ));
        }
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        let level = if i < n_warm { &warm } else { &measured };
        *seq += 1;
        let fire = Fire {
            seq: *seq,
            due,
            level: level.clone(),
        };
        *cursor = (*cursor + 1) % fires.len();
        match fires[*cursor].try_send(fire) {
            Ok(()) => {
                level.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => skipped += u64::from(i >= n_warm),
        }
    }
    let window_end = Instant::now();
    let (server_cpu, generator_cpu, other_cpu) = match cpu0 {
        Some((t0, s0, g0, m0)) => {
            let secs = window_end.duration_since(t0).as_secs_f64().max(1e-3);
            let pct = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / 100.0 / secs * 100.0;
            let server = pct(s0, cpu_ticks(&server_pid.to_string()));
            let generator = pct(g0, cpu_ticks("self"));
            let machine = pct(m0, machine_busy_ticks());
            (server, generator, (machine - server - generator).max(0.0))
        }
        None => (f64::NAN, f64::NAN, f64::NAN),
    };
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let rounds_done = || {
        measured
            .rounds_us
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len() as u64
    };
    while (measured.answered.load(Ordering::Relaxed) < measured.sent.load(Ordering::Relaxed)
        || rounds_done() < measured.sent.load(Ordering::Relaxed))
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = measured.sent.load(Ordering::Relaxed);
    let answered = measured.answered.load(Ordering::Relaxed);
    let last = Duration::from_nanos(measured.last_answer.load(Ordering::Relaxed));
    // Sessions per second: answered rounds over the time from the first measured offer's due time
    // to the last answer (so a server that falls behind shows a lower rate).
    let achieved = if answered > 0 {
        answered as f64 / last.as_secs_f64().max(1e-3)
    } else {
        0.0
    };
    let mut lat = std::mem::take(
        &mut *measured
            .latencies_us
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    lat.sort_unstable();
    let mut lags = std::mem::take(&mut *measured.lags_us.lock().unwrap_or_else(|e| e.into_inner()));
    lags.sort_unstable();
    let mut rounds =
        std::mem::take(&mut *measured.rounds_us.lock().unwrap_or_else(|e| e.into_inner()));
    rounds.sort_unstable();
    LevelResult {
        target: rate,
        sent,
        answered,
        skipped,
        achieved,
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        max_ms: lat.last().map_or(f64::NAN, |m| f64::from(*m) / 1000.0),
        lag_p99_ms: percentile(&lags, 0.99),
        round_p50_ms: percentile(&rounds, 0.50),
        round_p99_ms: percentile(&rounds, 0.99),
        server_cpu,
        generator_cpu,
        other_cpu,
    }
}

#[derive(Debug, Clone)]
struct ServerResult {
    kind: Kind,
    participants: usize,
    rss_before_kib: u64,
    rss_idle_kib: u64,
    rss_after_load_kib: u64,
    connect_secs: f64,
    levels: Vec<LevelResult>,
    offers_seen: u64,
    candidates_seen: u64,
    candidates_sent: u64,
    errors: u64,
    closed: u64,
    unmatched: u64,
    first_error: Option<String>,
}

impl ServerResult {
    fn per_participant_kib(&self) -> f64 {
        (self.rss_idle_kib as f64 - self.rss_before_kib as f64) / self.participants.max(1) as f64
    }
}

/// Connect, measure idle memory, run every level, collect.
async fn drive(
    kind: Kind,
    addr: SocketAddr,
    pid: u32,
    specs: Vec<PairSpec>,
    opts: &Opts,
) -> Result<ServerResult> {
    let participants = specs.len() * 2;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before_kib = rss_kib(pid)?;
    let totals = Arc::new(Totals::default());
    eprintln!("  {}: connecting {participants} participants", kind.name());
    let t0 = Instant::now();
    let (fires, tasks) = connect_all(kind, addr, specs, &totals).await?;
    let connect_secs = t0.elapsed().as_secs_f64();
    // Let the tasks drain the connect-time messages (roster, events) and the server settle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_idle_kib = rss_kib(pid)?;
    eprintln!(
        "  {}: {participants} participants connected in {connect_secs:.1} s; RSS {} -> {} KiB",
        kind.name(),
        rss_before_kib,
        rss_idle_kib
    );
    let mut levels = Vec::new();
    let (mut seq, mut cursor) = (0u64, 0usize);
    for &rate in &opts.levels {
        let r = run_level(&fires, rate, opts, pid, &mut seq, &mut cursor).await;
        eprintln!(
            "  {}: {:>5}/s -> {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, round p99 {:.2} ms ({} of {} answered)",
            kind.name(),
            r.target,
            r.achieved,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.round_p99_ms,
            r.answered,
            r.sent
        );
        levels.push(r);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after_load_kib = rss_kib(pid)?;
    for t in &tasks {
        t.abort();
    }
    drop(fires);
    // Let the runtime drop the aborted tasks (and close their sockets).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Ok(ServerResult {
        kind,
        participants,
        rss_before_kib,
        rss_idle_kib,
        rss_after_load_kib,
        connect_secs,
        levels,
        offers_seen: load(&totals.offers_seen),
        candidates_seen: load(&totals.candidates_seen),
        candidates_sent: load(&totals.candidates_sent),
        errors: load(&totals.errors),
        closed: load(&totals.closed),
        unmatched: load(&totals.unmatched_answers),
        first_error: totals
            .first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone(),
    })
}

// ---------------------------------------------------------------------------------------------
// The two servers

fn start_tether(dir: &Path) -> Result<(Server, SocketAddr, String)> {
    // RELAY_TETHER_BIN: benchmark another build of the service (e.g. an experiment).
    let bin = std::env::var_os("RELAY_TETHER_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_tether-signaling")),
        PathBuf::from,
    );
    let mut cmd = Command::new(bin);
    cmd.env("TETHER_DB", dir.join("bench.db"))
        .env("TETHER_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .env_remove("TETHER_PUBLIC_URL");
    let mut server = Server::spawn("tether-signaling", cmd)?;
    let password = server.wait_line(Duration::from_secs(30), |l| {
        let at = l.find("one-time password \"")? + "one-time password \"".len();
        l[at..].split('"').next().map(str::to_owned)
    })?;
    let addr = server.wait_line(Duration::from_secs(30), |l| {
        let rest = l.split("tether signaling: open http://").nth(1)?;
        rest.split_whitespace().next()?.parse::<SocketAddr>().ok()
    })?;
    Ok((server, addr, password))
}

/// Sign in, replace the one-time password, and create `sessions` sessions each with a CSR
/// (participant 1) and a customer who joined by invitation (participant 2). Not timed.
fn tether_sessions(
    addr: SocketAddr,
    password: &str,
    sessions: usize,
) -> Result<Vec<(String, String)>> {
    let mut http = Http::new(addr);
    let login = http.post(
        "/api/v1/login",
        None,
        &json!({ "username": "admin", "password": password }),
    )?;
    let bearer = str_at(&login, &["token"])?.to_owned();
    let new_password = "relay-bench-password-0123";
    http.post(
        "/api/v1/me/password",
        Some(&bearer),
        &json!({ "current": password, "new": new_password }),
    )?;
    let threads = 4.min(sessions);
    let chunk = sessions.div_ceil(threads);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let bearer = bearer.clone();
            std::thread::spawn(move || -> Result<Vec<(String, String)>> {
                let mut http = Http::new(addr);
                let mut out = Vec::new();
                for _ in (t * chunk)..((t + 1) * chunk).min(sessions) {
                    let started = http.post("/api/v1/sessions", Some(&bearer), &json!({}))?;
                    let id = str_at(&started, &["session", "id"])?;
                    let csr_token = str_at(&started, &["participant", "token"])?.to_owned();
                    let inv = http.post(
                        &format!("/api/v1/sessions/{id}/invitations"),
                        Some(&bearer),
                        &json!({ "role": "customer" }),
                    )?;
                    let joined = http.post(
                        "/api/v1/join",
                        None,
                        &json!({ "token": str_at(&inv, &["token"])?, "name": "c" }),
                    )?;
                    if joined.pointer("/participant/id").and_then(Value::as_u64) != Some(2) {
                        return fail(format!(
                            "expected the customer to be participant 2: {joined}"
                        ));
                    }
                    out.push((
                        csr_token,
                        str_at(&joined, &["participant", "token"])?.to_owned(),
                    ));
                }
                Ok(out)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(sessions);
    for h in handles {
        all.extend(h.join().map_err(|_| "setup thread panicked")??);
    }
    Ok(all)
}

fn run_tether(rt: &tokio::runtime::Runtime, opts: &Opts) -> Result<ServerResult> {
    let dir = TempDir::new("tether-relay-bench")?;
    let (server, addr, password) = start_tether(&dir.0)?;
    eprintln!(
        "tether: listening on {addr} (pid {}); creating {} sessions",
        server.pid(),
        opts.sessions
    );
    let t0 = Instant::now();
    let tokens = tether_sessions(addr, &password, opts.sessions)?;
    eprintln!(
        "  tether: sessions created in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let url = format!("ws://{addr}/api/v1/ws");
    let hello = |t: &str| Some(json!({ "type": "hello", "version": 1, "token": t }).to_string());
    let specs = tokens
        .iter()
        .map(|(c, u)| PairSpec {
            csr_url: url.clone(),
            csr_hello: hello(c),
            customer_url: url.clone(),
            customer_hello: hello(u),
        })
        .collect();
    let result = rt.block_on(drive(Kind::Tether, addr, server.pid(), specs, opts));
    // Stop the server before the client tasks go away (no disconnect storm), then the runtime
    // drops the aborted tasks.
    drop(server);
    result
}

fn peerjs_bin(dir: &Path) -> PathBuf {
    dir.join("node_modules/peer/dist/bin/peerjs.js")
}

/// Install `peer` from npm into `dir` (outside the tracked files) unless it is already there.
fn ensure_peerjs(dir: &Path) -> Result<String> {
    if !peerjs_bin(dir).exists() {
        std::fs::create_dir_all(dir)?;
        if !dir.join("package.json").exists() {
            std::fs::write(dir.join("package.json"), "{\"private\":true}\n")?;
        }
        eprintln!("PeerJS: npm install peer@latest into {}", dir.display());
        let mut child = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "peer@latest"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("npm: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    return fail(format!("npm install peer failed: {status}"));
                }
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return fail("npm install peer took over 5 minutes");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let pkg: Value = serde_json::from_str(&std::fs::read_to_string(
        dir.join("node_modules/peer/package.json"),
    )?)?;
    Ok(pkg
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_owned())
}

fn run_peerjs(rt: &tokio::runtime::Runtime, opts: &Opts) -> Result<(ServerResult, String)> {
    let version = ensure_peerjs(&opts.peerjs_dir)?;
    let node_version = Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let port = free_port()?;
    let mut cmd = Command::new("node");
    cmd.arg(peerjs_bin(&opts.peerjs_dir))
        .args([
            "--port",
            &port.to_string(),
            "--host",
            "127.0.0.1",
            "-c",
            "100000",
        ])
        .current_dir(&opts.peerjs_dir);
    let mut server = Server::spawn("PeerJS server", cmd)?;
    server.wait_line(Duration::from_secs(30), |l| {
        l.contains("Started PeerServer").then_some(())
    })?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    eprintln!(
        "PeerJS {version} on node {node_version}: listening on {addr} (pid {})",
        server.pid()
    );
    let url = |id: String| format!("ws://{addr}/peerjs?key=peerjs&id={id}&token=tok{id}");
    let specs = (0..opts.sessions)
        .map(|n| PairSpec {
            csr_url: url(format!("c{n}")),
            csr_hello: None,
            customer_url: url(format!("u{n}")),
            customer_hello: None,
        })
        .collect();
    let result = rt.block_on(drive(Kind::PeerJs, addr, server.pid(), specs, opts));
    drop(server);
    Ok((result?, format!("peer {version}, node {node_version}")))
}

// ---------------------------------------------------------------------------------------------
// Report

fn report(results: &[ServerResult], opts: &Opts, versions: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nSignaling relay benchmark");
    let _ = writeln!(out, "machine: {}", machine());
    let _ = writeln!(
        out,
        "workload: {} sessions x 2 participants per server; per round: offer ({} B SDP) + 2 candidates one way, answer ({} B SDP) + 2 candidates back; open loop, {:.0} s warm-up + {:.0} s measured per level; generator: {} tokio thread(s), same machine",
        opts.sessions,
        OFFER_SDP.len(),
        ANSWER_SDP.len(),
        opts.warmup.as_secs_f64(),
        opts.measure.as_secs_f64(),
        opts.client_threads
    );
    if !versions.is_empty() {
        let _ = writeln!(out, "PeerJS: {versions}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| server | target sessions/s | achieved sessions/s | p50 ms | p99 ms | max ms | round p50 ms | round p99 ms | answered | generator lag p99 ms | server CPU % | generator CPU % | other CPU % | RSS/participant KiB |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        for l in &r.levels {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {}/{}{} | {:.2} | {:.0} | {:.0} | {:.0} | {:.1} |",
                r.kind.name(),
                l.target,
                l.achieved,
                l.p50_ms,
                l.p99_ms,
                l.max_ms,
                l.round_p50_ms,
                l.round_p99_ms,
                l.answered,
                l.sent,
                if l.skipped > 0 {
                    format!(" ({} skipped)", l.skipped)
                } else {
                    String::new()
                },
                l.lag_p99_ms,
                l.server_cpu,
                l.generator_cpu,
                l.other_cpu,
                r.per_participant_kib()
            );
        }
    }
    let _ = writeln!(out);
    let busiest = results
        .iter()
        .flat_map(|r| &r.levels)
        .map(|l| l.other_cpu)
        .fold(0.0f64, f64::max);
    if busiest > 25.0 {
        let _ = writeln!(
            out,
            "NOTE: other processes used up to {busiest:.0}% CPU (of {}%) during a measured window; those figures are disturbed.\n",
            std::thread::available_parallelism().map_or(100, |n| n.get() * 100)
        );
    }
    for r in results {
        let _ = writeln!(
            out,
            "{}: RSS {:.1} MiB before connecting, {:.1} MiB with {} idle participants ({:.1} KiB each), {:.1} MiB after the load; connected in {:.1} s; candidates relayed {}/{}; offers relayed {}; errors {}, closed {}, unmatched answers {}{}",
            r.kind.name(),
            r.rss_before_kib as f64 / 1024.0,
            r.rss_idle_kib as f64 / 1024.0,
            r.participants,
            r.per_participant_kib(),
            r.rss_after_load_kib as f64 / 1024.0,
            r.connect_secs,
            r.candidates_seen,
            r.candidates_sent,
            r.offers_seen,
            r.errors,
            r.closed,
            r.unmatched,
            r.first_error
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    if std::env::args().skip(1).any(|a| a == "--list") {
        return;
    }
    if let Err(e) = real_main() {
        eprintln!("relay bench failed: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let opts = Opts::from_env();
    let needed = (opts.sessions * 2 + 256) as u64;
    if let Some(limit) = open_files_soft_limit()
        && limit < needed
    {
        return fail(format!(
            "the open-files limit is {limit} but {} sessions need about {needed}; run `ulimit -n {}` first (scripts/bench-signaling.sh does)",
            opts.sessions,
            needed.max(65536)
        ));
    }
    let rt = if opts.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.client_threads)
            .enable_all()
            .build()?
    };
    eprintln!("relay bench: {opts:?}");
    let mut results = vec![run_tether(&rt, &opts)?];
    let mut versions = String::new();
    if opts.peerjs {
        match run_peerjs(&rt, &opts) {
            Ok((r, v)) => {
                results.push(r);
                versions = v;
            }
            Err(e) => eprintln!("PeerJS part skipped: {e}"),
        }
    }
    println!("{}", report(&results, &opts, &versions));
    Ok(())
}
