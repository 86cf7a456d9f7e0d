//! Voice through the machine's ALSA devices: a [`Microphone`] (an [`AudioSource`]) and a
//! [`Speaker`] (an [`AudioSink`]), the devices to use by default, and a [`Mixer`] so several
//! voices share one speaker.
//!
//! # Format negotiation
//!
//! Both directions ask for exactly what [`crate::voice`] works in: **48 000 Hz, mono, signed
//! 16-bit samples, interleaved, periods of 960 frames (20 ms)**. A device that takes that as is
//! (a `plughw:` name, `default`, `null`) is used directly. When the device refuses it (a raw
//! `hw:` device that only does stereo or 44.1 kHz, say), it is opened again through ALSA's
//! `plug` layer as `plug:'NAME'`, which converts rate, channels and sample format; names that
//! already start with `plug` are not wrapped again. [`Microphone::name`] and [`Speaker::name`]
//! tell which name was finally opened.
//!
//! # Errors
//!
//! A device that cannot be opened, or cannot be set up even through `plug`, is
//! [`MediaError::Unavailable`] with the device's name. Once running, an overrun (capture) or an
//! underrun (playback) is recovered from by preparing the device again; an error that cannot be
//! recovered from ends a microphone (`next_frame` returns `None`) and silences a speaker, and
//! is kept for [`Microphone::error`] and [`Speaker::error`].

use crate::MediaError;
use crate::devices::audio_devices;
use crate::voice::{AudioSink, AudioSource, FRAME_MS, FRAME_SAMPLES, Frame, SAMPLE_RATE};
use alsa::pcm::{Access, Format, HwParams, PCM};
use alsa::{Direction, ValueOr};
use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One period: a 20 ms voice frame.
const PERIOD: alsa::pcm::Frames = FRAME_SAMPLES as alsa::pcm::Frames;
/// The device buffer: five periods (100 ms).
const BUFFER: alsa::pcm::Frames = 5 * PERIOD;
/// Playback starts once two periods (40 ms) are queued, a cushion against network jitter.
const START_THRESHOLD: alsa::pcm::Frames = 2 * PERIOD;
/// How many errors within one frame a device tries to recover from before it gives up.
const MAX_RECOVERIES: u32 = 10;
/// How long a microphone waits for samples at a time, in milliseconds…
const WAIT_MS: u32 = 1000;
/// …and how many such waits without a sample end it.
const MAX_STALLS: u32 = 2;
/// One 20 ms frame.
const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);
/// How far ahead of real time a microphone may run (the jitter of a real device's periods).
const AHEAD: Duration = Duration::from_millis(40);

/// The ALSA name of the microphone to use by default: the first device that
/// [`audio_devices`] lists as able to capture (its `plughw:` name), or `None` when the machine
/// has no capture device.
pub fn default_microphone() -> Option<String> {
    audio_devices()
        .into_iter()
        .find(|d| d.capture)
        .map(|d| d.alsa_name())
}

/// The ALSA name of the speaker to use by default: the first device that [`audio_devices`]
/// lists as able to play back (its `plughw:` name), or `None` when the machine has none.
pub fn default_speaker() -> Option<String> {
    audio_devices()
        .into_iter()
        .find(|d| d.playback)
        .map(|d| d.alsa_name())
}

/// Capture from an ALSA device: 20 ms mono frames at 48 kHz. [`next_frame`](AudioSource::next_frame)
/// blocks until a whole frame has been captured, so it returns at the pace of the device, and
/// never runs more than 40 ms ahead of real time even on a device that delivers at once
/// (`null`); a device that yields nothing for two seconds ends the source.
#[derive(Debug)]
pub struct Microphone {
    pcm: PCM,
    name: String,
    overruns: u64,
    error: Option<MediaError>,
    /// When the first frame was returned since capture (re)started, and how many since then.
    pace: Option<(Instant, u32)>,
}

impl Microphone {
    /// Open the capture device `device` (an ALSA PCM name such as `default`,
    /// `plughw:CARD=PCH,DEV=0` or `hw:0,0`); see the module documentation for the format rule.
    pub fn open(device: &str) -> Result<Self, MediaError> {
        let (pcm, name) = open_pcm(device, Direction::Capture)?;
        Ok(Self {
            pcm,
            name,
            overruns: 0,
            error: None,
            pace: None,
        })
    }

    /// The ALSA name actually opened (`plug:'…'` when conversion was needed).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many overruns (samples lost because they were not read in time) were recovered from.
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// The error that ended capture, if one did.
    pub fn error(&self) -> Option<&MediaError> {
        self.error.as_ref()
    }

    fn fail(&mut self, e: &alsa::Error) -> Option<Frame> {
        self.error = Some(MediaError::Unavailable(format!(
            "ALSA capture device {}: {e}",
            self.name
        )));
        None
    }
}

impl AudioSource for Microphone {
    fn next_frame(&mut self) -> Option<Frame> {
        if self.error.is_some() {
            return None;
        }
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut filled = 0;
        let (mut recoveries, mut stalls) = (0, 0);
        while filled < FRAME_SAMPLES {
            let read = self
                .pcm
                .io_i16()
                .and_then(|io| io.readi(&mut frame[filled..]));
            match read {
                Ok(n) if n > 0 => filled += n,
                // Opened non-blocking (a busy device must not hang `open`): wait for samples.
                Ok(_) => {
                    if !self.await_samples(&mut stalls, &mut recoveries) {
                        return None;
                    }
                }
                Err(e) if errno_kind(&e) == ErrorKind::WouldBlock => {
                    if !self.await_samples(&mut stalls, &mut recoveries) {
                        return None;
                    }
                }
                Err(e) => {
                    recoveries += 1;
                    if recoveries > MAX_RECOVERIES {
                        return self.fail(&e);
                    }
                    if errno_kind(&e) == ErrorKind::BrokenPipe {
                        self.overruns += 1;
                        // What was waiting is lost: the pace starts over.
                        self.pace = None;
                    }
                    if self.pcm.try_recover(e, true).is_err() {
                        return self.fail(&e);
                    }
                }
            }
        }
        self.hold_to_real_time();
        Some(frame)
    }
}

impl Microphone {
    /// Wait until the device has samples to read; false (and the error kept) when it has had
    /// none for too long or failed.
    fn await_samples(&mut self, stalls: &mut u32, recoveries: &mut u32) -> bool {
        match self.pcm.wait(Some(WAIT_MS)) {
            Ok(true) => true,
            Ok(false) => {
                *stalls += 1;
                if *stalls < MAX_STALLS {
                    return true;
                }
                self.error = Some(MediaError::Unavailable(format!(
                    "ALSA capture device {}: no samples for {} ms",
                    self.name,
                    MAX_STALLS * WAIT_MS
                )));
                false
            }
            Err(e) => {
                *recoveries += 1;
                if *recoveries > MAX_RECOVERIES || self.pcm.try_recover(e, true).is_err() {
                    self.fail(&e);
                    return false;
                }
                true
            }
        }
    }

    /// Wait if this frame comes more than [`AHEAD`] before its time: a sound card delivers
    /// samples at its own pace, but some ALSA devices (`null`, `file`) deliver at once.
    fn hold_to_real_time(&mut self) {
        let now = Instant::now();
        let (start, returned) = self.pace.get_or_insert((now, 0));
        let due = *start + FRAME * *returned;
        *returned = returned.saturating_add(1);
        if let Some(early) = due.checked_duration_since(now)
            && early > AHEAD
        {
            std::thread::sleep(early - AHEAD);
        }
    }
}

/// Play to an ALSA device: mono 48 kHz samples, written **without blocking** (the engine calls
/// [`play`](AudioSink::play) from its session task). Samples that do not fit in the device's
/// 100 ms buffer are dropped, which keeps the delay bounded when voice arrives faster than the
/// device plays it; playback starts once 40 ms are queued. Dropping the speaker stops at once:
/// what is still queued (100 ms at most) is not played, and dropping never blocks either.
#[derive(Debug)]
pub struct Speaker {
    pcm: PCM,
    name: String,
    underruns: u64,
    dropped: u64,
    error: Option<MediaError>,
}

impl Speaker {
    /// Open the playback device `device` (an ALSA PCM name); see the module documentation for
    /// the format rule.
    pub fn open(device: &str) -> Result<Self, MediaError> {
        let (pcm, name) = open_pcm(device, Direction::Playback)?;
        Ok(Self {
            pcm,
            name,
            underruns: 0,
            dropped: 0,
            error: None,
        })
    }

    /// The ALSA name actually opened (`plug:'…'` when conversion was needed).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many underruns (the device ran out of samples) were recovered from.
    pub fn underruns(&self) -> u64 {
        self.underruns
    }

    /// How many samples were dropped because the device's buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The error that silenced the speaker, if one did.
    pub fn error(&self) -> Option<&MediaError> {
        self.error.as_ref()
    }

    fn fail(&mut self, e: &alsa::Error) {
        self.error = Some(MediaError::Unavailable(format!(
            "ALSA playback device {}: {e}",
            self.name
        )));
    }
}

impl AudioSink for Speaker {
    fn play(&mut self, samples: &[i16]) {
        if self.error.is_some() {
            return;
        }
        let mut written = 0;
        let mut recoveries = 0;
        while written < samples.len() {
            let write = self
                .pcm
                .io_i16()
                .and_then(|io| io.writei(&samples[written..]));
            match write {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if errno_kind(&e) == ErrorKind::WouldBlock => break,
                Err(e) => {
                    recoveries += 1;
                    if recoveries > MAX_RECOVERIES {
                        return self.fail(&e);
                    }
                    if errno_kind(&e) == ErrorKind::BrokenPipe {
                        self.underruns += 1;
                    }
                    if self.pcm.try_recover(e, true).is_err() {
                        return self.fail(&e);
                    }
                }
            }
        }
        self.dropped += (samples.len() - written) as u64;
    }
}

/// The kind of the system error behind an ALSA error (`WouldBlock` for `EAGAIN`, `BrokenPipe`
/// for the `EPIPE` of an overrun or underrun…).
fn errno_kind(e: &alsa::Error) -> ErrorKind {
    std::io::Error::from_raw_os_error(e.errno()).kind()
}

/// Open `device` in 48 kHz mono S16 with 20 ms periods, through `plug` when the device cannot
/// do that itself; the PCM and the name that was opened.
fn open_pcm(device: &str, direction: Direction) -> Result<(PCM, String), MediaError> {
    let what = match direction {
        Direction::Capture => "capture",
        Direction::Playback => "playback",
    };
    if device.is_empty() || device.contains('\0') {
        return Err(MediaError::Unavailable(format!(
            "ALSA {what} device {device:?}: not a device name"
        )));
    }
    let first = match open_exact(device, direction) {
        Ok(pcm) => return Ok((pcm, device.to_owned())),
        Err(e) => e,
    };
    let unavailable = |e: Setup| {
        MediaError::Unavailable(format!("ALSA {what} device {device} cannot be used: {e}"))
    };
    if matches!(first, Setup::Open(_)) || device.starts_with("plug") || device.contains('\'') {
        return Err(unavailable(first));
    }
    let plugged = format!("plug:'{device}'");
    match open_exact(&plugged, direction) {
        Ok(pcm) => Ok((pcm, plugged)),
        Err(_) => Err(unavailable(first)),
    }
}

/// Why a device could not be used: it did not open, or it did not take our format.
enum Setup {
    Open(alsa::Error),
    Format(alsa::Error),
}

impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Open(e) => write!(f, "it does not open ({e})"),
            Self::Format(e) => write!(f, "it does not take 48 kHz mono 16-bit audio ({e})"),
        }
    }
}

/// Open `name` and set it to exactly 48 kHz, mono, S16, 20 ms periods, 100 ms buffer.
fn open_exact(name: &str, direction: Direction) -> Result<PCM, Setup> {
    let playback = matches!(direction, Direction::Playback);
    let pcm = PCM::new(name, direction, true).map_err(Setup::Open)?;
    configure(&pcm, playback).map_err(Setup::Format)?;
    Ok(pcm)
}

fn configure(pcm: &PCM, playback: bool) -> alsa::Result<()> {
    {
        let hw = HwParams::any(pcm)?;
        hw.set_access(Access::RWInterleaved)?;
        hw.set_format(Format::s16())?;
        hw.set_channels(1)?;
        // No resampling inside this layer: either the device does 48 kHz or `plug` converts.
        hw.set_rate_resample(false)?;
        hw.set_rate(SAMPLE_RATE, ValueOr::Nearest)?;
        hw.set_period_size_near(PERIOD, ValueOr::Nearest)?;
        hw.set_buffer_size_near(BUFFER)?;
        pcm.hw_params(&hw)?;
    }
    if playback {
        let sw = pcm.sw_params_current()?;
        sw.set_start_threshold(START_THRESHOLD)?;
        pcm.sw_params(&sw)?;
    }
    pcm.prepare()
}

/// Several voices into one sink, such as one [`Speaker`] (an ALSA hardware device opens only
/// once): each speaker in a call plays into its own [`MixerInput`], and the inputs are summed
/// sample by sample (clipped to 16 bits) before they go to the sink.
///
/// Each input's samples follow on from its previous ones; an input that falls behind what was
/// already played (it paused, or its packets came late) starts again at the current point. The
/// mix is passed on one 20 ms frame behind the input that is furthest ahead, so inputs whose
/// frames arrive a little apart still line up; when the last input is dropped, everything left
/// is passed on.
#[derive(Debug, Clone)]
pub struct Mixer {
    shared: Arc<Mutex<MixState>>,
}

/// One voice into a [`Mixer`].
#[derive(Debug)]
pub struct MixerInput {
    shared: Arc<Mutex<MixState>>,
    id: u64,
}

struct MixState {
    sink: Box<dyn AudioSink + Send>,
    /// Summed samples not yet passed on; the first is sample number `played`.
    pending: VecDeque<i32>,
    played: u64,
    /// Where each input's next sample goes (absolute sample numbers).
    cursors: HashMap<u64, u64>,
    next_id: u64,
}

impl std::fmt::Debug for MixState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MixState")
            .field("pending", &self.pending.len())
            .field("played", &self.played)
            .field("inputs", &self.cursors.len())
            .finish()
    }
}

impl MixState {
    /// Pass on the first `count` pending samples.
    fn pass_on(&mut self, count: usize) {
        let count = count.min(self.pending.len());
        if count == 0 {
            return;
        }
        let out: Vec<i16> = self
            .pending
            .drain(..count)
            .map(|s| s.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16)
            .collect();
        self.played += count as u64;
        self.sink.play(&out);
    }
}

impl Mixer {
    /// A mixer playing into `sink`.
    pub fn new(sink: Box<dyn AudioSink + Send>) -> Self {
        Self {
            shared: Arc::new(Mutex::new(MixState {
                sink,
                pending: VecDeque::new(),
                played: 0,
                cursors: HashMap::new(),
                next_id: 0,
            })),
        }
    }

    /// A new voice into the mix.
    pub fn input(&self) -> MixerInput {
        let mut state = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let id = state.next_id;
        state.next_id += 1;
        let at = state.played;
        state.cursors.insert(id, at);
        MixerInput {
            shared: self.shared.clone(),
            id,
        }
    }
}

impl AudioSink for MixerInput {
    fn play(&mut self, samples: &[i16]) {
        let mut state = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let played = state.played;
        let start = state
            .cursors
            .get(&self.id)
            .copied()
            .unwrap_or(played)
            .max(played);
        let offset = usize::try_from(start - played).unwrap_or(usize::MAX);
        let end = offset.saturating_add(samples.len());
        if state.pending.len() < end {
            state.pending.resize(end, 0);
        }
        for (slot, &s) in state.pending.range_mut(offset..end).zip(samples) {
            *slot += i32::from(s);
        }
        state.cursors.insert(self.id, start + samples.len() as u64);
        let furthest = state.cursors.values().copied().max().unwrap_or(played);
        let ready = furthest
            .saturating_sub(FRAME_SAMPLES as u64)
            .saturating_sub(played);
        state.pass_on(usize::try_from(ready).unwrap_or(usize::MAX));
    }
}

impl Drop for MixerInput {
    fn drop(&mut self) {
        let mut state = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        state.cursors.remove(&self.id);
        if state.cursors.is_empty() {
            let all = state.pending.len();
            state.pass_on(all);
        }
    }
}
