//! H.264 encoding with OpenH264 for screen sharing: Baseline profile (what Chrome takes as
//! `profile-level-id=42e01f`, `packetization-mode=1`), screen-content tuning, a bitrate cap,
//! keyframes on request (a receiver's PLI or FIR), SPS and PPS in front of every keyframe, and
//! Annex-B output (each NAL unit after a start code).

use openh264::OpenH264API;
use openh264::Timestamp;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, Profile, RateControlMode,
    SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;

use crate::MediaError;
use crate::frame::I420;

/// The highest frame rate the encoder accepts.
pub const MAX_FPS: f32 = 30.0;

/// The smallest bitrate cap, below which screen text is unreadable anyway.
pub const MIN_BITRATE: u32 = 100_000;

/// A bitrate change smaller than this fraction of the running target only moves the cap the
/// next re-creation uses; a larger one re-creates the encoder (and so costs a keyframe).
const BITRATE_RECONFIGURE_RATIO: f64 = 0.2;

/// How the encoder runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EncoderSettings {
    /// Frames a second, at most [`MAX_FPS`]; the rate control plans with it.
    pub max_fps: f32,
    /// The bitrate cap in bits a second.
    pub bitrate: u32,
    /// Encoder threads; 1 keeps one core free for capture and conversion.
    pub threads: u16,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings {
            max_fps: MAX_FPS,
            bitrate: 2_500_000,
            threads: 1,
        }
    }
}

/// One encoded picture: Annex-B bytes of one access unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    /// An IDR picture, preceded by SPS and PPS: a decoder can start here.
    pub key: bool,
    pub width: usize,
    pub height: usize,
    /// The capture time in milliseconds since the stream started, as given to `encode`.
    pub timestamp_ms: u64,
}

/// An OpenH264 encoder that follows the picture size (re-created when it changes).
pub struct H264Encoder {
    settings: EncoderSettings,
    encoder: Option<Encoder>,
    size: (usize, usize),
    running_bitrate: u32,
    key_pending: bool,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder")
            .field("settings", &self.settings)
            .field("size", &self.size)
            .field("key_pending", &self.key_pending)
            .finish_non_exhaustive()
    }
}

impl H264Encoder {
    /// An encoder with these settings; the frame rate is capped to [`MAX_FPS`] and the bitrate
    /// raised to [`MIN_BITRATE`] at least.
    pub fn new(settings: EncoderSettings) -> Result<H264Encoder, MediaError> {
        if settings.max_fps.is_nan() || settings.max_fps <= 0.0 {
            return Err(MediaError::Invalid(format!(
                "a frame rate of {} fps",
                settings.max_fps
            )));
        }
        let settings = EncoderSettings {
            max_fps: settings.max_fps.min(MAX_FPS),
            bitrate: settings.bitrate.max(MIN_BITRATE),
            threads: settings.threads,
        };
        Ok(H264Encoder {
            settings,
            encoder: None,
            size: (0, 0),
            running_bitrate: settings.bitrate,
            key_pending: true,
        })
    }

    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// Change the bitrate cap. OpenH264's safe interface cannot retarget a running encoder, so
    /// a change of more than a fifth re-creates it at the next frame, which is then a keyframe;
    /// smaller changes wait for the next re-creation.
    pub fn set_bitrate(&mut self, bits_per_second: u32) {
        let bitrate = bits_per_second.max(MIN_BITRATE);
        self.settings.bitrate = bitrate;
        let change = (f64::from(bitrate) - f64::from(self.running_bitrate)).abs();
        if change > f64::from(self.running_bitrate) * BITRATE_RECONFIGURE_RATIO {
            self.encoder = None;
        }
    }

    /// Make the next encoded frame a keyframe (IDR with SPS and PPS), as asked by a PLI or FIR.
    pub fn request_keyframe(&mut self) {
        self.key_pending = true;
    }

    /// Whether the next encoded frame will be a keyframe.
    pub fn keyframe_pending(&self) -> bool {
        self.key_pending || self.encoder.is_none()
    }

    /// Encode one picture taken `timestamp_ms` after the stream started. None when the rate
    /// control skipped it to stay under the bitrate cap (a pending keyframe stays pending).
    pub fn encode(
        &mut self,
        picture: &I420,
        timestamp_ms: u64,
    ) -> Result<Option<EncodedFrame>, MediaError> {
        let size = (picture.width, picture.height);
        let chroma = size.0 / 2 * (size.1 / 2);
        if size.0 < 2 || size.1 < 2 || size.0 % 2 == 1 || size.1 % 2 == 1 {
            return Err(MediaError::Invalid(format!(
                "a {}x{} picture to encode",
                size.0, size.1
            )));
        }
        if picture.y.len() != size.0 * size.1
            || picture.u.len() != chroma
            || picture.v.len() != chroma
        {
            return Err(MediaError::Invalid(
                "an I420 picture whose planes do not match its size".into(),
            ));
        }
        if self.size != size {
            self.encoder = None;
        }
        if self.encoder.is_none() {
            let fresh = Encoder::with_api_config(OpenH264API::from_source(), self.config())
                .map_err(|e| MediaError::Codec(format!("cannot create the H.264 encoder: {e}")))?;
            self.encoder = Some(fresh);
            self.size = size;
            self.running_bitrate = self.settings.bitrate;
        }
        let key_pending = self.key_pending;
        let Some(encoder) = self.encoder.as_mut() else {
            return Err(MediaError::Codec("the H.264 encoder is missing".into()));
        };
        if key_pending {
            encoder.force_intra_frame();
        }
        let source = YUVSlices::new(
            (&picture.y, &picture.u, &picture.v),
            size,
            (size.0, size.0 / 2, size.0 / 2),
        );
        let stream = encoder
            .encode_at(&source, Timestamp::from_millis(timestamp_ms))
            .map_err(|e| MediaError::Codec(format!("H.264 encoding failed: {e}")))?;
        let kind = stream.frame_type();
        if matches!(kind, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        let data = stream.to_vec();
        if data.is_empty() {
            return Ok(None);
        }
        let key = kind == FrameType::IDR;
        if key {
            self.key_pending = false;
        }
        Ok(Some(EncodedFrame {
            data,
            key,
            width: size.0,
            height: size.1,
            timestamp_ms,
        }))
    }

    fn config(&self) -> EncoderConfig {
        EncoderConfig::new()
            .usage_type(UsageType::ScreenContentRealTime)
            .profile(Profile::Baseline)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(self.settings.bitrate))
            .max_frame_rate(FrameRate::from_hz(self.settings.max_fps))
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .skip_frames(false)
            .adaptive_quantization(false)
            .background_detection(false)
            .num_threads(self.settings.threads)
            .vui(VuiConfig::bt601())
    }
}

/// The NAL unit types in Annex-B bytes, in order (7 SPS, 8 PPS, 5 IDR slice, 1 other slice…).
pub fn nal_types(annex_b: &[u8]) -> Vec<u8> {
    openh264::nal_units(annex_b)
        .filter_map(|nal| {
            let body = nal.iter().position(|&b| b == 1).map(|at| &nal[at + 1..])?;
            body.first().map(|header| header & 0x1f)
        })
        .collect()
}
