//! ALSA capture and playback without a sound card: alsa-lib's built-in `null` device (silence
//! in, everything accepted out), its `file` device (what is played lands in a file, read back
//! here), devices that do not exist, the defaults, and the mixer that lets voices share a speaker.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tether_media::MediaError;
use tether_media::alsa_device::{Microphone, Mixer, Speaker, default_microphone, default_speaker};
use tether_media::devices::audio_devices;
use tether_media::tone::ToneSource;
use tether_media::voice::{AudioSink, AudioSource, FRAME_SAMPLES};

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tether-media-alsa-{}-{name}", std::process::id()))
}

#[test]
fn capture_from_null_yields_silent_frames() {
    let mut microphone = Microphone::open("null").expect("the null device opens for capture");
    assert!(microphone.name().contains("null"), "{}", microphone.name());
    let started = Instant::now();
    let frames = 25;
    for _ in 0..frames {
        let frame = microphone.next_frame().expect("a frame from null");
        assert_eq!(frame.len(), FRAME_SAMPLES);
        assert!(frame.iter().all(|&s| s == 0), "null captures silence");
    }
    let elapsed = started.elapsed();
    assert!(microphone.error().is_none(), "{:?}", microphone.error());
    // 25 frames are 500 ms of audio: null delivers them at (roughly) the pace of a real device.
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
        "25 frames in {elapsed:?}"
    );
}

#[test]
fn playback_to_null_accepts_frames() {
    let mut speaker = Speaker::open("null").expect("the null device opens for playback");
    let mut tone = ToneSource::frames(440.0, 8000, 50);
    while let Some(frame) = tone.next_frame() {
        speaker.play(&frame);
    }
    assert!(speaker.error().is_none(), "{:?}", speaker.error());
    assert_eq!(speaker.underruns(), 0);
    assert!(speaker.dropped() < 50 * FRAME_SAMPLES as u64);
}

#[test]
fn missing_devices_are_unavailable_and_named() {
    for name in ["hw:99,0", "nosuchdevice"] {
        match Microphone::open(name) {
            Err(MediaError::Unavailable(message)) => {
                assert!(message.contains(name), "{message}");
                assert!(message.contains("capture"), "{message}");
            }
            other => panic!("capture from {name}: {other:?}"),
        }
        match Speaker::open(name) {
            Err(MediaError::Unavailable(message)) => {
                assert!(message.contains(name), "{message}");
                assert!(message.contains("playback"), "{message}");
            }
            other => panic!("playback to {name}: {other:?}"),
        }
    }
    assert!(matches!(
        Microphone::open(""),
        Err(MediaError::Unavailable(_))
    ));
    assert!(matches!(
        Speaker::open("a\0b"),
        Err(MediaError::Unavailable(_))
    ));
}

#[test]
fn defaults_follow_the_device_listing() {
    let devices = audio_devices();
    let capture = devices.iter().find(|d| d.capture).map(|d| d.alsa_name());
    let playback = devices.iter().find(|d| d.playback).map(|d| d.alsa_name());
    assert_eq!(default_microphone(), capture);
    assert_eq!(default_speaker(), playback);
    if let Some(name) = default_speaker() {
        assert!(name.starts_with("plughw:"), "{name}");
    }
}

/// The ALSA name of the `file` device writing raw samples to `path` (its slave is `null`).
fn file_device(path: &std::path::Path) -> String {
    let path_text = path.to_str().expect("a UTF-8 temporary path");
    assert!(
        !path_text.contains(['\'', '"', ',', '\\']),
        "a path ALSA arguments can carry: {path_text}"
    );
    format!("file:FILE='{path_text}',FORMAT=raw")
}

/// The samples a `file` device wrote, removing its file.
fn read_raw(path: &std::path::Path) -> Vec<i16> {
    let bytes = std::fs::read(path).expect("the file device wrote its file");
    let _ = std::fs::remove_file(path);
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_ne_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn playback_through_the_file_device_writes_the_samples() {
    let path = scratch("played.raw");
    let device = file_device(&path);
    let mut tone = ToneSource::frames(1000.0, 10_000, 10);
    let mut expected = Vec::new();
    {
        let mut speaker = Speaker::open(&device).expect("the file device opens for playback");
        while let Some(frame) = tone.next_frame() {
            speaker.play(&frame);
            expected.extend_from_slice(&frame);
        }
        assert!(speaker.error().is_none(), "{:?}", speaker.error());
        assert_eq!(speaker.dropped(), 0);
    }
    let written = read_raw(&path);
    assert_eq!(written.len(), expected.len(), "every sample, mono 16-bit");
    assert!(
        written == expected,
        "the samples written are the samples played"
    );
}

/// A sink that keeps everything it is given.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<i16>>>);

impl AudioSink for Keep {
    fn play(&mut self, samples: &[i16]) {
        self.0.lock().expect("lock").extend_from_slice(samples);
    }
}

#[test]
fn the_mixer_sums_voices_and_plays_one_behind() {
    let kept = Keep::default();
    let mixer = Mixer::new(Box::new(kept.clone()));
    let mut a = mixer.input();
    let mut b = mixer.input();
    let frame = |v: i16| [v; FRAME_SAMPLES];
    a.play(&frame(100));
    assert!(
        kept.0.lock().expect("lock").is_empty(),
        "held one frame back"
    );
    b.play(&frame(20));
    a.play(&frame(30_000));
    b.play(&frame(30_000));
    {
        let out = kept.0.lock().expect("lock");
        assert_eq!(
            out.len(),
            FRAME_SAMPLES,
            "the first frame, once a second came"
        );
        assert!(out.iter().all(|&s| s == 120), "summed: {:?}", &out[..4]);
    }
    drop(a);
    drop(b);
    let out = kept.0.lock().expect("lock");
    assert_eq!(
        out.len(),
        2 * FRAME_SAMPLES,
        "the rest when the voices leave"
    );
    assert!(
        out[FRAME_SAMPLES..].iter().all(|&s| s == i16::MAX),
        "clipped"
    );
}

#[test]
fn a_late_voice_joins_at_the_current_point() {
    let kept = Keep::default();
    let mixer = Mixer::new(Box::new(kept.clone()));
    let mut a = mixer.input();
    for _ in 0..5 {
        a.play(&[1; FRAME_SAMPLES]);
    }
    let mut b = mixer.input();
    b.play(&[2; FRAME_SAMPLES]);
    drop(a);
    drop(b);
    let out = kept.0.lock().expect("lock");
    assert_eq!(
        out.len(),
        5 * FRAME_SAMPLES,
        "nothing delayed, nothing lost"
    );
    assert!(out[..4 * FRAME_SAMPLES].iter().all(|&s| s == 1));
    assert!(out[4 * FRAME_SAMPLES..].iter().all(|&s| s == 3));
}

#[test]
fn two_voices_mixed_into_one_device() {
    let path = scratch("mixed.raw");
    let speaker = Speaker::open(&file_device(&path)).expect("the file device opens");
    let mixer = Mixer::new(Box::new(speaker));
    let (mut low, mut high) = (mixer.input(), mixer.input());
    let mut a = ToneSource::frames(300.0, 6000, 10);
    let mut b = ToneSource::frames(2000.0, 6000, 10);
    let mut expected = Vec::new();
    while let (Some(x), Some(y)) = (a.next_frame(), b.next_frame()) {
        low.play(&x);
        high.play(&y);
        expected.extend(x.iter().zip(&y).map(|(x, y)| x + y));
    }
    drop((low, high, mixer));
    let written = read_raw(&path);
    assert_eq!(written.len(), expected.len());
    assert!(written == expected, "the device got the sum of both voices");
}
