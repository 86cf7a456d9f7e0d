//! What the voice and camera tests share: tone WAV files (a fake microphone for Chromium, a
//! voice file for the helper), reading the frequency of a WAV file the helper is still writing,
//! a counting sink a native engine plays into, a WebAudio analyser on a page's <audio> player,
//! and the colour in the middle of a camera tile.

use crate::common::{WAIT, check};
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tether_engine::voice::SinkFactory;
use tether_media::tone::{CountingSink, ToneSource, dominant_frequency};
use tether_media::voice::{AudioSink, AudioSource};
use tether_media::wav::WavSink;
use tether_tests::browser::Browser;

/// Write `seconds` of a `frequency` Hz tone as a 48 kHz mono 16-bit WAV file.
pub fn write_tone(path: &Path, frequency: f64, seconds: u64) {
    let mut tone = ToneSource::for_duration(frequency, 9000, Duration::from_secs(seconds));
    let mut sink = WavSink::create(path).expect("create the tone file");
    while let Some(frame) = tone.next_frame() {
        sink.play(&frame);
    }
    sink.finish().expect("finish the tone file");
}

/// The Chromium flag that makes its fake microphone play `wav` (looping).
pub fn fake_microphone(wav: &Path) -> String {
    format!("--use-file-for-fake-audio-capture={}", wav.display())
}

/// The samples a WAV file being written holds so far (its header's lengths are not final).
pub fn wav_samples(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes
        .get(44..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The dominant frequency of the last second of `samples`.
pub fn tail_frequency(samples: &[i16]) -> Option<f64> {
    let start = samples.len().saturating_sub(48_000);
    dominant_frequency(&samples[start..])
}

/// Wait until the WAV file at `path` holds at least `seconds` of audio; its samples.
pub async fn wav_with(path: &Path, seconds: f64) -> Vec<i16> {
    let want = (seconds * 48_000.0) as usize;
    let start = Instant::now();
    loop {
        let samples = wav_samples(path);
        if samples.len() >= want {
            return samples;
        }
        assert!(
            start.elapsed() < WAIT,
            "{} holds {} samples after {WAIT:?}, not {want}",
            path.display(),
            samples.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many samples `path` gained over `window`, after waiting `settle` first.
pub async fn wav_growth(path: &Path, settle: Duration, window: Duration) -> usize {
    tokio::time::sleep(settle).await;
    let before = wav_samples(path).len();
    tokio::time::sleep(window).await;
    wav_samples(path).len().saturating_sub(before)
}

/// A counting sink the test reads while a native engine plays into it.
#[derive(Clone, Default)]
pub struct Heard(Arc<Mutex<CountingSink>>);

impl AudioSink for Heard {
    fn play(&mut self, samples: &[i16]) {
        self.0.lock().expect("sink").play(samples);
    }
}

impl Heard {
    pub fn frames(&self) -> u64 {
        self.0.lock().expect("sink").frames()
    }

    pub fn frequency(&self) -> Option<f64> {
        self.0.lock().expect("sink").dominant_frequency()
    }

    /// One sink for every speaker.
    pub fn factory(&self) -> SinkFactory {
        let me = self.clone();
        Box::new(move |_| Box::new(me.clone()))
    }

    /// Wait until at least `frames` frames were heard.
    pub async fn at_least(&self, frames: u64) {
        let start = Instant::now();
        while self.frames() < frames {
            assert!(
                start.elapsed() < WAIT,
                "the engine heard {} frames within {WAIT:?}, not {frames}",
                self.frames()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many frames arrived over `window`, after waiting `settle` first.
    pub async fn growth(&self, settle: Duration, window: Duration) -> u64 {
        tokio::time::sleep(settle).await;
        let before = self.frames();
        tokio::time::sleep(window).await;
        self.frames() - before
    }
}

/// Attach an AnalyserNode to the player `selector` (once) and return its strongest frequency
/// between 100 Hz and 5 kHz with its level in dB, or null before there is a player.
const ANALYSE: &str = "const a = document.querySelector(arguments[0]); \
    if (!a || !a.srcObject) return null; \
    let p = window.__tetherProbe; \
    if (!p || p.el !== a) { \
      const ctx = new AudioContext({ sampleRate: 48000 }); \
      const an = ctx.createAnalyser(); an.fftSize = 16384; an.smoothingTimeConstant = 0; \
      ctx.createMediaStreamSource(a.srcObject).connect(an); \
      ctx.resume(); \
      p = window.__tetherProbe = { el: a, ctx, an }; \
    } \
    const bins = new Float32Array(p.an.frequencyBinCount); p.an.getFloatFrequencyData(bins); \
    const hz = p.ctx.sampleRate / p.an.fftSize; \
    let best = 0, level = -Infinity; \
    for (let i = Math.ceil(100 / hz); i < Math.min(bins.length, 5000 / hz); i++) \
      if (bins[i] > level) { level = bins[i]; best = i; } \
    return { hz: best * hz, level: Number.isFinite(level) ? level : -999, state: p.ctx.state };";

/// Wait until the page's player `selector` carries a tone of `frequency` Hz (± `tolerance`)
/// louder than -50 dB (full scale is 0 dB); the frequency and level seen.
pub async fn page_hears(
    browser: &Browser,
    selector: &str,
    frequency: f64,
    tolerance: f64,
) -> (f64, f64) {
    let start = Instant::now();
    loop {
        let last = check(
            browser,
            "analyse the received voice",
            browser.execute(ANALYSE, json!([selector])).await,
        )
        .await;
        if let (Some(hz), Some(level)) = (last["hz"].as_f64(), last["level"].as_f64())
            && level > -50.0
            && (hz - frequency).abs() <= tolerance
        {
            return (hz, level);
        }
        if start.elapsed() > WAIT {
            let _ = browser.screenshot("failed-page-hears").await;
            panic!(
                "the page's {selector} did not carry {frequency} Hz (±{tolerance}) within \
                 {WAIT:?}; the analyser last said {last}\nbrowser console:\n{}",
                browser.console_log().await.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The mean colour of the middle of the camera tile of participant `id`, once it plays.
pub const TILE_COLOUR: &str = "const v = document.querySelector(`#cameras figure[data-participant=\"${arguments[0]}\"] video`); \
    if (!v || v.readyState < 2 || !v.videoWidth) return null; \
    const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight; \
    const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
    const d = g.getImageData(Math.floor(c.width / 4), Math.floor(c.height / 4), Math.floor(c.width / 2), Math.floor(c.height / 2)).data; \
    const sum = [0, 0, 0]; for (let i = 0; i < d.length; i += 4) { sum[0] += d[i]; sum[1] += d[i + 1]; sum[2] += d[i + 2]; } \
    const n = d.length / 4; return { size: [c.width, c.height], rgb: sum.map((s) => Math.round(s / n)) };";
