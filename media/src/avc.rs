//! The H.264 bitstream as containers want it: splitting an Annex-B access unit (NAL units after
//! `00 00 01` start codes) into NAL units, recognising keyframes and parameter sets, rewriting
//! start codes as 4-byte lengths, and the `avcC` decoder configuration (ISO/IEC 14496-15).

use crate::MediaError;

/// NAL unit types (ITU-T H.264 table 7-1) that matter to a container.
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;

/// The NAL units of an Annex-B access unit, without start codes or trailing zero bytes.
/// Empty when there is no start code.
pub fn nal_units(annexb: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= annexb.len() {
        if annexb[i] == 0 && annexb[i + 1] == 0 && annexb[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, &start)| {
            // A NAL ends where the next start code (with its leading zeros) begins.
            let end = starts.get(k + 1).map_or(annexb.len(), |&next| next - 3);
            let nal = &annexb[start..end.max(start)];
            let kept = nal.len() - nal.iter().rev().take_while(|&&b| b == 0).count();
            &nal[..kept]
        })
        .filter(|nal| !nal.is_empty())
        .collect()
}

/// The type of a NAL unit (the low five bits of its first byte).
pub fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1F)
}

/// Whether the access unit holds an IDR slice: a frame decodable on its own.
pub fn is_keyframe(nals: &[&[u8]]) -> bool {
    nals.iter().any(|nal| nal_type(nal) == NAL_IDR)
}

/// The NAL units, each after its length as four big-endian bytes (the "AVC" format of MP4 and
/// Matroska).
pub fn length_prefixed(nals: &[&[u8]]) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::with_capacity(nals.iter().map(|n| n.len() + 4).sum());
    for nal in nals {
        let len = u32::try_from(nal.len())
            .map_err(|_| MediaError::Invalid("an H.264 NAL unit over 4 GiB".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    Ok(out)
}

/// The `AVCDecoderConfigurationRecord` for these sequence and picture parameter sets, with
/// 4-byte NAL lengths: what Matroska stores as the CodecPrivate of a `V_MPEG4/ISO/AVC` track.
pub fn avc_decoder_config(sps: &[&[u8]], pps: &[&[u8]]) -> Result<Vec<u8>, MediaError> {
    let first = sps
        .first()
        .filter(|s| s.len() >= 4)
        .ok_or_else(|| MediaError::Invalid("no usable H.264 sequence parameter set".into()))?;
    if pps.is_empty() {
        return Err(MediaError::Invalid("no H.264 picture parameter set".into()));
    }
    if sps.len() > 31 || pps.len() > 255 {
        return Err(MediaError::Invalid("too many H.264 parameter sets".into()));
    }
    let mut out = vec![
        1,        // configurationVersion
        first[1], // AVCProfileIndication
        first[2], // profile_compatibility
        first[3], // AVCLevelIndication
        0xFF,     // six reserved bits, lengthSizeMinusOne = 3
        0xE0 | sps.len() as u8,
    ];
    for set in sps {
        push_set(&mut out, set)?;
    }
    out.push(pps.len() as u8);
    for set in pps {
        push_set(&mut out, set)?;
    }
    Ok(out)
}

fn push_set(out: &mut Vec<u8>, set: &[u8]) -> Result<(), MediaError> {
    let len = u16::try_from(set.len())
        .map_err(|_| MediaError::Invalid("an H.264 parameter set over 64 KiB".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(set);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_converts_and_configures() {
        let au = [
            0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1F, 0xAA, 0, 0, 1, 0x68, 0xCE, 0, 0, 0, 1, 0x65, 0x88,
            0x80, 0,
        ];
        let nals = nal_units(&au);
        assert_eq!(
            nals,
            [
                &[0x67, 0x42, 0xC0, 0x1F, 0xAA][..],
                &[0x68, 0xCE],
                &[0x65, 0x88, 0x80]
            ]
        );
        assert!(is_keyframe(&nals));
        assert!(!is_keyframe(&nals[..2]));
        assert_eq!(
            length_prefixed(&nals[1..2]).expect("small"),
            [0, 0, 0, 2, 0x68, 0xCE]
        );
        let config = avc_decoder_config(&[nals[0]], &[nals[1]]).expect("config");
        assert_eq!(
            config,
            [
                1, 0x42, 0xC0, 0x1F, 0xFF, 0xE1, 0, 5, 0x67, 0x42, 0xC0, 0x1F, 0xAA, 1, 0, 2, 0x68,
                0xCE
            ]
        );
        assert!(nal_units(&[1, 2, 3]).is_empty());
    }
}
