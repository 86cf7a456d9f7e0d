//! Screen sharing and remote control over WebRTC on loopback: a real signaling service and two
//! real engines in this process (the customer shares its monitor, the CSR views and controls).
//!
//! 1. Glass to glass: a counter is stamped into the screen (32 black-or-white squares: 16 bits
//!    and their complement) while the content changes at 30 frames a second ("typing" or
//!    "scrolling"); the CSR's program reads it back from the decoded pictures
//!    (`EngineEvent::Screen`). Latency is the arrival of the first picture showing counter k
//!    minus the moment the X server had drawn k. Beside it, in the same run, the same pipeline
//!    without the network: `ScreenEncoder` → `H264Decoder` in this process.
//! 2. Input: from the CSR calling `Engine::send_input(PointerMove)` until a window on the
//!    customer's display receives the `MotionNotify`; beside it, `Injector::inject` (XTest)
//!    called directly.
//!
//! Prints markdown tables (latency percentiles, pictures a second, CPU by thread group).
//!
//! `cargo bench -p tether-engine --bench screen` on `DISPLAY`, or on a private Xvfb of
//! 1920x1080 when `DISPLAY` is unset. Env `SCREEN_FRAMES` (counters drawn in each measured
//! window, default 600 = 20 s), `INPUT_MOVES` (pointer moves per path and size, default 300),
//! `SCREEN_SIZES` (`1080`, `720` or both, default `1080,720`).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command as Process, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tether_engine::service::{Invitation, ServiceUrl};
use tether_engine::{Engine, EngineConfig, EngineEvent};
use tether_media::capture::{self, DisplayInfo};
use tether_media::decode::H264Decoder;
use tether_media::frame::I420;
use tether_media::inject::{Injector, Target};
use tether_media::screen::{ScreenEncoder, ScreenSettings, Source};
use tether_protocol::{Activity, Capability, Command, Event, InputEvent, ParticipantId};
use tether_signaling::Service;
use tether_signaling::config::Config;
use tokio::sync::mpsc;
use x11rb::connection::Connection;
use x11rb::protocol::randr::{ConnectionExt as _, MonitorInfo};
use x11rb::protocol::xproto::{
    AtomEnum, ClientMessageEvent, ConnectionExt as _, CreateGCAux, CreateWindowAux, EventMask,
    Gcontext, Pixmap, Rectangle, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// The content's frame rate (and the engine's capture rate).
const FPS: f64 = 30.0;
const WAIT: Duration = Duration::from_secs(30);
/// Discarded at the start of each measured run.
const WARMUP: Duration = Duration::from_millis(1500);
/// After a window, pictures of counters drawn late in it may still arrive.
const STRAGGLERS: Duration = Duration::from_millis(1000);
/// The RandR monitor added for the 720p cases.
const MONITOR_720: &str = "TETHER-SCREEN-BENCH-720";

/// The counter: 32 cells of CELL pixels in a row at (CODE_X, CODE_Y) of the monitor; cell i
/// (i < 16) is black when bit i of the counter is set, cell 16 + i when it is clear.
const CELL: i16 = 32;
const CELLS: i16 = 32;
const CODE_X: i16 = 32;
const CODE_Y: i16 = 24;
/// The page's text starts below the counter; scrolling moves only this part.
const PAGE_TOP: i16 = 96;
const WHITE: u32 = 0xffffff;
const INK: u32 = 0x202020;
const GLYPH_W: i16 = 10;
const LINE_H: i16 = 22;
const MARGIN: i16 = 40;
const SCROLL_STEP: i16 = 2 * LINE_H;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    /// A page of text, one more glyph and the counter each frame.
    Typing,
    /// The page below the counter moves up two lines each frame, two new lines appear.
    Scrolling,
}

impl Content {
    fn name(self) -> &'static str {
        match self {
            Content::Typing => "typing",
            Content::Scrolling => "scrolling",
        }
    }
}

fn main() -> ExitCode {
    if std::env::var_os("DISPLAY").is_none() {
        return run_on_own_xvfb();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench());
    ExitCode::SUCCESS
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

// ── A private Xvfb when DISPLAY is unset ─────────────────────────────────────

/// Start Xvfb (it picks a free display number and writes it on fd 3), then run this benchmark
/// again with `DISPLAY` naming it (the environment of a running process is not changed), and
/// stop Xvfb when the child is done. The child learns Xvfb's pid to report its CPU time.
fn run_on_own_xvfb() -> ExitCode {
    let mut wrapper = Process::new("sh")
        .arg("-c")
        .arg(
            "Xvfb -displayfd 3 -noreset -screen 0 1920x1080x24 +extension XTEST \
             +extension RANDR -nolisten tcp 3>&1 1>/dev/null 2>/dev/null & x=$!; \
             echo \"pid $x\"; read _; kill $x",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb is installed");
    let mut out = BufReader::new(wrapper.stdout.take().expect("Xvfb's pipe"));
    let (mut pid, mut number) = (None, None);
    while pid.is_none() || number.is_none() {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("Xvfb did not start");
        }
        let line = line.trim();
        match line.strip_prefix("pid ") {
            Some(p) => pid = p.parse::<u32>().ok(),
            None => number = line.parse::<u32>().ok(),
        }
    }
    let (pid, number) = (pid.unwrap_or(0), number.unwrap_or(0));
    println!("no DISPLAY: started Xvfb :{number} (1920x1080x24)");
    let status = Process::new(std::env::current_exe().expect("this benchmark's path"))
        .args(std::env::args_os().skip(1))
        .env("DISPLAY", format!(":{number}"))
        .env("SCREEN_BENCH_XVFB_PID", pid.to_string())
        .status()
        .expect("run the benchmark on Xvfb");
    stop_wrapper(wrapper);
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Closing the wrapper's stdin makes it kill Xvfb.
fn stop_wrapper(mut wrapper: Child) {
    drop(wrapper.stdin.take());
    let _ = wrapper.wait();
}

// ── CPU time from /proc ──────────────────────────────────────────────────────

/// `USER_HZ`: clock ticks a second in /proc stat files.
const TICKS: f64 = 100.0;

/// The fields of a /proc stat file after the command name (index 0 is field 3, the state).
fn stat_fields(path: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect()
}

/// utime + stime (fields 14 and 15) in ticks.
fn cpu_ticks(path: &str) -> u64 {
    let f = stat_fields(path);
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

/// This thread's id, from the /proc/thread-self link (`PID/task/TID`).
fn my_tid() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}

fn thread_ids() -> HashSet<u32> {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// CPU counters at one moment.
#[derive(Clone, Debug)]
struct Cpu {
    at: Instant,
    process: u64,
    threads: HashMap<u32, (String, u64)>,
    /// Busy and total ticks of the whole machine (all cores), from /proc/stat.
    machine: (u64, u64),
    xvfb: Option<u64>,
}

fn xvfb_pid() -> Option<u32> {
    std::env::var("SCREEN_BENCH_XVFB_PID").ok()?.parse().ok()
}

fn snapshot() -> Cpu {
    let mut threads = HashMap::new();
    for tid in thread_ids() {
        let path = format!("/proc/self/task/{tid}");
        let comm = std::fs::read_to_string(format!("{path}/comm")).unwrap_or_default();
        threads.insert(
            tid,
            (comm.trim().to_owned(), cpu_ticks(&format!("{path}/stat"))),
        );
    }
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let all: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let total: u64 = all.iter().take(8).sum();
    let idle = all.get(3).copied().unwrap_or(0) + all.get(4).copied().unwrap_or(0);
    Cpu {
        at: Instant::now(),
        process: cpu_ticks("/proc/self/stat"),
        threads,
        machine: (total - idle, total),
        xvfb: xvfb_pid().map(|pid| cpu_ticks(&format!("/proc/{pid}/stat"))),
    }
}

/// Which threads do what, for splitting the process's CPU time.
#[derive(Clone, Debug, Default)]
struct Groups {
    encoder: HashSet<u32>,
    decoder: HashSet<u32>,
    /// The bench's drawing thread: the "customer's applications", left out.
    drawer: HashSet<u32>,
}

/// CPU use over a window, in % of one core.
#[derive(Clone, Debug, Default)]
struct CpuUse {
    /// The process without the drawing thread.
    process: f64,
    encoder: f64,
    decoder: f64,
    rest: f64,
    drawer: f64,
    xvfb: Option<f64>,
    /// The whole machine (all processes), % of one core (200 = both cores busy).
    machine: f64,
    /// The busiest threads: (tid, name, group, %).
    top: Vec<(u32, String, &'static str, f64)>,
}

fn cpu_use(a: &Cpu, b: &Cpu, groups: &Groups) -> CpuUse {
    let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
    let pct = |ticks: u64| ticks as f64 / TICKS / wall * 100.0;
    let mut sums = [0u64; 3];
    let mut top = Vec::new();
    for (tid, (name, end)) in &b.threads {
        let start = a.threads.get(tid).map_or(0, |t| t.1);
        let used = end.saturating_sub(start);
        let group = if groups.encoder.contains(tid) {
            sums[0] += used;
            "capture+encode"
        } else if groups.decoder.contains(tid) {
            sums[1] += used;
            "decode"
        } else if groups.drawer.contains(tid) {
            sums[2] += used;
            "bench drawing"
        } else {
            "other"
        };
        top.push((*tid, name.clone(), group, pct(used)));
    }
    top.sort_by(|x, y| y.3.total_cmp(&x.3));
    top.truncate(8);
    let process = b.process.saturating_sub(a.process);
    let (busy, total) = (
        b.machine.0.saturating_sub(a.machine.0),
        b.machine.1.saturating_sub(a.machine.1).max(1),
    );
    let cores = thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    CpuUse {
        process: pct(process.saturating_sub(sums[2])),
        encoder: pct(sums[0]),
        decoder: pct(sums[1]),
        rest: pct(process.saturating_sub(sums[0] + sums[1] + sums[2])),
        drawer: pct(sums[2]),
        xvfb: a.xvfb.zip(b.xvfb).map(|(x, y)| pct(y.saturating_sub(x))),
        machine: busy as f64 / total as f64 * cores * 100.0,
        top,
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ── The screen's content and the counter ─────────────────────────────────────

/// Draws on the customer's monitor from its own X connection: a white window over the
/// monitor, text, and the counter (drawn into a pixmap, then copied with one request, so a
/// grab sees the old counter or the new one, never a mix).
struct Painter {
    conn: RustConnection,
    window: Window,
    code: Pixmap,
    white: Gcontext,
    ink: Gcontext,
    size: (i16, i16),
    cursor: (i16, i16),
    rng: u64,
}

impl Painter {
    fn open(display: &str, monitor: &DisplayInfo) -> Painter {
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect to the display");
        let (root, depth) = {
            let s = &conn.setup().roots[screen];
            (s.root, s.root_depth)
        };
        let (w, h) = (monitor.width as u16, monitor.height as u16);
        let window = conn.generate_id().expect("id");
        conn.create_window(
            0,
            window,
            root,
            monitor.x as i16,
            monitor.y as i16,
            w,
            h,
            0,
            WindowClass::INPUT_OUTPUT,
            0,
            &CreateWindowAux::new()
                .background_pixel(WHITE)
                .override_redirect(1),
        )
        .expect("window");
        conn.map_window(window).expect("map");
        let gc = |colour: u32| {
            let id = conn.generate_id().expect("id");
            conn.create_gc(
                id,
                root,
                &CreateGCAux::new().foreground(colour).graphics_exposures(0),
            )
            .expect("gc");
            id
        };
        let (white, ink) = (gc(WHITE), gc(INK));
        let code = conn.generate_id().expect("id");
        conn.create_pixmap(depth, code, root, (CELL * CELLS) as u16, CELL as u16)
            .expect("pixmap");
        let painter = Painter {
            conn,
            window,
            code,
            white,
            ink,
            size: (w as i16, h as i16),
            cursor: (MARGIN, PAGE_TOP),
            rng: 0x2545_f491_4f6c_dd1d,
        };
        painter.sync();
        painter
    }

    /// Wait until the server has handled everything sent (one round trip).
    fn sync(&self) {
        self.conn
            .get_input_focus()
            .expect("send")
            .reply()
            .expect("sync");
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn fill(&self, gc: Gcontext, rects: &[Rectangle]) {
        for chunk in rects.chunks(2000) {
            self.conn
                .poly_fill_rectangle(self.window, gc, chunk)
                .expect("fill");
        }
    }

    /// A text-like glyph in the cell at (x, y): two or three strokes.
    fn glyph(&mut self, x: i16, y: i16, out: &mut Vec<Rectangle>) {
        let r = self.random();
        let stem = 1 + (r % 7) as i16;
        out.push(rect(x + stem, y + 4, 2, 14));
        out.push(rect(x + 1, y + 8 + ((r >> 8) % 8) as i16, 7, 2));
        if r >> 16 & 1 == 1 {
            out.push(rect(x + 1, y + 16, 7, 2));
        }
    }

    /// A line of glyphs at `y`, of random length, words apart.
    fn text_line(&mut self, y: i16) {
        let width = self.size.0 - 2 * MARGIN;
        let len = (width / GLYPH_W) as u64;
        let len = len / 3 + self.random() % (len * 2 / 3).max(1);
        let mut rects = Vec::new();
        for i in 0..len as i16 {
            if !self.random().is_multiple_of(6) {
                self.glyph(MARGIN + i * GLYPH_W, y, &mut rects);
            }
        }
        self.fill(self.ink, &rects);
    }

    /// A fresh page for `content` (white, then half a page or a full page of text).
    fn page(&mut self, content: Content) {
        let (w, h) = self.size;
        self.fill(self.white, &[rect(0, 0, w, h)]);
        let bottom = match content {
            Content::Typing => PAGE_TOP + (h - PAGE_TOP) / 2,
            Content::Scrolling => h - LINE_H,
        };
        let mut y = PAGE_TOP;
        while y + LINE_H <= bottom {
            self.text_line(y);
            y += LINE_H;
        }
        self.cursor = (MARGIN, y);
        self.sync();
    }

    /// Frame `k`: change the page, then show counter k (no wait; see `sync`).
    fn frame(&mut self, content: Content, k: u32) {
        let (w, h) = self.size;
        match content {
            Content::Typing => {
                let (x, y) = self.cursor;
                let mut rects = Vec::new();
                self.fill(self.white, &[rect(x, y, 2, LINE_H - 4)]);
                self.glyph(x, y, &mut rects);
                self.fill(self.ink, &rects);
                self.cursor.0 += GLYPH_W;
                if self.cursor.0 + GLYPH_W > w - MARGIN {
                    self.cursor = (MARGIN, self.cursor.1 + LINE_H);
                }
                if self.cursor.1 + LINE_H > h - MARGIN {
                    self.fill(self.white, &[rect(0, PAGE_TOP, w, h - PAGE_TOP)]);
                    self.cursor = (MARGIN, PAGE_TOP);
                }
                let (cx, cy) = self.cursor;
                self.fill(self.ink, &[rect(cx, cy, 2, LINE_H - 4)]);
            }
            Content::Scrolling => {
                let keep = h - PAGE_TOP - SCROLL_STEP;
                self.conn
                    .copy_area(
                        self.window,
                        self.window,
                        self.white,
                        0,
                        PAGE_TOP + SCROLL_STEP,
                        0,
                        PAGE_TOP,
                        w as u16,
                        keep as u16,
                    )
                    .expect("scroll");
                self.fill(self.white, &[rect(0, h - SCROLL_STEP, w, SCROLL_STEP)]);
                self.text_line(h - SCROLL_STEP);
                self.text_line(h - LINE_H);
            }
        }
        self.stamp(k);
    }

    fn stamp(&self, k: u32) {
        let bits = u32::from(k as u16) | (u32::from(!(k as u16)) << 16);
        let black: Vec<Rectangle> = (0..CELLS)
            .filter(|i| bits >> i & 1 == 1)
            .map(|i| rect(i * CELL, 0, CELL, CELL))
            .collect();
        self.conn
            .poly_fill_rectangle(self.code, self.white, &[rect(0, 0, CELL * CELLS, CELL)])
            .expect("code background");
        self.conn
            .poly_fill_rectangle(self.code, self.ink, &black)
            .expect("code");
        self.conn
            .copy_area(
                self.code,
                self.window,
                self.white,
                0,
                0,
                CODE_X,
                CODE_Y,
                (CELL * CELLS) as u16,
                CELL as u16,
            )
            .expect("show the code");
    }

    fn close(self) {
        let _ = self.conn.destroy_window(self.window);
        let _ = self.conn.free_pixmap(self.code);
        self.sync();
    }
}

fn rect(x: i16, y: i16, w: i16, h: i16) -> Rectangle {
    Rectangle {
        x,
        y,
        width: w as u16,
        height: h as u16,
    }
}

/// The counter a picture of the monitor shows: None when a cell is neither clearly black nor
/// clearly white, or the two halves disagree.
fn read_code(p: &I420) -> Option<u32> {
    let (cell, quarter) = (CELL as usize, CELL as usize / 4);
    let y0 = CODE_Y as usize + quarter;
    if y0 + 2 * quarter > p.height || CODE_X as usize + CELLS as usize * cell > p.width {
        return None;
    }
    let mut bits = 0u32;
    for i in 0..CELLS as usize {
        let x0 = CODE_X as usize + i * cell + quarter;
        let mut sum = 0u32;
        for row in y0..y0 + 2 * quarter {
            let start = row * p.width + x0;
            sum += p.y[start..start + 2 * quarter]
                .iter()
                .map(|&v| u32::from(v))
                .sum::<u32>();
        }
        let mean = sum / (4 * quarter * quarter) as u32;
        if mean < 80 {
            bits |= 1 << i;
        } else if mean <= 176 {
            return None;
        }
    }
    let (value, check) = (bits & 0xffff, bits >> 16);
    (value ^ check == 0xffff).then_some(value)
}

/// When counter k was sent to the server and when the server answered the round trip after it.
#[derive(Clone, Copy, Debug)]
struct Stamp {
    k: u32,
    sent: Instant,
    drawn: Instant,
}

/// Pictures as the viewer got them: arrival time and the counter read (None: unreadable).
type Arrivals = Arc<Mutex<Vec<(Instant, Option<u32>)>>>;

fn record(arrivals: &Arrivals, picture: &I420) {
    let at = Instant::now();
    let k = read_code(picture);
    arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((at, k));
}

/// The drawing thread: counter k0 + n drawn at start + n × period, each followed by a round
/// trip whose answer dates it.
fn spawn_painter(
    mut painter: Painter,
    content: Content,
    k0: u32,
    period: Duration,
    stop: Arc<AtomicBool>,
    stamps: Arc<Mutex<Vec<Stamp>>>,
    tid: Arc<AtomicU32>,
) -> thread::JoinHandle<Painter> {
    thread::Builder::new()
        .name("bench-drawing".into())
        .spawn(move || {
            tid.store(my_tid(), Ordering::Release);
            let start = Instant::now();
            let mut n = 0u32;
            while !stop.load(Ordering::Acquire) {
                let due = start + period * n;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                let k = k0 + n;
                let sent = Instant::now();
                painter.frame(content, k);
                painter.sync();
                let drawn = Instant::now();
                stamps
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(Stamp { k, sent, drawn });
                n += 1;
            }
            painter
        })
        .expect("drawing thread")
}

// ── Glass-to-glass runs ──────────────────────────────────────────────────────

#[derive(Clone, Debug, Default)]
struct Glass {
    size: (u32, u32),
    content: &'static str,
    path: &'static str,
    wall: f64,
    drawn: usize,
    /// Milliseconds from "drawn" to the first picture showing it, per counter shown.
    latencies: Vec<f64>,
    /// Pictures the viewer got in the window, and how many showed no readable counter.
    pictures: usize,
    unreadable: usize,
    /// Milliseconds from sending a frame's drawing to the round trip's answer.
    draw_ms: Vec<f64>,
    cpu: CpuUse,
}

/// Draw for a warm-up and then `frames` periods while `arrivals` fills; measure.
async fn glass_run(
    painter: Painter,
    content: Content,
    frames: usize,
    k0: u32,
    arrivals: &Arrivals,
    mut groups: Groups,
) -> (Painter, Glass) {
    // 30 fps slowed by 1/frames: the drawing's phase against the 30 fps capture clock sweeps
    // once through a whole frame interval over the window.
    let period = Duration::from_secs_f64(1.0 / FPS * (1.0 + 1.0 / frames as f64));
    arrivals.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let stop = Arc::new(AtomicBool::new(false));
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let tid = Arc::new(AtomicU32::new(0));
    let handle = spawn_painter(
        painter,
        content,
        k0,
        period,
        stop.clone(),
        stamps.clone(),
        tid.clone(),
    );
    tokio::time::sleep(WARMUP).await;
    groups.drawer.insert(tid.load(Ordering::Acquire));
    let a = snapshot();
    tokio::time::sleep(period * frames as u32).await;
    let b = snapshot();
    tokio::time::sleep(STRAGGLERS).await;
    stop.store(true, Ordering::Release);
    let painter = tokio::task::block_in_place(|| handle.join()).expect("drawing thread");

    let stamps = stamps.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let arrivals = arrivals.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut first: HashMap<u32, Instant> = HashMap::new();
    for (at, k) in &arrivals {
        if let Some(k) = k {
            first.entry(*k).or_insert(*at);
        }
    }
    let in_window = |t: Instant| t >= a.at && t < b.at;
    let drawn: Vec<&Stamp> = stamps.iter().filter(|s| in_window(s.sent)).collect();
    let latencies = drawn
        .iter()
        .filter_map(|s| {
            let at = first.get(&s.k)?;
            Some(signed_ms(*at, s.drawn))
        })
        .collect();
    let seen: Vec<_> = arrivals.iter().filter(|(t, _)| in_window(*t)).collect();
    let glass = Glass {
        wall: b.at.duration_since(a.at).as_secs_f64(),
        drawn: drawn.len(),
        latencies,
        pictures: seen.len(),
        unreadable: seen.iter().filter(|(_, k)| k.is_none()).count(),
        draw_ms: drawn
            .iter()
            .map(|s| ms(s.drawn.duration_since(s.sent)))
            .collect(),
        cpu: cpu_use(&a, &b, &groups),
        content: content.name(),
        ..Glass::default()
    };
    (painter, glass)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `later − earlier` in ms, negative when `later` is earlier.
fn signed_ms(later: Instant, earlier: Instant) -> f64 {
    match later.checked_duration_since(earlier) {
        Some(d) => ms(d),
        None => -ms(earlier.duration_since(later)),
    }
}

/// The peer: the engine's pipeline without the network, in this process. One thread runs
/// `ScreenEncoder` (as the engine's sharing thread does), another decodes with `H264Decoder`
/// (as the engine's viewing thread does), a bounded queue between them.
async fn in_process(
    painter: Painter,
    monitor: &DisplayInfo,
    content: Content,
    frames: usize,
    k0: u32,
) -> (Painter, Glass) {
    let arrivals: Arrivals = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (enc_tid, dec_tid) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
    let encoder = {
        let (stop, tid, index) = (stop.clone(), enc_tid.clone(), monitor.index);
        thread::Builder::new()
            .name("bench-encode".into())
            .spawn(move || {
                tid.store(my_tid(), Ordering::Release);
                let mut screen =
                    ScreenEncoder::new(&Source::Display(index), ScreenSettings::default())
                        .expect("screen encoder");
                let mut force = true;
                while !stop.load(Ordering::Acquire) {
                    if let Some(frame) = screen.next(force).expect("frame") {
                        force = tx.try_send(frame.data).is_err();
                    } else {
                        force = false;
                    }
                }
            })
            .expect("encode thread")
    };
    let decoder = {
        let (arrivals, tid) = (arrivals.clone(), dec_tid.clone());
        thread::Builder::new()
            .name("bench-decode".into())
            .spawn(move || {
                tid.store(my_tid(), Ordering::Release);
                let mut decoder = H264Decoder::new().expect("decoder");
                while let Ok(data) = rx.recv() {
                    if let Some(picture) = decoder.decode(&data).expect("decode") {
                        record(&arrivals, &picture);
                    }
                }
            })
            .expect("decode thread")
    };
    wait_for_picture(&arrivals).await;
    let groups = Groups {
        encoder: HashSet::from([enc_tid.load(Ordering::Acquire)]),
        decoder: HashSet::from([dec_tid.load(Ordering::Acquire)]),
        drawer: HashSet::new(),
    };
    let (painter, mut glass) = glass_run(painter, content, frames, k0, &arrivals, groups).await;
    stop.store(true, Ordering::Release);
    tokio::task::block_in_place(|| {
        encoder.join().expect("encode thread");
        decoder.join().expect("decode thread");
    });
    glass.path = "in-process: ScreenEncoder → H264Decoder (no network)";
    (painter, glass)
}

async fn wait_for_picture(arrivals: &Arrivals) {
    let start = Instant::now();
    while arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty()
    {
        assert!(start.elapsed() < WAIT, "no picture within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ── The engines ──────────────────────────────────────────────────────────────

async fn until(
    events: &mut mpsc::UnboundedReceiver<EngineEvent>,
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

/// Keep reading an engine's events (so its queue never fills): screen pictures from `viewed`
/// are timed and read at once into `arrivals`; everything else goes on for the bench's waits.
fn pump(
    mut events: mpsc::Receiver<EngineEvent>,
    viewed: Option<(ParticipantId, Arrivals)>,
) -> mpsc::UnboundedReceiver<EngineEvent> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match (&e, &viewed) {
                (EngineEvent::Screen { from, picture }, Some((who, arrivals))) if from == who => {
                    record(arrivals, &picture.0);
                }
                (EngineEvent::Screen { .. }, _) => {}
                _ => {
                    let _ = tx.send(e);
                }
            }
        }
    });
    rx
}

struct Pair {
    csr: Engine,
    csr_ev: mpsc::UnboundedReceiver<EngineEvent>,
    carl: Engine,
    carl_ev: mpsc::UnboundedReceiver<EngineEvent>,
    arrivals: Arrivals,
}

/// A session: the admin as controlling CSR, Carl as the customer sharing `monitor`.
async fn pair(url: &ServiceUrl, admin: &str, monitor: usize) -> Pair {
    let seat = url.start_session(admin, None, None).await.expect("start");
    let inv = url
        .invite(admin, &seat.session_id, "customer")
        .await
        .expect("invite");
    let code = Invitation::Code(inv["code"].as_str().expect("code").to_owned());
    let carl_seat = url.join(&code, "Carl", None).await.expect("join");
    let loopback = EngineConfig {
        bind: vec!["127.0.0.1:0".into()],
        ..Default::default()
    };
    let (csr, csr_raw) = Engine::connect(url, &seat, loopback.clone())
        .await
        .expect("csr");
    let carl_config = EngineConfig {
        monitor,
        ..loopback
    };
    let (carl, carl_raw) = Engine::connect(url, &carl_seat, carl_config)
        .await
        .expect("carl");
    let arrivals: Arrivals = Arc::default();
    let mut csr_ev = pump(csr_raw, Some((carl.me(), arrivals.clone())));
    let mut carl_ev = pump(carl_raw, None);
    until(&mut csr_ev, "peer open", |e| {
        matches!(e, EngineEvent::PeerOpen(_))
    })
    .await;
    until(&mut carl_ev, "peer open", |e| {
        matches!(e, EngineEvent::PeerOpen(_))
    })
    .await;
    Pair {
        csr,
        csr_ev,
        carl,
        carl_ev,
        arrivals,
    }
}

impl Pair {
    async fn consent(&mut self, capability: Capability) {
        let customer = self.carl.me();
        self.csr
            .command(Command::RequestConsent {
                customer,
                capability,
            })
            .await
            .expect("ask");
        until(&mut self.carl_ev, "consent request", |e| {
            matches!(e, EngineEvent::Session(Event::ConsentRequested { .. }))
        })
        .await;
        self.carl
            .answer_consent(capability, true)
            .await
            .expect("allow");
        until(&mut self.csr_ev, "consent answer", |e| {
            matches!(
                e,
                EngineEvent::Session(Event::ConsentAnswered { granted: true, .. })
            )
        })
        .await;
    }

    /// Start `activity` and return once Carl's engine shares its screen.
    async fn start(&mut self, activity: Activity) {
        self.csr
            .command(Command::StartActivity {
                activity,
                target: None,
            })
            .await
            .expect("start");
        until(&mut self.carl_ev, "sharing started", |e| {
            matches!(
                e,
                EngineEvent::Sharing {
                    source: Some(_),
                    ..
                }
            )
        })
        .await;
    }

    async fn stop(&mut self, activity: Activity) {
        self.csr
            .command(Command::StopActivity { activity })
            .await
            .expect("stop");
        until(&mut self.carl_ev, "sharing stopped", |e| {
            matches!(e, EngineEvent::Sharing { source: None, .. })
        })
        .await;
    }
}

/// Carl starts sharing (the CSR views the desktop); returns the threads to charge (the sharing
/// thread is born when sharing starts, the CSR's decoding thread when the first frame arrives
/// and lives on while Carl stays) and a note on how the first picture came. If none comes
/// within 3 s on the still screen, the screen changes every 100 ms until one does.
async fn start_view(pair: &mut Pair, painter: &mut Painter) -> (Groups, String) {
    let before = thread_ids();
    pair.arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    let started = Instant::now();
    pair.start(Activity::ViewDesktop).await;
    let sharing = thread_ids();
    let mut changes = 0u32;
    while pair
        .arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .is_empty()
    {
        assert!(started.elapsed() < WAIT, "no picture within {WAIT:?}");
        if started.elapsed() > Duration::from_secs(3) {
            tokio::task::block_in_place(|| {
                painter.frame(Content::Typing, 0xffff);
                painter.sync();
            });
            changes += 1;
            tokio::time::sleep(Duration::from_millis(90)).await;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let note = format!(
        "first picture {:.0} ms after ViewDesktop was sent, {}",
        ms(started.elapsed()),
        if changes == 0 {
            "on the still screen".to_owned()
        } else {
            format!("only after the screen changed ({changes} changes, none in the first 3 s)")
        }
    );
    let viewing = thread_ids();
    let groups = Groups {
        encoder: sharing.difference(&before).copied().collect(),
        decoder: viewing.difference(&sharing).copied().collect(),
        drawer: HashSet::new(),
    };
    (groups, note)
}

/// The same counter run through two real engines: Carl shares, the CSR views.
async fn over_webrtc(
    painter: Painter,
    pair: &Pair,
    groups: &Groups,
    content: Content,
    frames: usize,
    k0: u32,
) -> (Painter, Glass) {
    let arrivals = pair.arrivals.clone();
    let (painter, mut glass) =
        glass_run(painter, content, frames, k0, &arrivals, groups.clone()).await;
    glass.path = "tether: two engines over WebRTC (loopback)";
    (painter, glass)
}

/// After the view stopped: does it start again? Pictures within 5 s of a second
/// `ViewDesktop` on a still screen, then within 5 s of the screen changing; and what else
/// the CSR's engine said meanwhile.
async fn restart_view(pair: &mut Pair, painter: &mut Painter) -> String {
    pair.arrivals
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    while pair.csr_ev.try_recv().is_ok() {}
    pair.start(Activity::ViewDesktop).await;
    let count = |pair: &Pair| {
        pair.arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still = count(pair);
    for k in 0..30 {
        tokio::task::block_in_place(|| {
            painter.frame(Content::Typing, k);
            painter.sync();
        });
        tokio::time::sleep(Duration::from_millis(33)).await;
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    let changed = count(pair) - still;
    let mut said = Vec::new();
    while let Ok(e) = pair.csr_ev.try_recv() {
        if !matches!(e, EngineEvent::Roster(_) | EngineEvent::Session(_)) {
            said.push(format!("{e:?}"));
        }
    }
    pair.stop(Activity::ViewDesktop).await;
    format!(
        "view started again: {still} pictures in 5 s on a still screen, {changed} in the 5 s after \
         30 changes; CSR events besides roster/session: {said:?}"
    )
}

// ── Input ────────────────────────────────────────────────────────────────────

/// A window over the monitor, on top, on its own connection and thread, that timestamps each
/// `MotionNotify` as it is read.
struct Listener {
    moves: mpsc::UnboundedReceiver<(i16, i16, Instant)>,
    conn: RustConnection,
    window: Window,
    thread: thread::JoinHandle<()>,
}

impl Listener {
    fn open(display: &str, monitor: &DisplayInfo) -> Listener {
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect");
        let root = conn.setup().roots[screen].root;
        let window = conn.generate_id().expect("id");
        conn.create_window(
            0,
            window,
            root,
            monitor.x as i16,
            monitor.y as i16,
            monitor.width as u16,
            monitor.height as u16,
            0,
            WindowClass::INPUT_ONLY,
            0,
            &CreateWindowAux::new()
                .event_mask(EventMask::POINTER_MOTION)
                .override_redirect(1),
        )
        .expect("window");
        conn.map_window(window).expect("map");
        conn.get_input_focus().expect("send").reply().expect("sync");
        let (tx, moves) = mpsc::unbounded_channel();
        let thread = thread::Builder::new()
            .name("bench-listener".into())
            .spawn(move || {
                loop {
                    match conn.wait_for_event() {
                        Ok(x11rb::protocol::Event::MotionNotify(m)) => {
                            let _ = tx.send((m.root_x, m.root_y, Instant::now()));
                        }
                        Ok(x11rb::protocol::Event::ClientMessage(_)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                let _ = conn.destroy_window(window);
                let _ = conn.flush();
            })
            .expect("listener thread");
        let (conn, _) = x11rb::connect(Some(display)).expect("connect");
        Listener {
            moves,
            conn,
            window,
            thread,
        }
    }

    fn close(self) {
        let message = ClientMessageEvent::new(32, self.window, AtomEnum::STRING, [0u32; 5]);
        self.conn
            .send_event(false, self.window, EventMask::NO_EVENT, message)
            .expect("stop the listener");
        self.conn.flush().expect("flush");
        let _ = self.thread.join();
    }

    /// Wait for the motion to (x, y); its receipt time.
    async fn reached(&mut self, x: i16, y: i16) -> Instant {
        let found = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some((mx, my, at)) = self.moves.recv().await {
                if (mx, my) == (x, y) {
                    return Some(at);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(at)) => at,
            _ => panic!("the pointer did not reach ({x}, {y})"),
        }
    }
}

#[derive(Debug, Default)]
struct InputRun {
    size: (u32, u32),
    /// Engine: call → MotionNotify, and call → `send_input` resolved; raw: `inject` →
    /// MotionNotify; `capture::displays()` alone.
    engine: Vec<f64>,
    engine_call: Vec<f64>,
    raw: Vec<f64>,
    displays: Vec<f64>,
}

async fn input(pair: &mut Pair, display: &str, monitor: &DisplayInfo, moves: usize) -> InputRun {
    pair.consent(Capability::RemoteControl).await;
    pair.start(Activity::ControlDesktop).await;
    let mut listener = Listener::open(display, monitor);
    let area = Target::Area {
        x: monitor.x,
        y: monitor.y,
        width: monitor.width,
        height: monitor.height,
    };
    let mut injector = Injector::open(None, area).expect("injector");
    let carl = pair.carl.me();
    let (w, h) = (i64::from(monitor.width), i64::from(monitor.height));
    let mut run = InputRun {
        size: (monitor.width, monitor.height),
        ..InputRun::default()
    };
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    // Two warm-up moves each (the engine opens its injector on the first), then the two paths
    // in turns, so a busy moment hits both.
    for i in 0..2 * (moves + 2) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let px = 100 + (i as i64 * 37) % (w - 200);
        let py = 120 + (i as i64 * 53 + 7) % (h - 240);
        let event = InputEvent::PointerMove {
            x: (px as f64 + 0.5) / w as f64,
            y: (py as f64 + 0.5) / h as f64,
        };
        let (rx, ry) = (
            (monitor.x as i64 + px) as i16,
            (monitor.y as i64 + py) as i16,
        );
        while listener.moves.try_recv().is_ok() {}
        let engine = i % 2 == 0;
        let start = Instant::now();
        let call = if engine {
            pair.csr.send_input(carl, event).await.expect("send_input");
            ms(start.elapsed())
        } else {
            injector.inject(&event).expect("inject");
            ms(start.elapsed())
        };
        let at = listener.reached(rx, ry).await;
        if i >= 4 {
            let latency = ms(at.duration_since(start));
            if engine {
                run.engine.push(latency);
                run.engine_call.push(call);
            } else {
                run.raw.push(latency);
            }
        }
        tokio::time::sleep(Duration::from_millis(15 + rng % 20)).await;
    }
    drop(injector);
    listener.close();
    // What the customer's engine does for each input event before injecting it.
    for _ in 0..moves.min(200) {
        let start = Instant::now();
        capture::displays().expect("displays");
        run.displays.push(ms(start.elapsed()));
    }
    pair.stop(Activity::ControlDesktop).await;
    run
}

// ── Monitors ─────────────────────────────────────────────────────────────────

/// A RandR 1.5 monitor of 1280x720 at the screen's top-left corner, deleted when dropped.
struct Monitor720 {
    conn: RustConnection,
    root: Window,
    name: u32,
}

impl Monitor720 {
    fn add(display: &str) -> Monitor720 {
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect for RandR");
        let root = conn.setup().roots[screen].root;
        let version = conn
            .randr_query_version(1, 5)
            .expect("send")
            .reply()
            .expect("RandR");
        assert!(
            (version.major_version, version.minor_version) >= (1, 5),
            "RandR 1.5 monitors"
        );
        let name = conn
            .intern_atom(false, MONITOR_720.as_bytes())
            .expect("send")
            .reply()
            .expect("atom")
            .atom;
        let monitor = MonitorInfo {
            name,
            primary: false,
            automatic: false,
            x: 0,
            y: 0,
            width: 1280,
            height: 720,
            width_in_millimeters: 339,
            height_in_millimeters: 190,
            outputs: Vec::new(),
        };
        conn.randr_set_monitor(root, monitor)
            .expect("send")
            .check()
            .expect("add the 720p monitor");
        Monitor720 { conn, root, name }
    }
}

impl Drop for Monitor720 {
    fn drop(&mut self) {
        let _ = self
            .conn
            .randr_delete_monitor(self.root, self.name)
            .map(|c| c.check());
    }
}

fn find_monitor(width: u32, height: u32, name: Option<&str>) -> Option<DisplayInfo> {
    capture::displays()
        .expect("list the monitors")
        .into_iter()
        .find(|d| {
            (d.width, d.height) == (width, height)
                && name.is_none_or(|n| d.name == n)
                && (name.is_some() || d.name != MONITOR_720)
        })
}

// ── The run ──────────────────────────────────────────────────────────────────

async fn bench() {
    let display = std::env::var("DISPLAY").unwrap_or_default();
    let frames = env_number("SCREEN_FRAMES", 600).max(30);
    let moves = env_number("INPUT_MOVES", 300).max(10);
    let sizes = std::env::var("SCREEN_SIZES").unwrap_or_else(|_| "1080,720".into());
    println!(
        "screen bench on DISPLAY={display}: {frames} counters a window, {moves} moves a path, \
         {} cores, load average {}",
        thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );

    let db = std::env::temp_dir().join(format!("tether-bench-screen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&db);
    std::fs::create_dir_all(&db).expect("folder");
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

    let mut glass = Vec::new();
    let mut inputs = Vec::new();
    let mut notes = Vec::new();
    let mut k0 = 1u32;
    for (width, height) in [(1920u32, 1080u32), (1280, 720)] {
        if !sizes.split(',').any(|s| s.trim() == height.to_string()) {
            continue;
        }
        let guard = (height == 720).then(|| Monitor720::add(&display));
        let name = guard.as_ref().map(|_| MONITOR_720);
        let Some(monitor) = find_monitor(width, height, name) else {
            println!("no {width}x{height} monitor on this display: skipped");
            continue;
        };
        println!(
            "{width}x{height}: monitor {} ({:?}) at ({}, {})",
            monitor.index, monitor.name, monitor.x, monitor.y
        );
        let mut painter = Painter::open(&display, &monitor);
        let mut pair = pair(&url, &admin, monitor.index).await;
        pair.consent(Capability::RemoteView).await;
        // The engines first (one view for both contents), then the peer with the engines idle.
        let (groups, first) = start_view(&mut pair, &mut painter).await;
        println!("  {first}");
        notes.push(format!("{width}x{height}: {first}"));
        for content in [Content::Typing, Content::Scrolling] {
            painter.page(content);
            let (p, mut g) = over_webrtc(painter, &pair, &groups, content, frames, k0).await;
            k0 += 4 * frames as u32;
            g.size = (width, height);
            print_glass(&g);
            glass.push(g);
            painter = p;
        }
        pair.stop(Activity::ViewDesktop).await;
        for content in [Content::Typing, Content::Scrolling] {
            painter.page(content);
            let (p, mut g) = in_process(painter, &monitor, content, frames, k0).await;
            k0 += 4 * frames as u32;
            g.size = (width, height);
            print_glass(&g);
            glass.push(g);
            painter = p;
        }
        let restart = restart_view(&mut pair, &mut painter).await;
        println!("  {restart}");
        notes.push(format!("{width}x{height}: {restart}"));
        let run = input(&mut pair, &display, &monitor, moves).await;
        println!(
            "  input {width}x{height}: engine p50 {:.2} ms, raw XTest p50 {:.2} ms, \
             capture::displays() p50 {:.2} ms (load {})",
            percentile(&run.engine, 50.0),
            percentile(&run.raw, 50.0),
            percentile(&run.displays, 50.0),
            loadavg()
        );
        inputs.push(run);
        let _ = pair.csr.end("bench done").await;
        drop(pair);
        painter.close();
        drop(guard);
    }
    service.stop().await;
    let _ = std::fs::remove_dir_all(&db);
    print_tables(&glass, &inputs);
    println!();
    for note in notes {
        println!("- {note}");
    }
    println!();
    println!("load average at the end: {}", loadavg());
}

// ── Output ───────────────────────────────────────────────────────────────────

/// Nearest-rank percentile.
fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_glass(g: &Glass) {
    println!(
        "{}x{} {} – {}: {} of {} counters shown, p50/p95/p99 {:.1}/{:.1}/{:.1} ms, \
         {:.1} pictures/s ({} unreadable), process {:.0}% (encode {:.0}, decode {:.0}, rest \
         {:.0}), drawing {:.0}%, Xvfb {}, machine {:.0}% (load {})",
        g.size.0,
        g.size.1,
        g.content,
        g.path,
        g.latencies.len(),
        g.drawn,
        percentile(&g.latencies, 50.0),
        percentile(&g.latencies, 95.0),
        percentile(&g.latencies, 99.0),
        g.pictures as f64 / g.wall,
        g.unreadable,
        g.cpu.process,
        g.cpu.encoder,
        g.cpu.decoder,
        g.cpu.rest,
        g.cpu.drawer,
        g.cpu
            .xvfb
            .map_or_else(|| "–".to_owned(), |x| format!("{x:.0}%")),
        g.cpu.machine,
        loadavg()
    );
    for (tid, name, group, pct) in &g.cpu.top {
        println!("    thread {tid} {name:<16} {group:<15} {pct:5.1}%");
    }
}

fn print_tables(glass: &[Glass], inputs: &[InputRun]) {
    println!();
    println!(
        "Glass to glass (ms from the X server having drawn counter k to the first picture \
         showing k at the viewer; content changing at 30 fps):"
    );
    println!();
    println!(
        "| size | content | path | shown / drawn | p50 | p95 | p99 | max | pictures/s | counters shown/s | unreadable |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for g in glass {
        println!(
            "| {}x{} | {} | {} | {} / {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |",
            g.size.0,
            g.size.1,
            g.content,
            g.path,
            g.latencies.len(),
            g.drawn,
            percentile(&g.latencies, 50.0),
            percentile(&g.latencies, 95.0),
            percentile(&g.latencies, 99.0),
            percentile(&g.latencies, 100.0),
            g.pictures as f64 / g.wall,
            g.latencies.len() as f64 / g.wall,
            g.unreadable
        );
    }
    println!();
    println!(
        "CPU over the same windows, % of one core (process: utime+stime of this process minus \
         the drawing thread; rest: tokio workers with both engines' WebRTC stacks, the service, \
         reading the counter):"
    );
    println!();
    println!(
        "| size | content | path | process | capture+encode thread | decode thread | rest | Xvfb | whole machine (of 200) |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for g in glass {
        println!(
            "| {}x{} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.0} |",
            g.size.0,
            g.size.1,
            g.content,
            g.path,
            g.cpu.process,
            g.cpu.encoder,
            g.cpu.decoder,
            g.cpu.rest,
            g.cpu
                .xvfb
                .map_or_else(|| "–".to_owned(), |x| format!("{x:.0}")),
            g.cpu.machine
        );
    }
    println!();
    println!("Drawing a counter frame, send → round-trip answer (ms, p50 / p99):");
    println!();
    for g in glass {
        println!(
            "- {}x{} {}, {}: {:.2} / {:.2}",
            g.size.0,
            g.size.1,
            g.content,
            g.path,
            percentile(&g.draw_ms, 50.0),
            percentile(&g.draw_ms, 99.0)
        );
    }
    println!();
    println!("Input (ms):");
    println!();
    println!("| monitor | path | moves | p50 | p95 | p99 | max |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for run in inputs {
        let size = format!("{}x{}", run.size.0, run.size.1);
        for (path, values) in [
            (
                "tether: `send_input` call → MotionNotify on the customer's display",
                &run.engine,
            ),
            (
                "tether: `send_input` call → it resolves (CSR side)",
                &run.engine_call,
            ),
            (
                "raw: `Injector::inject` (XTest + flush) → MotionNotify",
                &run.raw,
            ),
            (
                "`capture::displays()` alone (called by the engine per event)",
                &run.displays,
            ),
        ] {
            println!(
                "| {size} | {path} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                values.len(),
                percentile(values, 50.0),
                percentile(values, 95.0),
                percentile(values, 99.0),
                percentile(values, 100.0)
            );
        }
    }
}
