//! Screen video speed on a real X server: content drawn with x11rb ("typing", "scrolling",
//! "video") is grabbed, converted BGRA→I420 and encoded with OpenH264 (tether's encoder), each
//! stage timed per frame; the same I420 frames are then encoded with x264 (`ultrafast`,
//! `zerolatency`, one thread) by the `ffmpeg` binary in the same run, as the peer. Last, the
//! whole paced loop (`ScreenEncoder`, at most 30 fps) runs while the content keeps changing,
//! for its sustained frame rate and CPU time. Prints markdown tables.
//!
//! `cargo bench -p tether-media --bench video` on `DISPLAY`, or on a private Xvfb of 1920x1080
//! when `DISPLAY` is unset. Env `VIDEO_FRAMES` (frames a case, default 90) and
//! `VIDEO_SECONDS` (seconds of each sustained run, default 5).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tether_media::capture::{self, Capturer, DisplayInfo};
use tether_media::encode::{EncoderSettings, H264Encoder};
use tether_media::frame::I420;
use tether_media::screen::{ScreenEncoder, ScreenSettings, Source};
use x11rb::connection::{Connection, RequestConnection as _};
use x11rb::protocol::randr::{ConnectionExt as _, MonitorInfo};
use x11rb::protocol::xproto::{
    ChangeGCAux, ConnectionExt as _, CreateGCAux, CreateWindowAux, Gcontext, ImageFormat, Pixmap,
    Rectangle, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// The content's frame rate: drawing pace, timestamps and ffmpeg's `-r`.
const FPS: u64 = 30;
/// The name of the 1280x720 RandR monitor added for the 720p cases (deleted afterwards).
const MONITOR_720: &str = "TETHER-BENCH-720";
const WHITE: u32 = 0xffffff;
const INK: u32 = 0x202020;
/// Text layout: glyph cell, line height, page margin (pixels).
const CELL_W: i16 = 10;
const LINE_H: i16 = 22;
const MARGIN: i16 = 40;
/// Scrolling moves the page up this many pixels a frame (two lines).
const SCROLL_STEP: i16 = 2 * LINE_H;
/// The video texture is this much larger than the screen each way, for panning over it.
const PAN: u16 = 240;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    /// A page of text; one more glyph and the cursor every frame.
    Typing,
    /// A page of text moving up two lines every frame, new lines at the bottom.
    Scrolling,
    /// A camera pan over a detailed texture: every pixel moves every frame.
    Video,
}

impl Content {
    const ALL: [Content; 3] = [Content::Typing, Content::Scrolling, Content::Video];

    fn name(self) -> &'static str {
        match self {
            Content::Typing => "typing",
            Content::Scrolling => "scrolling",
            Content::Video => "video (pan)",
        }
    }
}

fn main() -> ExitCode {
    if std::env::var_os("DISPLAY").is_none() {
        return run_on_own_xvfb();
    }
    let frames = env_number("VIDEO_FRAMES", 90).max(10) as usize;
    let seconds = env_number("VIDEO_SECONDS", 5).max(1);
    let display = std::env::var("DISPLAY").unwrap_or_default();
    println!(
        "screen video on DISPLAY={display}: {frames} frames a case, {seconds} s a sustained run, {} cores",
        thread::available_parallelism().map_or(0, |n| n.get())
    );

    let mut stages = Vec::new();
    let mut sustained = Vec::new();
    for (width, height) in [(1920u16, 1080u16), (1280, 720)] {
        let mut x = Drawer::connect(&display);
        if x.screen_w < width || x.screen_h < height {
            println!(
                "the screen is {}x{}: {width}x{height} skipped",
                x.screen_w, x.screen_h
            );
            continue;
        }
        // 1080p: the screen's own monitor; 720p: a RandR monitor added for the run.
        let monitor = Monitor720::add_if(&display, (width, height) != (x.screen_w, x.screen_h));
        let info = find_monitor(width, height, monitor.as_ref().map(|_| MONITOR_720));
        for content in Content::ALL {
            x.open_page(&info, content);
            let case = measure_stages(&mut x, &info, content, frames);
            print_case(&case);
            stages.push(case);
            x.close_page();

            x.open_page(&info, content);
            let run = measure_sustained(x, &info, content, seconds);
            x = run.1;
            println!(
                "  sustained: {:.1} frames/s sent, {:.0}% of a core",
                run.0.sent_fps, run.0.cpu_percent
            );
            sustained.push(run.0);
            x.close_page();
        }
        drop(monitor);
    }
    print_tables(&stages, &sustained);
    ExitCode::SUCCESS
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Without `DISPLAY`: start Xvfb on a free display number (it prints the number on a pipe),
/// then run this benchmark again with `DISPLAY` naming it (a process cannot safely change its
/// own environment), and stop Xvfb when that child is done.
fn run_on_own_xvfb() -> ExitCode {
    let mut wrapper = Command::new("sh")
        .arg("-c")
        .arg(
            "Xvfb -displayfd 3 -nolisten tcp -noreset +extension XTEST +extension RANDR \
             -screen 0 1920x1080x24 3>&1 1>/dev/null 2>/dev/null & x=$!; read _; kill $x",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb is installed (scripts/packages.sh installs it)");
    let mut number = String::new();
    BufReader::new(wrapper.stdout.take().expect("Xvfb's display pipe"))
        .read_line(&mut number)
        .expect("Xvfb's display number");
    let number: u32 = number
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("Xvfb did not start (it printed {number:?})"));
    println!("no DISPLAY: started Xvfb :{number} (1920x1080x24)");
    let status = Command::new(std::env::current_exe().expect("this benchmark's path"))
        .args(std::env::args_os().skip(1))
        .env("DISPLAY", format!(":{number}"))
        .status()
        .expect("run the benchmark on Xvfb");
    stop(wrapper);
    if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Stop the Xvfb wrapper: closing its stdin makes it kill Xvfb.
fn stop(mut wrapper: Child) {
    drop(wrapper.stdin.take());
    let _ = wrapper.wait();
}

/// The monitor of this size (with this name, if given) among `capture::displays()`.
fn find_monitor(width: u16, height: u16, name: Option<&str>) -> DisplayInfo {
    let displays = capture::displays().expect("list the displays");
    displays
        .iter()
        .find(|d| {
            (d.width, d.height) == (u32::from(width), u32::from(height))
                && name.is_none_or(|n| d.name == n)
        })
        .cloned()
        .unwrap_or_else(|| panic!("no {width}x{height} monitor among {displays:?}"))
}

/// A RandR monitor of 1280x720 at the screen's top-left corner, deleted when dropped.
struct Monitor720 {
    conn: RustConnection,
    root: Window,
    name: u32,
}

impl Monitor720 {
    fn add_if(display: &str, wanted: bool) -> Option<Monitor720> {
        if !wanted {
            return None;
        }
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
        let guard = Monitor720 { conn, root, name };
        guard
            .conn
            .randr_set_monitor(root, monitor)
            .expect("send")
            .check()
            .expect("add the 720p monitor");
        Some(guard)
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

/// Draws the content into a window covering the monitor being captured.
struct Drawer {
    conn: RustConnection,
    root: Window,
    depth: u8,
    screen_w: u16,
    screen_h: u16,
    gc: Gcontext,
    window: Option<Window>,
    texture: Option<Pixmap>,
    /// The page's size and the typing position.
    size: (i16, i16),
    cursor: (i16, i16),
    rng: u64,
}

impl Drawer {
    fn connect(display: &str) -> Drawer {
        let (conn, screen) = x11rb::connect(Some(display)).expect("connect to DISPLAY");
        let s = &conn.setup().roots[screen];
        let (root, depth, screen_w, screen_h) =
            (s.root, s.root_depth, s.width_in_pixels, s.height_in_pixels);
        let gc = conn.generate_id().expect("id");
        conn.create_gc(
            gc,
            root,
            &CreateGCAux::new().foreground(INK).graphics_exposures(0),
        )
        .expect("send create_gc");
        Drawer {
            conn,
            root,
            depth,
            screen_w,
            screen_h,
            gc,
            window: None,
            texture: None,
            size: (0, 0),
            cursor: (0, 0),
            rng: 0x2545_f491_4f6c_dd1d,
        }
    }

    /// A white override-redirect window over the monitor, with the content's first picture.
    fn open_page(&mut self, monitor: &DisplayInfo, content: Content) {
        let (w, h) = (monitor.width as u16, monitor.height as u16);
        let window = self.conn.generate_id().expect("id");
        self.conn
            .create_window(
                0,
                window,
                self.root,
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
            .expect("send create_window");
        self.conn.map_window(window).expect("send map_window");
        self.window = Some(window);
        self.size = (w as i16, h as i16);
        self.cursor = (MARGIN, MARGIN);
        match content {
            Content::Typing => {
                // Half a page already written.
                while self.cursor.1 < self.size.1 / 2 {
                    let y = self.cursor.1;
                    self.text_line(y);
                    self.cursor.1 += LINE_H;
                }
            }
            Content::Scrolling => {
                let mut y = MARGIN;
                while y + LINE_H < self.size.1 - MARGIN {
                    self.text_line(y);
                    y += LINE_H;
                }
            }
            Content::Video => {
                self.make_texture(w + PAN, h + PAN);
            }
        }
        self.draw(content, 0);
    }

    fn close_page(&mut self) {
        if let Some(window) = self.window.take() {
            let _ = self.conn.destroy_window(window);
        }
        if let Some(texture) = self.texture.take() {
            let _ = self.conn.free_pixmap(texture);
        }
        self.sync();
    }

    /// Change the page for frame `n` and wait until the server has drawn it.
    fn draw(&mut self, content: Content, n: u64) {
        let Some(window) = self.window else {
            return;
        };
        let (w, h) = self.size;
        match content {
            Content::Typing => {
                let (x, y) = self.cursor;
                self.fill(WHITE, &[rect(x, y, 2, LINE_H - 4)]);
                let glyph = self.glyph(x, y);
                self.fill(INK, &glyph);
                self.cursor.0 += CELL_W;
                if self.cursor.0 + CELL_W > w - MARGIN {
                    self.cursor = (MARGIN, self.cursor.1 + LINE_H);
                }
                if self.cursor.1 + LINE_H > h - MARGIN {
                    self.conn
                        .clear_area(false, window, 0, 0, 0, 0)
                        .expect("send clear_area");
                    self.cursor = (MARGIN, MARGIN);
                }
                let (cx, cy) = self.cursor;
                self.fill(INK, &[rect(cx, cy, 2, LINE_H - 4)]);
            }
            Content::Scrolling => {
                let keep = (h - SCROLL_STEP) as u16;
                self.conn
                    .copy_area(
                        window,
                        window,
                        self.gc,
                        0,
                        SCROLL_STEP,
                        0,
                        0,
                        w as u16,
                        keep,
                    )
                    .expect("send copy_area");
                self.fill(WHITE, &[rect(0, h - SCROLL_STEP, w, SCROLL_STEP)]);
                self.text_line(h - SCROLL_STEP);
                self.text_line(h - LINE_H);
            }
            Content::Video => {
                let Some(texture) = self.texture else {
                    return;
                };
                // Pan back and forth: 6 pixels a frame sideways, 3 down.
                let swing = |speed: u64| {
                    let span = u64::from(PAN) - 1;
                    let at = (n * speed) % (2 * span);
                    (if at > span { 2 * span - at } else { at }) as i16
                };
                self.conn
                    .copy_area(
                        texture,
                        window,
                        self.gc,
                        swing(6),
                        swing(3),
                        0,
                        0,
                        w as u16,
                        h as u16,
                    )
                    .expect("send copy_area");
            }
        }
        self.sync();
    }

    fn fill(&self, colour: u32, rects: &[Rectangle]) {
        let Some(window) = self.window else {
            return;
        };
        self.conn
            .change_gc(self.gc, &ChangeGCAux::new().foreground(colour))
            .expect("send change_gc");
        for chunk in rects.chunks(2000) {
            self.conn
                .poly_fill_rectangle(window, self.gc, chunk)
                .expect("send poly_fill_rectangle");
        }
    }

    /// A line of text-like glyphs at `y`, of random length, words apart.
    fn text_line(&mut self, y: i16) {
        let (w, _) = self.size;
        let span = (w - 2 * MARGIN) as u64;
        let end = MARGIN + (span * (55 + xorshift(&mut self.rng) % 45) / 100) as i16;
        let mut rects = Vec::new();
        let mut x = MARGIN;
        while x + CELL_W <= end {
            rects.extend(self.glyph(x, y));
            x += CELL_W;
        }
        self.fill(INK, &rects);
    }

    /// A glyph in the cell at (x, y): two or three strokes, or nothing (a space).
    fn glyph(&mut self, x: i16, y: i16) -> Vec<Rectangle> {
        let r = xorshift(&mut self.rng);
        if r.is_multiple_of(6) {
            return Vec::new();
        }
        let tall = r & 8 != 0;
        let top = if tall { y + 2 } else { y + 6 };
        let bottom = y + 16;
        let mut strokes = vec![rect(x + 1 + (r >> 8) as i16 % 2, top, 2, bottom - top)];
        strokes.push(rect(x + 1, y + 6 + (r >> 12) as i16 % 8, 7, 2));
        if r & 16 != 0 {
            strokes.push(rect(x + 6, y + 6, 2, bottom - y - 6));
        }
        strokes
    }

    /// A pixmap of `w`x`h` with a detailed, smooth-and-grainy picture, to pan over.
    fn make_texture(&mut self, w: u16, h: u16) {
        let pixmap = self.conn.generate_id().expect("id");
        self.conn
            .create_pixmap(self.depth, pixmap, self.root, w, h)
            .expect("send create_pixmap");
        let row_bytes = usize::from(w) * 4;
        let max_rows = ((self.conn.maximum_request_bytes() - 1024) / row_bytes).max(1);
        let mut y0 = 0usize;
        while y0 < usize::from(h) {
            let rows = max_rows.min(usize::from(h) - y0);
            let mut data = Vec::with_capacity(rows * row_bytes);
            for y in y0..y0 + rows {
                for x in 0..usize::from(w) {
                    let (xf, yf) = (x as f32, y as f32);
                    let grain = (xorshift(&mut self.rng) % 24) as f32 - 12.0;
                    let r = 128.0 + 70.0 * (xf * 0.011 + yf * 0.004).sin() + grain;
                    let g =
                        120.0 + 60.0 * (yf * 0.017 - xf * 0.006).sin() + 30.0 * (xf * 0.05).sin();
                    let b = 110.0 + 80.0 * ((xf + yf) * 0.008).cos() + grain;
                    data.extend_from_slice(&[px(b), px(g), px(r), 0]);
                }
            }
            self.conn
                .put_image(
                    ImageFormat::Z_PIXMAP,
                    pixmap,
                    self.gc,
                    w,
                    rows as u16,
                    0,
                    y0 as i16,
                    0,
                    self.depth,
                    &data,
                )
                .expect("send put_image");
            y0 += rows;
        }
        self.texture = Some(pixmap);
        self.sync();
    }

    fn sync(&self) {
        self.conn
            .get_input_focus()
            .expect("send get_input_focus")
            .reply()
            .expect("round trip");
    }
}

fn px(v: f32) -> u8 {
    v.clamp(0.0, 255.0) as u8
}

fn rect(x: i16, y: i16, width: i16, height: i16) -> Rectangle {
    Rectangle {
        x,
        y,
        width: width.max(0) as u16,
        height: height.max(0) as u16,
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One case's per-frame measurements: tether's path, and x264 on the same frames.
#[derive(Debug)]
struct Case {
    size: (u32, u32),
    content: Content,
    /// Per P-frame (the first frame, an IDR, is kept apart): grab, convert, encode times in ms.
    grab: Vec<f64>,
    convert: Vec<f64>,
    encode: Vec<f64>,
    /// Bytes of each P-frame OpenH264 produced (skipped frames are not counted).
    bytes: Vec<usize>,
    skipped: usize,
    unchanged: usize,
    idr: (f64, usize),
    x264: Vec<X264>,
}

/// x264 on the same frames, from ffmpeg's `-benchmark_all` and `framemd5` output.
#[derive(Debug)]
struct X264 {
    label: &'static str,
    /// Per P-frame: wall time and user+system CPU time in ms.
    real: Vec<f64>,
    cpu: Vec<f64>,
    bytes: Vec<usize>,
    idr: (f64, usize),
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Draw, grab, convert and encode `frames` + 1 frames one at a time, keeping the I420 frames
/// for x264.
fn measure_stages(x: &mut Drawer, info: &DisplayInfo, content: Content, frames: usize) -> Case {
    let mut capturer = Capturer::display(info.index).expect("capture the monitor");
    // scrap answers each grab with the picture it asked for at the previous one: prime it.
    capturer.grab().expect("grab");
    capturer.grab().expect("grab");
    let mut encoder = H264Encoder::new(EncoderSettings::default()).expect("encoder");
    let mut picture = I420::default();
    let mut raw = Vec::new();
    let mut case = Case {
        size: (info.width, info.height),
        content,
        grab: Vec::new(),
        convert: Vec::new(),
        encode: Vec::new(),
        bytes: Vec::new(),
        skipped: 0,
        unchanged: 0,
        idr: (0.0, 0),
        x264: Vec::new(),
    };
    for n in 0..=frames as u64 {
        x.draw(content, n + 1);
        let started = Instant::now();
        let grab = capturer.grab().expect("grab");
        let grabbed = Instant::now();
        if !grab.changed {
            case.unchanged += 1;
        }
        let (w, h) = (grab.frame.width, grab.frame.height);
        picture
            .convert_from(grab.frame, 0, 0, w, h)
            .expect("convert");
        let converted = Instant::now();
        let encoded = encoder.encode(&picture, n * 1000 / FPS).expect("encode");
        let done = Instant::now();
        raw.extend_from_slice(&picture.y);
        raw.extend_from_slice(&picture.u);
        raw.extend_from_slice(&picture.v);
        let bytes = encoded.as_ref().map(|f| f.data.len());
        if n == 0 {
            assert!(encoded.as_ref().is_some_and(|f| f.key), "an IDR first");
            case.idr = (ms(done - converted), bytes.unwrap_or(0));
            continue;
        }
        case.grab.push(ms(grabbed - started));
        case.convert.push(ms(converted - grabbed));
        case.encode.push(ms(done - converted));
        match bytes {
            Some(b) => case.bytes.push(b),
            None => case.skipped += 1,
        }
    }
    let (w, h) = (picture.width, picture.height);
    case.x264
        .push(x264("x264 CRF 23 (default)", &raw, w, h, &[]));
    case.x264.push(x264(
        "x264 2.5 Mbit/s VBV",
        &raw,
        w,
        h,
        &["-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "2500k"],
    ));
    case
}

/// Encode raw I420 frames with x264 through ffmpeg, reading its per-call timings
/// (`-benchmark_all`, microseconds) and per-packet sizes (`framemd5`).
fn x264(label: &'static str, raw: &[u8], width: usize, height: usize, extra: &[&str]) -> X264 {
    let size = format!("{width}x{height}");
    let fps = FPS.to_string();
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-benchmark_all"])
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", &size])
        .args(["-r", &fps, "-i", "-"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-threads", "1"])
        .args(extra)
        .args(["-f", "framemd5", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg is installed (scripts/packages.sh installs it)");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (sizes, log) = thread::scope(|s| {
        s.spawn(move || {
            let _ = stdin.write_all(raw);
        });
        let out = s.spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        (out.join().expect("stdout reader"), log)
    });
    let status = child.wait().expect("ffmpeg");
    assert!(status.success(), "ffmpeg failed:\n{log}");

    // Each frame: its decode_video line(s), then the encode_video line(s) of that frame.
    let mut frames: Vec<(f64, f64)> = Vec::new();
    let mut in_encode = false;
    for line in log.lines() {
        let Some(rest) = line.split("bench:").nth(1) else {
            continue;
        };
        let words: Vec<&str> = rest.split_whitespace().collect();
        if words.len() < 7 {
            continue;
        }
        let number = |i: usize| words[i].parse::<f64>().unwrap_or(0.0) / 1000.0;
        match words[6] {
            "decode_video" => in_encode = false,
            "encode_video" => {
                if !in_encode {
                    frames.push((0.0, 0.0));
                    in_encode = true;
                }
                if let Some(last) = frames.last_mut() {
                    last.0 += number(4);
                    last.1 += number(0) + number(2);
                }
            }
            _ => {}
        }
    }
    let bytes: Vec<usize> = sizes
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(',').nth(4)?.trim().parse().ok())
        .collect();
    let count = raw.len() / (width * height * 3 / 2);
    assert_eq!(frames.len(), count, "one encode timing a frame:\n{log}");
    assert_eq!(bytes.len(), count, "one packet a frame:\n{sizes}");
    X264 {
        label,
        real: frames[1..].iter().map(|f| f.0).collect(),
        cpu: frames[1..].iter().map(|f| f.1).collect(),
        bytes: bytes[1..].to_vec(),
        idr: (frames[0].0, bytes[0]),
    }
}

/// The paced loop while the content changes: its sustained rate and CPU time.
#[derive(Debug)]
struct Sustained {
    size: (u32, u32),
    content: Content,
    seconds: f64,
    slots: u64,
    sent_fps: f64,
    kbit_s: f64,
    /// CPU time of the process minus the drawing thread, in % of one core.
    cpu_percent: f64,
    drawn_fps: f64,
}

fn measure_sustained(
    mut x: Drawer,
    info: &DisplayInfo,
    content: Content,
    seconds: u64,
) -> (Sustained, Drawer) {
    let stop = Arc::new(AtomicBool::new(false));
    // The drawing thread's CPU time (clock ticks), updated after each frame it draws.
    let drawer_ticks = Arc::new(AtomicU64::new(0));
    let drawing = {
        let (stop, ticks) = (Arc::clone(&stop), Arc::clone(&drawer_ticks));
        thread::spawn(move || {
            let started = Instant::now();
            let mut n = 1;
            while !stop.load(Ordering::Relaxed) {
                x.draw(content, n);
                ticks.store(thread_cpu_ticks(), Ordering::Relaxed);
                n += 1;
                let next = started + Duration::from_millis(n * 1000 / FPS);
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
            }
            let drawn_fps = n as f64 / started.elapsed().as_secs_f64();
            (x, drawn_fps)
        })
    };
    let mut screen = ScreenEncoder::new(&Source::Display(info.index), ScreenSettings::default())
        .expect("screen encoder");
    // Warm up: the first keyframe and half a second of frames.
    for _ in 0..FPS / 2 {
        screen.next(false).expect("frame");
    }
    let process_start = process_cpu_ticks();
    let drawer_start = drawer_ticks.load(Ordering::Relaxed);
    let started = Instant::now();
    let (mut slots, mut sent, mut bytes) = (0u64, 0u64, 0usize);
    while started.elapsed() < Duration::from_secs(seconds) {
        slots += 1;
        if let Some(frame) = screen.next(false).expect("frame") {
            sent += 1;
            bytes += frame.data.len();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ticks = process_cpu_ticks() - process_start;
    let drawer = drawer_ticks.load(Ordering::Relaxed) - drawer_start;
    stop.store(true, Ordering::Relaxed);
    let (x, drawn_fps) = drawing.join().expect("drawing thread");
    let cpu_seconds = ticks.saturating_sub(drawer) as f64 / CLOCK_TICKS;
    let run = Sustained {
        size: (info.width, info.height),
        content,
        seconds: elapsed,
        slots,
        sent_fps: sent as f64 / elapsed,
        kbit_s: bytes as f64 * 8.0 / elapsed / 1000.0,
        cpu_percent: cpu_seconds / elapsed * 100.0,
        drawn_fps,
    };
    (run, x)
}

/// Clock ticks a second in `/proc` stat files (`USER_HZ`, 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// CPU time (user + system) from a `/proc` stat file: fields 14 and 15, in clock ticks.
fn stat_cpu_ticks(path: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let after_name = text.rsplit(')').next().unwrap_or_default();
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // Fields after the name start at field 3 (state), so utime (14) is index 11.
    fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)
}

/// The whole process (every thread).
fn process_cpu_ticks() -> u64 {
    stat_cpu_ticks("/proc/self/stat")
}

/// The calling thread.
fn thread_cpu_ticks() -> u64 {
    stat_cpu_ticks("/proc/thread-self/stat")
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mean(values: &[usize]) -> f64 {
    values.iter().sum::<usize>() as f64 / values.len().max(1) as f64
}

fn p50_95(values: &[f64]) -> String {
    format!(
        "{:.2} / {:.2}",
        percentile(values, 50.0),
        percentile(values, 95.0)
    )
}

fn print_case(case: &Case) {
    println!(
        "{}x{} {}: grab {} ms, BGRA→I420 {} ms, OpenH264 {} ms ({:.0} B a P-frame, {} skipped, {} unchanged grabs)",
        case.size.0,
        case.size.1,
        case.content.name(),
        p50_95(&case.grab),
        p50_95(&case.convert),
        p50_95(&case.encode),
        mean(&case.bytes),
        case.skipped,
        case.unchanged
    );
    for x in &case.x264 {
        println!(
            "  {}: {} ms wall, {} ms CPU ({:.0} B a P-frame)",
            x.label,
            p50_95(&x.real),
            p50_95(&x.cpu),
            mean(&x.bytes)
        );
    }
}

fn print_tables(stages: &[Case], sustained: &[Sustained]) {
    println!();
    println!("Per frame (P-frames; p50 / p95 in ms; bytes are the mean of the frames sent):");
    println!();
    println!(
        "| size | content | encoder | grab | BGRA→I420 | encode | B/P-frame | skipped | IDR ms | IDR KB |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for case in stages {
        let size = format!("{}x{}", case.size.0, case.size.1);
        println!(
            "| {size} | {} | OpenH264 2.5 Mbit/s | {} | {} | {} | {:.0} | {}/{} | {:.1} | {:.0} |",
            case.content.name(),
            p50_95(&case.grab),
            p50_95(&case.convert),
            p50_95(&case.encode),
            mean(&case.bytes),
            case.skipped,
            case.encode.len(),
            case.idr.0,
            case.idr.1 as f64 / 1000.0
        );
        for x in &case.x264 {
            println!(
                "| {size} | {} | {} | – | – | {} | {:.0} | 0/{} | {:.1} | {:.0} |",
                case.content.name(),
                x.label,
                p50_95(&x.real),
                mean(&x.bytes),
                x.real.len(),
                x.idr.0,
                x.idr.1 as f64 / 1000.0
            );
        }
    }
    println!();
    println!("Sustained ScreenEncoder loop (max 30 fps, 2.5 Mbit/s), content changing at 30 fps:");
    println!();
    println!(
        "| size | content | seconds | slots/s | frames sent/s | kbit/s | CPU, % of one core | drawn/s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for run in sustained {
        println!(
            "| {}x{} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {:.1} |",
            run.size.0,
            run.size.1,
            run.content.name(),
            run.seconds,
            run.slots as f64 / run.seconds,
            run.sent_fps,
            run.kbit_s,
            run.cpu_percent,
            run.drawn_fps
        );
    }
}
