//! Video end to end on a real X server: a known picture drawn with x11rb is captured (a
//! monitor, a second RandR monitor, a window), encoded, decoded and compared region by region;
//! plus the encoder's keyframes and sizes and the decoder's handling of garbage. The speed of
//! capture and encoding is measured by the `video` benchmark, not here.

mod common;

use std::time::{Duration, Instant};

use tether_media::MediaError;
use tether_media::capture::{self, Capturer, DisplayInfo, Rect, WindowChoice};
use tether_media::decode::H264Decoder;
use tether_media::encode::{EncodedFrame, EncoderSettings, H264Encoder, nal_types};
use tether_media::frame::{Bgra, I420};
use tether_media::screen::{ScreenEncoder, ScreenSettings, Source};
use x11rb::connection::Connection;
use x11rb::protocol::randr::{ConnectionExt as _, MonitorInfo};
use x11rb::protocol::xproto::{
    AtomEnum, ConfigureWindowAux, ConnectionExt as _, CreateWindowAux, PropMode, Window,
    WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// The quadrant colours (RGB): top left, top right, bottom left, bottom right.
const QUADRANTS: [[u8; 3]; 4] = [[200, 40, 40], [40, 180, 60], [50, 70, 210], [230, 210, 50]];
/// A white square in the top-left quadrant, at (MARKER, MARKER) from the screen's corner.
const MARKER: i16 = 96;
const MARKER_SIZE: u16 = 64;
const MARKER_RGB: [u8; 3] = [255, 255, 255];
const APP_TITLE: &str = "tether-test-app";
const APP_RGB: [u8; 3] = [20, 160, 160];
/// How far a mean colour may stray after conversion and H.264 (per channel, 0..255).
const TOLERANCE: f64 = 12.0;
/// The names of the RandR monitors `second_monitor_shows_its_part_of_the_screen` adds.
const LEFT_MONITOR: &str = "TETHER-LEFT";
const RIGHT_MONITOR: &str = "TETHER-RIGHT";

/// Windows drawn on an X display, destroyed when dropped.
struct Drawing {
    conn: RustConnection,
    root: Window,
    width: u16,
    height: u16,
    windows: Vec<Window>,
}

impl Drawing {
    fn connect(display: &str) -> Drawing {
        let (conn, screen) = connect(display);
        let screen = &conn.setup().roots[screen];
        let (root, width, height) = (screen.root, screen.width_in_pixels, screen.height_in_pixels);
        Drawing {
            conn,
            root,
            width,
            height,
            windows: Vec::new(),
        }
    }

    /// A window of one colour; override-redirect ones are placed exactly even under a window
    /// manager and carry no title.
    fn window(
        &mut self,
        parent: Window,
        rect: (i16, i16, u16, u16),
        rgb: [u8; 3],
        title: Option<&str>,
    ) -> Window {
        let id = self.conn.generate_id().expect("window id");
        let pixel = (u32::from(rgb[0]) << 16) | (u32::from(rgb[1]) << 8) | u32::from(rgb[2]);
        let aux = CreateWindowAux::new()
            .background_pixel(pixel)
            .override_redirect(u32::from(title.is_none()));
        let (x, y, w, h) = rect;
        self.conn
            .create_window(
                0,
                id,
                parent,
                x,
                y,
                w,
                h,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &aux,
            )
            .expect("send create_window")
            .check()
            .expect("create_window");
        if let Some(title) = title {
            let utf8 = self.atom("UTF8_STRING");
            let net_wm_name = self.atom("_NET_WM_NAME");
            self.conn
                .change_property8(
                    PropMode::REPLACE,
                    id,
                    AtomEnum::WM_NAME,
                    AtomEnum::STRING,
                    title.as_bytes(),
                )
                .expect("send WM_NAME");
            self.conn
                .change_property8(PropMode::REPLACE, id, net_wm_name, utf8, title.as_bytes())
                .expect("send _NET_WM_NAME");
        }
        self.conn.map_window(id).expect("send map_window");
        self.windows.push(id);
        id
    }

    /// The test pattern over the whole screen: four quadrants and the marker.
    fn pattern(&mut self) {
        let (w, h) = (self.width, self.height);
        let base = self.window(self.root, (0, 0, w, h), [0, 0, 0], None);
        let (hw, hh) = (w / 2, h / 2);
        let quads = [
            (0, 0),
            (hw as i16, 0),
            (0, hh as i16),
            (hw as i16, hh as i16),
        ];
        for ((x, y), rgb) in quads.into_iter().zip(QUADRANTS) {
            self.window(base, (x, y, hw, hh), rgb, None);
        }
        self.window(
            base,
            (MARKER, MARKER, MARKER_SIZE, MARKER_SIZE),
            MARKER_RGB,
            None,
        );
        self.sync();
    }

    fn atom(&self, name: &str) -> u32 {
        self.conn
            .intern_atom(false, name.as_bytes())
            .expect("send intern_atom")
            .reply()
            .expect("atom")
            .atom
    }

    /// Wait until the server has done everything sent so far (and painted the backgrounds).
    fn sync(&self) {
        self.conn
            .get_input_focus()
            .expect("send get_input_focus")
            .reply()
            .expect("round trip");
    }
}

impl Drop for Drawing {
    fn drop(&mut self) {
        for id in self.windows.drain(..).rev() {
            let _ = self.conn.destroy_window(id);
        }
        let _ = self.conn.get_input_focus().map(|c| c.reply());
    }
}

/// An x11rb connection and its screen number.
fn connect(display: &str) -> (RustConnection, usize) {
    // An X server without clients resets, refusing connections for a moment: try again.
    let mut attempts = 0;
    loop {
        match x11rb::connect(Some(display)) {
            Ok(connected) => return connected,
            Err(e) if attempts == 20 => panic!("cannot connect to {display}: {e}"),
            Err(_) => attempts += 1,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The expected colour of the pattern at a root-window point.
fn pattern_rgb_at(screen: (u16, u16), x: i32, y: i32) -> [u8; 3] {
    let (m0, m1) = (
        i32::from(MARKER),
        i32::from(MARKER) + i32::from(MARKER_SIZE),
    );
    if (m0..m1).contains(&x) && (m0..m1).contains(&y) {
        return MARKER_RGB;
    }
    let right = x >= i32::from(screen.0 / 2);
    let bottom = y >= i32::from(screen.1 / 2);
    QUADRANTS[usize::from(bottom) * 2 + usize::from(right)]
}

/// Check a picture of `area` (root coordinates) against the pattern: the mean colour of a box
/// in the middle of each quadrant part and of the marker, where they are in the picture.
fn assert_shows_pattern(picture: &I420, area: Rect, screen: (u16, u16)) {
    let (hw, hh) = (i32::from(screen.0 / 2), i32::from(screen.1 / 2));
    let mut probes = vec![(i32::from(MARKER) + 16, i32::from(MARKER) + 16, 32)];
    for (qx, qy) in [(0, 0), (hw, 0), (0, hh), (hw, hh)] {
        probes.push((qx + hw / 2 - 20, qy + hh / 2 - 20, 40));
        probes.push((qx + hw - 60, qy + hh - 60, 40));
    }
    let mut checked = 0;
    for (x, y, size) in probes {
        let inside = Rect {
            x,
            y,
            width: size,
            height: size,
        };
        if inside.intersect(&area) != Some(inside) {
            continue;
        }
        let want = pattern_rgb_at(screen, x, y);
        let (px, py) = ((x - area.x) as usize, (y - area.y) as usize);
        let got = picture.mean_rgb(px, py, size as usize, size as usize);
        assert_close(got, want, &format!("the box at ({x}, {y}) in {area:?}"));
        checked += 1;
    }
    assert!(
        checked >= 2,
        "the area {area:?} holds too little of the pattern to check"
    );
}

fn assert_close(got: [f64; 3], want: [u8; 3], what: &str) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - f64::from(w)).abs() <= TOLERANCE,
            "{what}: mean colour {got:?}, expected {want:?}"
        );
    }
}

/// Grab twice (the first may have been requested before the drawing) and return the second.
fn fresh_grab(capturer: &mut Capturer) -> (Bgra, Rect) {
    capturer.grab().expect("first grab");
    let grab = capturer.grab().expect("second grab");
    (grab.frame.clone(), grab.area)
}

fn encode_decode(picture: &I420) -> (EncodedFrame, I420) {
    let mut encoder = H264Encoder::new(EncoderSettings::default()).expect("encoder");
    let encoded = encoder
        .encode(picture, 0)
        .expect("encode")
        .expect("a first frame is never skipped");
    let decoded = H264Decoder::new()
        .expect("decoder")
        .decode(&encoded.data)
        .expect("decode");
    (encoded, decoded.expect("a keyframe decodes to a picture"))
}

fn monitor_at(displays: &[DisplayInfo], rect: Rect) -> &DisplayInfo {
    displays
        .iter()
        .find(|d| d.rect() == rect)
        .unwrap_or_else(|| panic!("no monitor at {rect:?} among {displays:?}"))
}

#[test]
fn pattern_survives_capture_encode_and_decode() {
    let (display, _turn) = common::shared();
    let mut drawing = Drawing::connect(&display);
    drawing.pattern();
    let screen = (drawing.width, drawing.height);
    let displays = capture::displays().expect("list displays");
    let first = &displays[0];
    assert_eq!((first.index, first.x, first.y), (0, 0, 0), "{displays:?}");

    let mut capturer = Capturer::display(0).expect("capture display 0");
    let (frame, area) = fresh_grab(&mut capturer);
    assert_eq!(
        (frame.width, frame.height),
        (first.width as usize, first.height as usize)
    );
    assert_eq!(area, first.rect());
    let picture = I420::from_bgra(&frame).expect("convert");
    assert_shows_pattern(&picture, area, screen);

    let (encoded, decoded) = encode_decode(&picture);
    assert!(encoded.key, "the first frame is a keyframe");
    let types = nal_types(&encoded.data);
    assert_eq!(
        &types[..2],
        &[7, 8],
        "SPS and PPS lead a keyframe: {types:?}"
    );
    assert!(
        types.contains(&5),
        "a keyframe holds an IDR slice: {types:?}"
    );
    let sps_at = encoded
        .data
        .windows(4)
        .position(|w| w == [0, 0, 1, 0x67])
        .expect("an SPS")
        + 4;
    assert_eq!(encoded.data[sps_at], 66, "profile_idc is Baseline");
    assert_eq!(
        (decoded.width, decoded.height),
        (picture.width, picture.height)
    );
    assert_shows_pattern(&decoded, area, screen);
}

#[test]
fn still_screen_sends_nothing_until_it_changes_or_a_keyframe_is_asked() {
    let (display, _turn) = common::shared();
    let mut drawing = Drawing::connect(&display);
    drawing.pattern();
    let mut screen =
        ScreenEncoder::new(&Source::Display(0), ScreenSettings::default()).expect("screen encoder");
    let first = screen
        .next(false)
        .expect("first frame")
        .expect("the first grab is sent");
    assert!(first.key);
    let mut settled = false;
    for _ in 0..20 {
        if screen.next(false).expect("next").is_none() {
            settled = true;
            break;
        }
    }
    assert!(settled, "a still screen stops producing frames");
    let started = Instant::now();
    for _ in 0..5 {
        assert!(
            screen.next(false).expect("next").is_none(),
            "a still screen sends nothing"
        );
    }
    let interval = screen.frame_interval();
    assert!(
        started.elapsed() >= interval * 4,
        "frames are paced at {interval:?}"
    );

    let key = screen
        .next(true)
        .expect("forced")
        .expect("a forced keyframe is sent");
    assert!(key.key, "a forced frame is a keyframe");
    screen.request_keyframe();
    let key = screen
        .next(false)
        .expect("requested")
        .expect("a requested keyframe is sent");
    assert!(
        key.key && nal_types(&key.data).starts_with(&[7, 8]),
        "SPS and PPS repeat with every IDR"
    );

    drawing.window(drawing.root, (700, 300, 200, 100), [255, 255, 255], None);
    drawing.sync();
    let changed = (0..3).find_map(|_| screen.next(false).expect("next"));
    let changed = changed.expect("a change is sent");
    assert!(!changed.key, "a change is a P-frame");
}

#[test]
fn window_is_captured_by_title_and_by_id() {
    let (display, _turn) = common::shared();
    let mut drawing = Drawing::connect(&display);
    drawing.pattern();
    let id = drawing.window(drawing.root, (300, 200, 400, 300), APP_RGB, Some(APP_TITLE));
    drawing.sync();

    let listed = capture::windows().expect("list windows");
    let app = listed
        .iter()
        .find(|w| w.id == id)
        .expect("the window is listed");
    assert_eq!(app.title, APP_TITLE);
    let rect = Rect {
        x: 300,
        y: 200,
        width: 400,
        height: 300,
    };
    assert_eq!(app.rect, rect);
    assert_eq!(capture::window_rect(id).expect("window_rect"), rect);

    for choice in [WindowChoice::Title(APP_TITLE.into()), WindowChoice::Id(id)] {
        let mut capturer = Capturer::window(&choice).expect("capture the window");
        assert_eq!(capturer.window_id(), Some(id));
        let (frame, area) = fresh_grab(&mut capturer);
        assert_eq!(
            (frame.width, frame.height, area),
            (400, 300, rect),
            "{choice:?}"
        );
        let (_, decoded) = encode_decode(&I420::from_bgra(&frame).expect("convert"));
        assert_close(
            decoded.mean_rgb(0, 0, 400, 300),
            APP_RGB,
            &format!("the window by {choice:?}"),
        );
    }

    let mut capturer = Capturer::window(&WindowChoice::Id(id)).expect("capture the window");
    fresh_grab(&mut capturer);
    assert!(
        !capturer.grab().expect("grab").changed,
        "an unchanged window is reported unchanged"
    );
    let moved = ConfigureWindowAux::new()
        .x(500)
        .y(150)
        .width(320)
        .height(240);
    drawing
        .conn
        .configure_window(id, &moved)
        .expect("send configure_window");
    drawing.sync();
    let grab = capturer.grab().expect("grab after the move");
    assert!(grab.changed);
    assert_eq!(
        grab.area,
        Rect {
            x: 500,
            y: 150,
            width: 320,
            height: 240
        }
    );
    assert_eq!((grab.frame.width, grab.frame.height), (320, 240));

    drawing
        .conn
        .destroy_window(id)
        .expect("send destroy_window");
    drawing.sync();
    assert!(
        matches!(capturer.grab(), Err(MediaError::Unavailable(_))),
        "a closed window is unavailable"
    );
}

#[test]
fn missing_windows_and_displays_are_clear_errors() {
    let (display, _turn) = common::shared();
    // Held so the X server does not reset between the connections below.
    let _client = Drawing::connect(&display);
    let none = capture::find_window(&WindowChoice::Title("no window has this title 7f3a".into()));
    assert!(matches!(none, Err(MediaError::Unavailable(_))), "{none:?}");
    let bad_id = capture::window_rect(0x7fff_fff0);
    assert!(
        matches!(bad_id, Err(MediaError::Unavailable(_))),
        "{bad_id:?}"
    );
    let bad_index = Capturer::display(99);
    assert!(
        matches!(bad_index, Err(MediaError::Unavailable(ref e)) if e.contains("99")),
        "{bad_index:?}"
    );
    assert_eq!(
        capture::displays_on(&display).expect("list the displays of the named display"),
        capture::displays().expect("list the displays of DISPLAY"),
        "DISPLAY names the shared display"
    );

    // A display number no server answers on: listing fails clearly (scrap, which reads only
    // DISPLAY, is not asked, because listing comes first everywhere).
    let missing = (9000..9100)
        .map(|n| format!(":{n}"))
        .find(|name| x11rb::connect(Some(name)).is_err())
        .expect("an unused display number");
    let err = capture::displays_on(&missing).expect_err("no display");
    assert!(
        matches!(err, MediaError::Unavailable(ref e) if e.contains("no X display")),
        "{err:?}"
    );
}

/// RandR 1.5 monitors added to the shared display for one test, deleted again when dropped
/// (also when the test fails) so the other tests see the plain screen.
struct Monitors {
    conn: RustConnection,
    root: Window,
    names: Vec<u32>,
}

impl Monitors {
    fn connect(display: &str) -> Monitors {
        let (conn, screen) = connect(display);
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
        Monitors {
            conn,
            root,
            names: Vec::new(),
        }
    }

    /// Add a monitor named `name` covering `rect` (the guard deletes it even if this fails).
    fn add(&mut self, name: &str, rect: (i16, i16, u16, u16), primary: bool) {
        let atom = self
            .conn
            .intern_atom(false, name.as_bytes())
            .expect("send intern_atom")
            .reply()
            .expect("atom")
            .atom;
        self.names.push(atom);
        let (x, y, width, height) = rect;
        let monitor = MonitorInfo {
            name: atom,
            primary,
            automatic: false,
            x,
            y,
            width,
            height,
            width_in_millimeters: u32::from(width) * 254 / 960,
            height_in_millimeters: u32::from(height) * 254 / 960,
            outputs: Vec::new(),
        };
        self.conn
            .randr_set_monitor(self.root, monitor)
            .expect("send set_monitor")
            .check()
            .expect("set monitor");
    }
}

impl Drop for Monitors {
    fn drop(&mut self) {
        for name in self.names.drain(..).rev() {
            let _ = self
                .conn
                .randr_delete_monitor(self.root, name)
                .map(|c| c.check());
        }
        let _ = self.conn.get_input_focus().map(|c| c.reply());
    }
}

#[test]
fn second_monitor_shows_its_part_of_the_screen() {
    let (display, _turn) = common::shared();
    let mut drawing = Drawing::connect(&display);
    let screen = (drawing.width, drawing.height);
    let plain = capture::displays().expect("list displays");
    assert_eq!(
        plain.len(),
        1,
        "the shared display starts with one monitor: {plain:?}"
    );
    let (half, height) = (screen.0 / 2, screen.1);
    let left_rect = Rect {
        x: 0,
        y: 0,
        width: u32::from(half),
        height: u32::from(height),
    };
    let right_rect = Rect {
        x: i32::from(half),
        ..left_rect
    };
    {
        let mut monitors = Monitors::connect(&display);
        monitors.add(LEFT_MONITOR, (0, 0, half, height), true);
        monitors.add(RIGHT_MONITOR, (half as i16, 0, half, height), false);
        drawing.pattern();

        let displays = capture::displays().expect("list displays");
        let left = monitor_at(&displays, left_rect);
        let right = monitor_at(&displays, right_rect);
        assert_eq!((left.name.as_str(), left.primary), (LEFT_MONITOR, true));
        assert_eq!((right.name.as_str(), right.primary), (RIGHT_MONITOR, false));

        let mut capturer = Capturer::display(right.index).expect("capture the right monitor");
        let (frame, area) = fresh_grab(&mut capturer);
        assert_eq!(
            (frame.width, frame.height, area),
            (usize::from(half), usize::from(height), right_rect)
        );
        let (_, decoded) = encode_decode(&I420::from_bgra(&frame).expect("convert"));
        assert_shows_pattern(&decoded, area, screen);
        assert_close(
            decoded.mean_rgb(100, 100, 40, 40),
            QUADRANTS[1],
            "the right monitor's top",
        );
        assert_close(
            decoded.mean_rgb(100, usize::from(height) - 140, 40, 40),
            QUADRANTS[3],
            "the right monitor's bottom",
        );

        let mut capturer = Capturer::display(left.index).expect("capture the left monitor");
        let (frame, area) = fresh_grab(&mut capturer);
        assert_eq!(area, left_rect);
        assert_shows_pattern(&I420::from_bgra(&frame).expect("convert"), area, screen);
    }

    // The guard deleted both monitors: the plain screen again, for the other tests.
    let after = capture::displays().expect("list displays");
    assert_eq!(after, plain, "the added monitors are gone");
    assert_eq!(
        (after[0].x, after[0].y, after[0].width, after[0].height),
        (0, 0, u32::from(screen.0), u32::from(screen.1)),
        "one monitor covering the whole screen: {after:?}"
    );
}

#[test]
fn encoder_follows_size_changes_and_bitrate() {
    let mut encoder = H264Encoder::new(EncoderSettings::default()).expect("encoder");
    let mut decoder = H264Decoder::new().expect("decoder");
    let mut timestamp = 0;
    for (width, height) in [(640, 360), (640, 360), (320, 240)] {
        let picture = gradient(width, height, timestamp as usize);
        let frame = encoder
            .encode(&picture, timestamp)
            .expect("encode")
            .expect("a frame");
        timestamp += 33;
        assert_eq!((frame.width, frame.height), (width, height));
        let decoded = decoder
            .decode(&frame.data)
            .expect("decode")
            .expect("a picture");
        assert_eq!((decoded.width, decoded.height), (width, height));
        assert_close(
            decoded.mean_rgb(0, 0, width, height),
            mean_of(&picture),
            "the decoded picture",
        );
    }
    encoder.set_bitrate(500_000);
    assert!(
        encoder.keyframe_pending(),
        "a big bitrate change re-creates the encoder"
    );
    let frame = encoder
        .encode(&gradient(320, 240, 7), timestamp)
        .expect("encode")
        .expect("a frame");
    assert!(frame.key, "a re-created encoder starts with a keyframe");
    encoder.set_bitrate(520_000);
    assert!(
        !encoder.keyframe_pending(),
        "a small bitrate change costs no keyframe"
    );
    assert!(
        H264Encoder::new(EncoderSettings {
            max_fps: 0.0,
            ..EncoderSettings::default()
        })
        .is_err()
    );
    assert_eq!(
        H264Encoder::new(EncoderSettings {
            max_fps: 60.0,
            ..EncoderSettings::default()
        })
        .expect("encoder")
        .settings()
        .max_fps,
        30.0
    );
}

#[test]
fn decoder_turns_garbage_into_errors_not_panics() {
    let mut decoder = H264Decoder::new().expect("decoder");
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut errors = 0;
    for round in 0..200 {
        let len = 16 + round * 7 % 3000;
        let mut bytes: Vec<u8> = (0..len).map(|_| xorshift(&mut state) as u8).collect();
        if round % 2 == 0 {
            // Give half of them a start code and a plausible NAL header (SPS, PPS, IDR slice).
            bytes.splice(0..0, [0, 0, 0, 1, [0x67, 0x68, 0x65][round % 3]]);
        }
        match decoder.decode(&bytes) {
            Err(MediaError::Codec(_)) => errors += 1,
            Err(other) => panic!("garbage gave a {other:?}, not a codec error"),
            Ok(None) => {}
            Ok(Some(picture)) => {
                assert!(picture.width > 0 && picture.y.len() == picture.width * picture.height)
            }
        }
    }
    assert!(errors > 0, "some garbage is reported as an error");
    // The decoder still works once a real stream starts.
    let picture = gradient(320, 240, 3);
    let mut encoder = H264Encoder::new(EncoderSettings::default()).expect("encoder");
    let frame = encoder
        .encode(&picture, 0)
        .expect("encode")
        .expect("a frame");
    let mut fresh = H264Decoder::new().expect("decoder");
    let decoded = fresh
        .decode(&frame.data)
        .expect("decode")
        .expect("a picture");
    assert_eq!((decoded.width, decoded.height), (320, 240));
}

fn gradient(width: usize, height: usize, seed: usize) -> I420 {
    let mut bgra = Bgra::filled(width, height, [0, 0, 0, 255]);
    for y in 0..height {
        for x in 0..width {
            let at = y * bgra.stride + x * 4;
            bgra.data[at] = ((x + seed) % 256) as u8;
            bgra.data[at + 1] = (y % 256) as u8;
            bgra.data[at + 2] = 128;
        }
    }
    I420::from_bgra(&bgra).expect("convert")
}

fn mean_of(picture: &I420) -> [u8; 3] {
    picture
        .mean_rgb(0, 0, picture.width, picture.height)
        .map(|c| c.round() as u8)
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
