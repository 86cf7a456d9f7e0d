//! tether's media, without networking: what the engine captures, encodes, decodes, injects,
//! plays and records. Blocking, synchronous code; the engine runs it on its own threads.
//!
//! - video: [`frame`] (BGRA and I420 frames), [`capture`] (displays and windows of an X11
//!   display), [`encode`] and [`decode`] (H.264 with OpenH264, Chrome-compatible Baseline),
//!   [`screen`] (capture, conversion and encoding of the shared screen, paced);
//! - remote control: [`keys`] (browser `KeyboardEvent.code` to X key codes) and [`inject`]
//!   (XTest injection into the shared display or window);
//! - voice: [`voice`] (Opus, mono, 48 kHz, 20 ms frames, loss concealment; the audio source
//!   and sink traits), [`tone`] (a tone source, a counting sink, frequency estimation),
//!   [`wav`] (WAV file source and sink), [`devices`] (the machine's ALSA devices) and
//!   [`alsa_device`] (microphone capture and speaker playback through ALSA, and a mixer);
//! - recording: [`record`] (a Matroska file with the shared screen and every voice), built on
//!   [`mkv`] (Matroska elements), [`ebml`] (their encoding) and [`avc`] (H.264 NAL units and
//!   the `avcC` record).

pub mod alsa_device;
pub mod avc;
pub mod capture;
pub mod decode;
pub mod devices;
pub mod ebml;
pub mod encode;
pub mod error;
pub mod frame;
pub mod inject;
pub mod keys;
pub mod mkv;
pub mod record;
pub mod screen;
pub mod tone;
pub mod voice;
pub mod wav;

pub use error::MediaError;
