//! Recordings checked by ffprobe and ffmpeg: real H.264 frames (OpenH264, a moving pattern)
//! and two Opus tones into a Matroska file; its streams, sizes, rates, packet counts and
//! duration, with and without a pause, and that ffmpeg decodes all of it without an error.

use openh264::OpenH264API;
use openh264::encoder::{Encoder, EncoderConfig, FrameRate, UsageType};
use openh264::formats::YUVBuffer;
use serde_json::Value;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tether_media::MediaError;
use tether_media::record::{Recorder, RecordingConfig, VideoTrack, VoiceTrack};
use tether_media::tone::ToneSource;
use tether_media::voice::{AudioSource, VoiceEncoder};

const WIDTH: usize = 320;
const HEIGHT: usize = 240;
const FPS: u64 = 10;

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tether-media-record-{}-{name}", std::process::id()))
}

fn config(video: bool) -> RecordingConfig {
    RecordingConfig {
        title: "support session".into(),
        video: video.then(|| VideoTrack {
            name: "screen".into(),
            width: WIDTH as u32,
            height: HEIGHT as u32,
        }),
        voices: vec![VoiceTrack::mono("csr"), VoiceTrack::mono("customer")],
    }
}

/// An H.264 encoder of a moving diagonal pattern, like a scrolling screen.
struct Screen {
    encoder: Encoder,
    frame: u64,
}

impl Screen {
    fn new() -> Self {
        let config = EncoderConfig::new()
            .usage_type(UsageType::ScreenContentRealTime)
            .max_frame_rate(FrameRate::from_hz(FPS as f32))
            .skip_frames(false);
        let encoder =
            Encoder::with_api_config(OpenH264API::from_source(), config).expect("openh264");
        Self { encoder, frame: 0 }
    }

    /// The next frame as an Annex-B access unit; a keyframe every second or when asked.
    fn next(&mut self, keyframe: bool) -> Vec<u8> {
        let t = self.frame as usize;
        let mut yuv = vec![128u8; WIDTH * HEIGHT * 3 / 2];
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                yuv[y * WIDTH + x] = (((x + 4 * t) / 16 + (y + 2 * t) / 16) % 2 * 160 + 40) as u8;
            }
        }
        for (i, v) in yuv[WIDTH * HEIGHT..].iter_mut().enumerate() {
            *v = ((i + 3 * t) % 200 + 28) as u8;
        }
        if keyframe || self.frame.is_multiple_of(FPS) {
            self.encoder.force_intra_frame();
        }
        self.frame += 1;
        let buffer = YUVBuffer::from_vec(yuv, WIDTH, HEIGHT);
        self.encoder.encode(&buffer).expect("encode").to_vec()
    }
}

/// Media flowing into a recorder on a simulated clock: video at 10 fps, two voices every 20 ms.
struct Session {
    recorder: Recorder<std::io::BufWriter<std::fs::File>>,
    screen: Option<Screen>,
    voices: Vec<(ToneSource, VoiceEncoder)>,
    /// Frames and packets the recorder wrote: video, then each voice.
    written: [u64; 3],
    payload: u64,
    writing: Duration,
}

impl Session {
    fn start(path: &Path, video: bool) -> Self {
        let recorder = Recorder::create(path, config(video)).expect("create");
        let voices = [440.0, 660.0]
            .into_iter()
            .map(|f| {
                let encoder = VoiceEncoder::new(32_000).expect("opus");
                (ToneSource::endless(f, 8_000), encoder)
            })
            .collect();
        Self {
            recorder,
            screen: video.then(Screen::new),
            voices,
            written: [0; 3],
            payload: 0,
            writing: Duration::ZERO,
        }
    }

    /// Feed the media of clock times `from..to` (ms); asserts whether the recorder took it.
    fn run(&mut self, from: u64, to: u64, expect_written: bool) {
        for ms in (from..to).step_by(20) {
            let at = Duration::from_millis(ms);
            if ms.is_multiple_of(1000 / FPS)
                && let Some(screen) = &mut self.screen
            {
                let frame = screen.next(self.recorder.waiting_for_keyframe());
                let started = Instant::now();
                let written = self.recorder.write_video(at, &frame).expect("video");
                self.writing += started.elapsed();
                assert_eq!(written, expect_written, "video at {ms} ms");
                self.written[0] += u64::from(written);
                self.payload += frame.len() as u64;
            }
            for (i, (tone, encoder)) in self.voices.iter_mut().enumerate() {
                let frame = tone.next_frame().expect("endless");
                let packet = encoder.encode(&frame).expect("opus");
                let started = Instant::now();
                let written = self.recorder.write_voice(i, at, &packet).expect("voice");
                self.writing += started.elapsed();
                assert_eq!(written, expect_written, "voice {i} at {ms} ms");
                self.written[i + 1] += u64::from(written);
                self.payload += packet.len() as u64;
            }
        }
    }
}

fn ffprobe(path: &Path) -> Value {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_packets",
            "-show_streams",
            "-show_format",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .expect("ffprobe is installed (Debian package ffmpeg)");
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "ffprobe: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("ffprobe JSON")
}

/// Decode every stream with ffmpeg (from the start, or from a seek point); no error allowed.
fn assert_decodes(path: &Path, seek: Option<&str>) {
    let mut command = Command::new("ffmpeg");
    command.args(["-nostdin", "-v", "error"]);
    if let Some(seek) = seek {
        command.args(["-ss", seek]);
    }
    let output = command
        .arg("-i")
        .arg(path)
        .args(["-map", "0", "-f", "null", "-"])
        .output()
        .expect("ffmpeg is installed");
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "ffmpeg (seek {seek:?}): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn number(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Check the streams and duration ffprobe reports against what was written.
fn assert_probe(path: &Path, written: [u64; 3], video: bool, seconds: f64) {
    let probe = ffprobe(path);
    let format = &probe["format"];
    assert!(
        format["format_name"]
            .as_str()
            .expect("format name")
            .contains("matroska"),
        "{format}"
    );
    let duration = number(&format["duration"]);
    assert!(
        (duration - seconds).abs() <= 0.1,
        "ffprobe says {duration} s, {seconds} s were recorded"
    );
    let streams = probe["streams"].as_array().expect("streams");
    let videos: Vec<&Value> = streams
        .iter()
        .filter(|s| s["codec_type"] == "video")
        .collect();
    let audios: Vec<&Value> = streams
        .iter()
        .filter(|s| s["codec_type"] == "audio")
        .collect();
    assert_eq!(streams.len(), videos.len() + audios.len());
    if video {
        assert_eq!(videos.len(), 1, "{streams:?}");
        let v = videos[0];
        assert_eq!(v["codec_name"], "h264");
        assert_eq!(v["width"], WIDTH);
        assert_eq!(v["height"], HEIGHT);
        assert_eq!(number(&v["nb_read_packets"]) as u64, written[0]);
    } else {
        assert!(videos.is_empty(), "{videos:?}");
    }
    assert_eq!(audios.len(), 2, "{streams:?}");
    for (i, a) in audios.iter().enumerate() {
        assert_eq!(a["codec_name"], "opus");
        assert_eq!(a["sample_rate"], "48000");
        assert_eq!(a["channels"], 1);
        assert_eq!(number(&a["nb_read_packets"]) as u64, written[i + 1]);
    }
    assert_eq!(audios[0]["tags"]["title"], "csr");
    assert_eq!(audios[1]["tags"]["title"], "customer");
}

#[test]
fn a_recording_has_the_screen_and_both_voices_for_its_duration() {
    let path = scratch("plain.mkv");
    let seconds = 6;
    let mut session = Session::start(&path, true);
    session.run(0, seconds * 1000, true);
    let written = session.written;
    assert_eq!(written, [seconds * FPS, seconds * 50, seconds * 50]);
    let writing = session.writing;
    let payload = session.payload;
    session
        .recorder
        .finish(Duration::from_millis(seconds * 1000))
        .expect("finish");

    assert_probe(&path, written, true, seconds as f64);
    assert_decodes(&path, None);
    assert_decodes(&path, Some("3.5"));
    let cues = check_layout(&std::fs::read(&path).expect("read"));
    assert_eq!(cues, seconds as usize, "a cue per keyframe (one a second)");
    let size = std::fs::metadata(&path).expect("file").len();
    let calls = written.iter().sum::<u64>();
    eprintln!(
        "{calls} frames and packets, {payload} payload bytes, {size} bytes in the file \
         ({:.1} % container overhead); {:.1} µs per write",
        100.0 * (size - payload) as f64 / payload as f64,
        writing.as_secs_f64() * 1e6 / calls as f64
    );
    assert!(size > payload && size < payload + payload / 5 + 4096);
    std::fs::remove_file(&path).expect("remove");
}

#[test]
fn paused_time_is_left_out_of_the_recording() {
    let path = scratch("paused.mkv");
    let mut session = Session::start(&path, true);
    session.run(0, 3000, true);
    session.recorder.pause(Duration::from_millis(3000));
    assert!(session.recorder.is_paused());
    session.run(3000, 7000, false);
    session.recorder.resume(Duration::from_millis(7000));
    assert!(session.recorder.waiting_for_keyframe());
    session.run(7000, 10_000, true);
    assert_eq!(
        session.recorder.recorded(Duration::from_millis(10_000)),
        Duration::from_secs(6)
    );
    let written = session.written;
    session
        .recorder
        .finish(Duration::from_millis(10_000))
        .expect("finish");

    assert_probe(&path, written, true, 6.0);
    assert_decodes(&path, None);
    std::fs::remove_file(&path).expect("remove");
}

#[test]
fn a_recording_without_any_video_keeps_only_the_voices() {
    let path = scratch("voices.mkv");
    let mut session = Session::start(&path, false);
    session.screen = None;
    session.run(0, 4000, true);
    let written = session.written;
    session
        .recorder
        .finish(Duration::from_millis(4000))
        .expect("finish");
    assert_probe(&path, written, false, 4.0);
    assert_decodes(&path, None);
    assert_decodes(&path, Some("2"));
    std::fs::remove_file(&path).expect("remove");
}

#[test]
fn a_video_track_that_never_got_a_keyframe_is_left_out() {
    let path = scratch("no-keyframe.mkv");
    let mut session = Session::start(&path, true);
    session.screen = None; // the screen was never shared
    session.run(0, 3000, true);
    let written = session.written;
    session
        .recorder
        .finish(Duration::from_millis(3000))
        .expect("finish");
    assert_probe(&path, written, false, 3.0);
    std::fs::remove_file(&path).expect("remove");
}

#[test]
fn frames_before_the_first_keyframe_are_dropped_and_bad_input_refused() {
    let mut screen = Screen::new();
    let key = screen.next(true);
    let delta = screen.next(false);
    let mut recorder = Recorder::new(Cursor::new(Vec::new()), config(true)).expect("recorder");
    assert!(recorder.waiting_for_keyframe());
    assert!(!recorder.write_video(Duration::ZERO, &delta).expect("delta"));
    assert!(
        recorder
            .write_video(Duration::from_millis(100), &key)
            .expect("key")
    );
    assert!(!recorder.waiting_for_keyframe());
    assert!(
        recorder
            .write_video(Duration::from_millis(200), &delta)
            .expect("delta")
    );

    assert!(matches!(
        recorder.write_video(Duration::ZERO, b"no start code"),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(
        recorder.write_voice(2, Duration::ZERO, &[0xFC, 0xFF, 0xFE]),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(
        recorder.write_voice(0, Duration::ZERO, &[]),
        Err(MediaError::Invalid(_))
    ));
    let bytes = recorder
        .finish(Duration::from_millis(300))
        .expect("finish")
        .into_inner();
    assert_eq!(&bytes[..4], [0x1A, 0x45, 0xDF, 0xA3], "an EBML file");

    let mut voices_only = Recorder::new(Cursor::new(Vec::new()), config(false)).expect("audio");
    assert!(matches!(
        voices_only.write_video(Duration::ZERO, &key),
        Err(MediaError::Invalid(_))
    ));
    assert!(matches!(
        Recorder::new(Cursor::new(Vec::new()), RecordingConfig::default()),
        Err(MediaError::Invalid(_))
    ));
}

#[test]
fn a_recording_cut_short_still_plays() {
    // The program dies without finishing: no duration, no cues, sizes left "unknown".
    let path = scratch("cut-short.mkv");
    let mut session = Session::start(&path, true);
    session.run(0, 2500, true);
    assert!(session.written.iter().all(|&n| n > 0));
    let Session { recorder, .. } = session;
    std::mem::forget(recorder); // no Drop: as if the process were killed (after a flush)
    let probe = ffprobe(&path);
    assert_eq!(probe["streams"].as_array().expect("streams").len(), 3);
    // What was still in the write buffer is lost; what reached the file decodes.
    assert_decodes(&path, None);
    std::fs::remove_file(&path).expect("remove");
}

/// Read an EBML VINT at `at`: (value without its marker, length); `None` for all ones
/// ("unknown") as a value.
fn vint(bytes: &[u8], at: usize) -> (Option<u64>, usize) {
    let len = bytes[at].leading_zeros() as usize + 1;
    let mut value = u64::from(bytes[at]) & (0xFF >> len);
    for b in &bytes[at + 1..at + len] {
        value = value << 8 | u64::from(*b);
    }
    let unknown = value == (1u64 << (7 * len)) - 1;
    ((!unknown).then_some(value), len)
}

/// An element found while walking a file: its ID (with marker bits) and where it starts, where
/// its data starts and where it ends.
#[derive(Debug, Clone, Copy)]
struct Element {
    id: u32,
    at: usize,
    data: usize,
    end: usize,
}

/// The element starting at `at`.
fn element(bytes: &[u8], at: usize) -> Element {
    let (id, id_len) = vint(bytes, at);
    assert!(id_len <= 4 && id.is_some(), "bad ID at {at}");
    let id = uint(&bytes[at..at + id_len]) as u32;
    let (size, size_len) = vint(bytes, at + id_len);
    let data = at + id_len + size_len;
    let end = data + size.expect("every size is patched by finish") as usize;
    Element { id, at, data, end }
}

/// The elements in `bytes[from..to]`.
fn children(bytes: &[u8], from: usize, to: usize) -> Vec<Element> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let e = element(bytes, at);
        assert!(
            e.end <= to,
            "element {:X} at {at} overruns its parent",
            e.id
        );
        out.push(e);
        at = e.end;
    }
    out
}

fn uint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, b| acc << 8 | u64::from(*b))
}

fn value(file: &[u8], e: Element) -> u64 {
    uint(&file[e.data..e.end])
}

/// Walk a finished file: EBML header then one Segment whose size is the rest of the file; the
/// SeekHead points at Info, Tracks and Cues; every cue points at a keyframe of the video track
/// inside a Cluster. Returns the number of cues.
fn check_layout(file: &[u8]) -> usize {
    let top = children(file, 0, file.len());
    assert_eq!(
        top.iter().map(|e| e.id).collect::<Vec<_>>(),
        [0x1A45_DFA3, 0x1853_8067]
    );
    let segment = top[1];
    assert_eq!(segment.end, file.len());
    let level1 = children(file, segment.data, segment.end);
    let find = |id: u32| {
        *level1
            .iter()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("no element {id:X} in the segment"))
    };
    let seek_head = find(0x114D_9B74);
    let mut sought = Vec::new();
    for seek in children(file, seek_head.data, seek_head.end) {
        let fields = children(file, seek.data, seek.end);
        let id = value(file, fields[0]) as u32;
        let position = value(file, fields[1]) as usize;
        assert_eq!(find(id).at, segment.data + position, "seek to {id:X}");
        sought.push(id);
    }
    assert_eq!(sought, [0x1549_A966, 0x1654_AE6B, 0x1C53_BB6B]);
    let clusters = level1.iter().filter(|e| e.id == 0x1F43_B675).count();
    assert!(clusters >= 3, "{clusters} clusters");
    let cues = find(0x1C53_BB6B);
    let points = children(file, cues.data, cues.end);
    for point in &points {
        let positions = children(file, point.data, point.end)[1];
        let fields = children(file, positions.data, positions.end);
        let track = value(file, fields[0]);
        let cluster = element(file, segment.data + value(file, fields[1]) as usize);
        assert_eq!(cluster.id, 0x1F43_B675);
        let block = element(file, cluster.data + value(file, fields[2]) as usize);
        assert_eq!(block.id, 0xA3, "a SimpleBlock");
        assert_eq!((track, file[block.data]), (1, 0x81), "of track 1");
        assert_eq!(file[block.data + 3] & 0x80, 0x80, "a keyframe");
    }
    points.len()
}
