//! H.264 decoding with OpenH264: Annex-B access units in, [`I420`] pictures out (convert with
//! [`I420::to_rgb`] or [`I420::to_rgba`]). Corrupt input is a `MediaError::Codec`, never a panic.

use openh264::OpenH264API;
use openh264::decoder::{Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

use crate::MediaError;
use crate::frame::I420;

/// An OpenH264 decoder. Feed it whole access units (as [`crate::encode::EncodedFrame::data`]
/// or as a depacketizer reassembles them); a stream must start with a keyframe.
pub struct H264Decoder {
    decoder: Decoder,
}

impl std::fmt::Debug for H264Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Decoder").finish_non_exhaustive()
    }
}

impl H264Decoder {
    pub fn new() -> Result<H264Decoder, MediaError> {
        let config = DecoderConfig::new().flush_after_decode(Flush::Flush);
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| MediaError::Codec(format!("cannot create the H.264 decoder: {e}")))?;
        Ok(H264Decoder { decoder })
    }

    /// Decode one access unit (Annex-B). None when it completes no picture (parameter sets
    /// alone, or data the decoder is still waiting to complete).
    pub fn decode(&mut self, annex_b: &[u8]) -> Result<Option<I420>, MediaError> {
        let mut out = I420::default();
        Ok(self.decode_into(annex_b, &mut out)?.then_some(out))
    }

    /// Decode one access unit into `out`, reusing its buffers; true when a picture came out.
    pub fn decode_into(&mut self, annex_b: &[u8], out: &mut I420) -> Result<bool, MediaError> {
        if annex_b.is_empty() {
            return Ok(false);
        }
        let decoded = self
            .decoder
            .decode(annex_b)
            .map_err(|e| MediaError::Codec(format!("H.264 decoding failed: {e}")))?;
        let Some(picture) = decoded else {
            return Ok(false);
        };
        copy_planes(&picture, out)?;
        Ok(true)
    }
}

/// Copy a decoder picture (planes with padding strides) into a tightly packed I420 picture,
/// checking every length so a malformed picture is an error rather than a panic.
fn copy_planes(picture: &impl YUVSource, out: &mut I420) -> Result<(), MediaError> {
    let (width, height) = picture.dimensions();
    let (width, height) = (width & !1, height & !1);
    let (y_stride, u_stride, v_stride) = picture.strides();
    let (cw, ch) = (width / 2, height / 2);
    let fits = |plane: &[u8], stride: usize, w: usize, h: usize| {
        stride >= w && (h == 0 || plane.len() >= (h - 1) * stride + w)
    };
    if width == 0
        || height == 0
        || !fits(picture.y(), y_stride, width, height)
        || !fits(picture.u(), u_stride, cw, ch)
        || !fits(picture.v(), v_stride, cw, ch)
    {
        return Err(MediaError::Codec(format!(
            "the decoder gave a malformed {width}x{height} picture"
        )));
    }
    if (out.width, out.height) != (width, height) {
        *out = I420::black(width, height);
    }
    copy_plane(picture.y(), y_stride, &mut out.y, width);
    copy_plane(picture.u(), u_stride, &mut out.u, cw);
    copy_plane(picture.v(), v_stride, &mut out.v, cw);
    Ok(())
}

fn copy_plane(src: &[u8], stride: usize, dst: &mut [u8], width: usize) {
    for (row, dst_row) in dst.chunks_exact_mut(width).enumerate() {
        dst_row.copy_from_slice(&src[row * stride..row * stride + width]);
    }
}
