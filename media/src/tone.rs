//! Test signals and meters for voice: a sine tone source, a sink that counts what it heard, and
//! an estimate of the dominant frequency of a stretch of samples (a Goertzel scan).

use crate::voice::{AudioSink, AudioSource, FRAME_MS, FRAME_SAMPLES, Frame, SAMPLE_RATE};
use std::collections::VecDeque;
use std::f64::consts::TAU;
use std::time::Duration;

/// A sine tone at a frequency and amplitude, for a number of 20 ms frames or endless.
#[derive(Debug, Clone)]
pub struct ToneSource {
    frequency: f64,
    amplitude: f64,
    /// Frames still to yield; `None` for an endless tone.
    remaining: Option<u64>,
    /// The index of the next sample, so the phase never drifts.
    sample: u64,
}

impl ToneSource {
    /// An endless tone of `frequency` Hz at `amplitude` (peak, out of 32 767).
    pub fn endless(frequency: f64, amplitude: i16) -> Self {
        Self {
            frequency,
            amplitude: f64::from(amplitude.unsigned_abs().min(i16::MAX as u16)),
            remaining: None,
            sample: 0,
        }
    }

    /// A tone lasting `duration`, rounded up to whole 20 ms frames.
    pub fn for_duration(frequency: f64, amplitude: i16, duration: Duration) -> Self {
        let frames = duration.as_millis().div_ceil(u128::from(FRAME_MS));
        Self::frames(
            frequency,
            amplitude,
            u64::try_from(frames).unwrap_or(u64::MAX),
        )
    }

    /// A tone of exactly `frames` 20 ms frames.
    pub fn frames(frequency: f64, amplitude: i16, frames: u64) -> Self {
        Self {
            remaining: Some(frames),
            ..Self::endless(frequency, amplitude)
        }
    }
}

impl AudioSource for ToneSource {
    fn next_frame(&mut self) -> Option<Frame> {
        if let Some(remaining) = &mut self.remaining {
            if *remaining == 0 {
                return None;
            }
            *remaining -= 1;
        }
        let step = TAU * self.frequency / f64::from(SAMPLE_RATE);
        let mut frame = [0i16; FRAME_SAMPLES];
        for value in &mut frame {
            // The phase is taken modulo one period of the sample clock to keep precision.
            let n = (self.sample % u64::from(SAMPLE_RATE)) as f64;
            let whole_seconds = (self.sample / u64::from(SAMPLE_RATE)) as f64;
            let phase = step * n + (TAU * self.frequency * whole_seconds) % TAU;
            *value = (self.amplitude * phase.sin()).round() as i16;
            self.sample += 1;
        }
        Some(frame)
    }
}

/// How much of the most recent audio a [`CountingSink`] keeps for its frequency estimate.
const ANALYSIS_SAMPLES: usize = SAMPLE_RATE as usize;

/// A sink that counts the frames and samples it was given, measures their level and keeps the
/// last second to estimate the dominant frequency of what it heard.
#[derive(Debug, Clone, Default)]
pub struct CountingSink {
    frames: u64,
    samples: u64,
    sum_squares: f64,
    recent: VecDeque<i16>,
}

impl CountingSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times [`play`](AudioSink::play) was called (one call per frame).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// How many samples were played in all.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The root-mean-square level of everything played (0 to 32 767), 0 when nothing was.
    pub fn rms(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            (self.sum_squares / self.samples as f64).sqrt()
        }
    }

    /// The dominant frequency in Hz of the last second heard, or `None` for silence or less
    /// than 100 ms of audio.
    pub fn dominant_frequency(&self) -> Option<f64> {
        let samples: Vec<i16> = self.recent.iter().copied().collect();
        dominant_frequency(&samples)
    }
}

impl AudioSink for CountingSink {
    fn play(&mut self, samples: &[i16]) {
        self.frames += 1;
        self.samples += samples.len() as u64;
        for &s in samples {
            self.sum_squares += f64::from(s) * f64::from(s);
        }
        self.recent.extend(samples.iter().copied());
        let excess = self.recent.len().saturating_sub(ANALYSIS_SAMPLES);
        self.recent.drain(..excess);
    }
}

/// The lowest and highest frequency the estimate looks at, in Hz: the voice band and more.
const SCAN_LOW: f64 = 40.0;
const SCAN_HIGH: f64 = 12_000.0;
/// The window of the coarse scan, in samples (bins of about 11.7 Hz at 48 kHz).
const COARSE_WINDOW: usize = 4096;

/// The frequency in Hz (40 Hz to 12 kHz) with the most energy in these 48 kHz mono samples, to
/// a small fraction of a hertz for a clean tone of a second or more; `None` for silence or less
/// than 100 ms of audio.
///
/// A coarse Goertzel scan of the middle 4096 samples finds the strongest bin, then a fine scan
/// of the whole Hann-windowed stretch around it (0.25 Hz steps, then a parabola through the
/// three best points) finds the peak.
pub fn dominant_frequency(samples: &[i16]) -> Option<f64> {
    if samples.len() < SAMPLE_RATE as usize / 10 || samples.iter().all(|&s| s == 0) {
        return None;
    }
    let rate = f64::from(SAMPLE_RATE);
    let coarse_len = samples.len().min(COARSE_WINDOW);
    let start = (samples.len() - coarse_len) / 2;
    let coarse = hann(&samples[start..start + coarse_len]);
    let bin = rate / coarse_len as f64;
    let mut best = (SCAN_LOW, 0.0);
    let mut f = SCAN_LOW;
    while f <= SCAN_HIGH {
        let p = goertzel_power(&coarse, f / rate);
        if p > best.1 {
            best = (f, p);
        }
        f += bin / 2.0;
    }
    if best.1 <= 0.0 {
        return None;
    }

    let all = hann(samples);
    let step = 0.25;
    let low = (best.0 - bin).max(SCAN_LOW);
    let steps = (2.0 * bin / step).ceil() as usize;
    let powers: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let f = low + step * i as f64;
            (f, goertzel_power(&all, f / rate))
        })
        .collect();
    let (i, &(f0, p0)) = powers
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.1.total_cmp(&b.1.1))?;
    if i == 0 || i + 1 == powers.len() {
        return Some(f0);
    }
    // A parabola through the peak and its neighbours (in log power) places the top between
    // grid points.
    let (pl, pr) = (powers[i - 1].1.ln(), powers[i + 1].1.ln());
    let pc = p0.ln();
    let denom = pl - 2.0 * pc + pr;
    let offset = if denom.abs() > f64::EPSILON {
        (0.5 * (pl - pr) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    Some(f0 + offset * step)
}

/// The samples as floats, weighted by a Hann window.
fn hann(samples: &[i16]) -> Vec<f64> {
    let n = samples.len();
    let scale = if n > 1 { TAU / (n - 1) as f64 } else { 0.0 };
    samples
        .iter()
        .enumerate()
        .map(|(i, &s)| f64::from(s) * (0.5 - 0.5 * (scale * i as f64).cos()))
        .collect()
}

/// The power of `x` at `cycles` per sample (any real frequency, not only DFT bins).
fn goertzel_power(x: &[f64], cycles: f64) -> f64 {
    let coeff = 2.0 * (TAU * cycles).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s = v + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - coeff * s1 * s2).max(0.0)
}
