//! The shared screen as an H.264 stream: a [`ScreenEncoder`] grabs a monitor or a window,
//! converts and encodes it at a steady pace, and yields nothing while the screen stands still.

use std::thread;
use std::time::{Duration, Instant};

use crate::MediaError;
use crate::capture::{Capturer, Rect, WindowChoice};
use crate::encode::{EncodedFrame, EncoderSettings, H264Encoder};
use crate::frame::I420;

/// After the picture stops changing, this many more frames are encoded so the rate control
/// can sharpen what a large change left blurred.
const SETTLE_FRAMES: u32 = 3;

/// What to share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A monitor, by its index in [`crate::capture::displays`].
    Display(usize),
    Window(WindowChoice),
}

/// How the screen is streamed.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ScreenSettings {
    pub encoder: EncoderSettings,
    /// Send a keyframe at least this often even when no one asks (None: only on request).
    pub refresh_keyframe: Option<Duration>,
}

/// Capture, conversion and encoding of one source, paced to the encoder's frame rate. Not
/// `Send` (see [`Capturer`]): create it on the thread that runs it.
#[derive(Debug)]
pub struct ScreenEncoder {
    capturer: Capturer,
    encoder: H264Encoder,
    picture: I420,
    refresh_keyframe: Option<Duration>,
    started: Instant,
    next_slot: Instant,
    last_key: Option<Instant>,
    settle: u32,
    have_picture: bool,
}

impl ScreenEncoder {
    pub fn new(source: &Source, settings: ScreenSettings) -> Result<ScreenEncoder, MediaError> {
        let capturer = match source {
            Source::Display(index) => Capturer::display(*index)?,
            Source::Window(choice) => Capturer::window(choice)?,
        };
        let now = Instant::now();
        Ok(ScreenEncoder {
            capturer,
            encoder: H264Encoder::new(settings.encoder)?,
            picture: I420::default(),
            refresh_keyframe: settings.refresh_keyframe,
            started: now,
            next_slot: now,
            last_key: None,
            settle: 0,
            have_picture: false,
        })
    }

    /// Wait for the next frame slot, grab and, when the picture changed (or settles, or a
    /// keyframe is forced, requested or due), encode it. None when there is nothing to send.
    pub fn next(&mut self, force_key: bool) -> Result<Option<EncodedFrame>, MediaError> {
        self.wait_for_slot();
        if force_key {
            self.encoder.request_keyframe();
        }
        let now = Instant::now();
        let refresh_due = match (self.refresh_keyframe, self.last_key) {
            (Some(every), Some(last)) => now.duration_since(last) >= every,
            _ => false,
        };
        if refresh_due {
            self.encoder.request_keyframe();
        }
        let grab = self.capturer.grab()?;
        if grab.changed || !self.have_picture {
            self.picture
                .convert_from(grab.frame, 0, 0, grab.frame.width, grab.frame.height)?;
            self.have_picture = true;
            self.settle = SETTLE_FRAMES;
        } else if self.settle > 0 {
            self.settle -= 1;
        } else if !self.encoder.keyframe_pending() {
            return Ok(None);
        }
        let timestamp = now.duration_since(self.started).as_millis() as u64;
        let frame = self.encoder.encode(&self.picture, timestamp)?;
        if frame.as_ref().is_some_and(|f| f.key) {
            self.last_key = Some(now);
        }
        Ok(frame)
    }

    /// Make the next frame a keyframe (on a receiver's PLI or FIR).
    pub fn request_keyframe(&mut self) {
        self.encoder.request_keyframe();
    }

    /// Change the bitrate cap (see [`H264Encoder::set_bitrate`]).
    pub fn set_bitrate(&mut self, bits_per_second: u32) {
        self.encoder.set_bitrate(bits_per_second);
    }

    /// The time between frames at the configured frame rate.
    pub fn frame_interval(&self) -> Duration {
        Duration::from_secs_f32(1.0 / self.encoder.settings().max_fps)
    }

    /// The area of the last grab in root coordinates (for a window: where it is now).
    pub fn area(&self) -> Rect {
        self.capturer.area()
    }

    /// The capturer, e.g. to learn which monitor or window it grabs.
    pub fn capturer(&self) -> &Capturer {
        &self.capturer
    }

    fn wait_for_slot(&mut self) {
        let now = Instant::now();
        if self.next_slot > now {
            thread::sleep(self.next_slot - now);
        }
        let interval = self.frame_interval();
        // A caller that fell behind starts afresh rather than catching up in a burst.
        self.next_slot = (self.next_slot + interval).max(Instant::now());
    }
}
