//! Voice: Opus encoding and decoding of 20 ms mono frames at 48 kHz, with packet-loss
//! concealment, and the two small traits every audio source and sink implements.
//!
//! Everything here is **mono, 48 kHz, 20 ms frames of 960 samples**: that is what WebRTC
//! browsers send and accept for voice, so no resampling is ever needed between peers.

use crate::MediaError;
use opus::{Application, Bitrate, Channels, Decoder, Encoder};

/// The sample rate of every voice frame, in Hz.
pub const SAMPLE_RATE: u32 = 48_000;
/// The length of one voice frame in milliseconds.
pub const FRAME_MS: u32 = 20;
/// The number of (mono) samples in one 20 ms frame at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
/// One 20 ms mono frame of 16-bit samples.
pub type Frame = [i16; FRAME_SAMPLES];

/// The bitrate [`VoiceEncoder::new`] uses unless told otherwise: clear speech, small packets.
pub const DEFAULT_BITRATE: u32 = 32_000;
/// The largest Opus packet we produce (the recommended maximum from the Opus documentation).
const MAX_PACKET: usize = 4000;
/// The longest Opus packet is 120 ms: 5760 samples per channel at 48 kHz.
const MAX_DECODED: usize = 5760;

/// Where voice comes from: a microphone, a file, a generated tone. Yields whole 20 ms frames;
/// `None` means the source has ended.
pub trait AudioSource {
    fn next_frame(&mut self) -> Option<Frame>;
}

/// Where decoded voice goes: a speaker, a file, a meter. Receives mono 48 kHz samples,
/// normally one 20 ms frame per call.
pub trait AudioSink {
    fn play(&mut self, samples: &[i16]);
}

/// An Opus encoder for mono 48 kHz voice (the VoIP application), one 20 ms frame per packet.
#[derive(Debug)]
pub struct VoiceEncoder {
    inner: Encoder,
    bitrate: u32,
}

impl VoiceEncoder {
    /// An encoder at this bitrate in bits per second (6 000 to 510 000; 24 000–32 000 is clear
    /// speech). In-band forward error correction is on, tuned for 10 % expected loss.
    pub fn new(bitrate: u32) -> Result<Self, MediaError> {
        let inner = Encoder::new(SAMPLE_RATE, Channels::Mono, Application::Voip).map_err(codec)?;
        let mut encoder = Self { inner, bitrate: 0 };
        encoder.set_bitrate(bitrate)?;
        encoder.set_expected_loss(10)?;
        Ok(encoder)
    }

    /// Change the bitrate (bits per second, 6 000 to 510 000) for the following packets.
    pub fn set_bitrate(&mut self, bitrate: u32) -> Result<(), MediaError> {
        if !(6_000..=510_000).contains(&bitrate) {
            return Err(MediaError::Invalid(format!(
                "Opus bitrate {bitrate} bit/s is outside 6000..=510000"
            )));
        }
        let bits = i32::try_from(bitrate).map_err(|_| MediaError::Invalid("bitrate".into()))?;
        self.inner.set_bitrate(Bitrate::Bits(bits)).map_err(codec)?;
        self.bitrate = bitrate;
        Ok(())
    }

    /// The bitrate asked for, in bits per second.
    pub fn bitrate(&self) -> u32 {
        self.bitrate
    }

    /// Tell the encoder how much loss to expect (0–100 %): with more than 0, packets carry a
    /// low-rate copy of the previous frame that [`VoiceDecoder::recover`] can use.
    pub fn set_expected_loss(&mut self, percent: u8) -> Result<(), MediaError> {
        if percent > 100 {
            return Err(MediaError::Invalid(format!(
                "expected loss {percent} % is over 100 %"
            )));
        }
        self.inner.set_inband_fec(percent > 0).map_err(codec)?;
        self.inner
            .set_packet_loss_perc(i32::from(percent))
            .map_err(codec)
    }

    /// The encoder's look-ahead in samples at 48 kHz: how many samples a decoder should drop
    /// at the start of a stream (the Opus "pre-skip").
    pub fn lookahead(&mut self) -> Result<u16, MediaError> {
        let samples = self.inner.get_lookahead().map_err(codec)?;
        u16::try_from(samples).map_err(|_| MediaError::Codec(format!("lookahead {samples}")))
    }

    /// Encode one 20 ms frame (exactly 960 mono samples) into one Opus packet.
    pub fn encode(&mut self, frame: &[i16]) -> Result<Vec<u8>, MediaError> {
        if frame.len() != FRAME_SAMPLES {
            return Err(MediaError::Invalid(format!(
                "an Opus voice frame is {FRAME_SAMPLES} samples (20 ms at 48 kHz, mono), not {}",
                frame.len()
            )));
        }
        self.inner.encode_vec(frame, MAX_PACKET).map_err(codec)
    }
}

/// An Opus decoder producing mono 48 kHz samples, with concealment of lost packets.
#[derive(Debug)]
pub struct VoiceDecoder {
    inner: Decoder,
    /// The length of the last decoded packet in samples: what a lost packet is assumed to be.
    last_len: usize,
}

impl VoiceDecoder {
    pub fn new() -> Result<Self, MediaError> {
        let inner = Decoder::new(SAMPLE_RATE, Channels::Mono).map_err(codec)?;
        Ok(Self {
            inner,
            last_len: FRAME_SAMPLES,
        })
    }

    /// Decode one Opus packet (from any Opus encoder: 2.5 to 120 ms, mono or stereo, which is
    /// mixed down) into mono samples; 960 for a 20 ms packet.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<i16>, MediaError> {
        if packet.is_empty() {
            return Err(MediaError::Invalid(
                "an empty Opus packet: call conceal() for a lost packet".into(),
            ));
        }
        let mut out = vec![0i16; MAX_DECODED];
        let n = self.inner.decode(packet, &mut out, false).map_err(codec)?;
        out.truncate(n);
        self.last_len = n.clamp(1, MAX_DECODED);
        Ok(out)
    }

    /// Stand in for a lost packet: the decoder extrapolates from what it heard (packet-loss
    /// concealment) and yields as many samples as the last packet had (960 for 20 ms).
    pub fn conceal(&mut self) -> Result<Vec<i16>, MediaError> {
        let mut out = vec![0i16; self.last_len];
        let n = self.inner.decode(&[], &mut out, false).map_err(codec)?;
        out.truncate(n);
        Ok(out)
    }

    /// Rebuild a lost packet from the forward-error-correction data in the packet that
    /// followed it (when the sender had FEC on; otherwise this conceals). Decode `next` itself
    /// afterwards with [`decode`](Self::decode) as usual.
    pub fn recover(&mut self, next: &[u8]) -> Result<Vec<i16>, MediaError> {
        if next.is_empty() {
            return self.conceal();
        }
        let mut out = vec![0i16; self.last_len];
        let n = self.inner.decode(next, &mut out, true).map_err(codec)?;
        out.truncate(n);
        Ok(out)
    }
}

/// The number of samples per channel in an Opus packet at 48 kHz (read from its header), for
/// packets of any duration.
pub fn packet_samples(packet: &[u8]) -> Result<usize, MediaError> {
    opus::packet::get_nb_samples(packet, SAMPLE_RATE).map_err(codec)
}

fn codec(e: opus::Error) -> MediaError {
    MediaError::Codec(format!("Opus: {e}"))
}
