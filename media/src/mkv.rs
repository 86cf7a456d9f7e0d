//! Matroska (RFC 9559) element IDs and the header elements a recording needs: the EBML header,
//! the SeekHead, the segment Info, the track entries for H.264 video and Opus voice, and the
//! Cues. [`crate::record`] writes them; this file only builds their bytes.

use crate::ebml::{bytes, float, master, string, uint};

pub const EBML: u32 = 0x1A45_DFA3;
const EBML_VERSION: u32 = 0x4286;
const EBML_READ_VERSION: u32 = 0x42F7;
const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
const DOC_TYPE: u32 = 0x4282;
const DOC_TYPE_VERSION: u32 = 0x4287;
const DOC_TYPE_READ_VERSION: u32 = 0x4285;

pub const SEGMENT: u32 = 0x1853_8067;
pub const SEEK_HEAD: u32 = 0x114D_9B74;
const SEEK: u32 = 0x4DBB;
const SEEK_ID: u32 = 0x53AB;
const SEEK_POSITION: u32 = 0x53AC;

pub const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
pub const DURATION: u32 = 0x4489;
const MUXING_APP: u32 = 0x4D80;
const WRITING_APP: u32 = 0x5741;
const TITLE: u32 = 0x7BA9;

pub const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_UID: u32 = 0x73C5;
const TRACK_TYPE: u32 = 0x83;
const FLAG_LACING: u32 = 0x9C;
const LANGUAGE: u32 = 0x22_B59C;
const CODEC_ID: u32 = 0x86;
const CODEC_PRIVATE: u32 = 0x63A2;
const NAME: u32 = 0x536E;
const CODEC_DELAY: u32 = 0x56AA;
const SEEK_PRE_ROLL: u32 = 0x56BB;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;
const AUDIO: u32 = 0xE1;
const SAMPLING_FREQUENCY: u32 = 0xB5;
const CHANNELS: u32 = 0x9F;

pub const CLUSTER: u32 = 0x1F43_B675;
pub const TIMESTAMP: u32 = 0xE7;
pub const SIMPLE_BLOCK: u32 = 0xA3;

pub const CUES: u32 = 0x1C53_BB6B;
const CUE_POINT: u32 = 0xBB;
const CUE_TIME: u32 = 0xB3;
const CUE_TRACK_POSITIONS: u32 = 0xB7;
const CUE_TRACK: u32 = 0xF7;
const CUE_CLUSTER_POSITION: u32 = 0xF1;
const CUE_RELATIVE_POSITION: u32 = 0xF0;

/// Block timestamps are in milliseconds: one tick of the timestamp scale is 1 000 000 ns.
pub const TIMESTAMP_SCALE_NS: u64 = 1_000_000;
/// How far before a seek point an Opus decoder must start to converge: 80 ms (RFC 7845).
const OPUS_SEEK_PRE_ROLL_NS: u64 = 80_000_000;

const TRACK_VIDEO: u64 = 1;
const TRACK_AUDIO: u64 = 2;

/// The EBML header of a Matroska file (version 4: Opus needs CodecDelay and SeekPreRoll).
pub fn ebml_header() -> Vec<u8> {
    master(
        EBML,
        &[
            uint(EBML_VERSION, 1),
            uint(EBML_READ_VERSION, 1),
            uint(EBML_MAX_ID_LENGTH, 4),
            uint(EBML_MAX_SIZE_LENGTH, 8),
            string(DOC_TYPE, "matroska"),
            uint(DOC_TYPE_VERSION, 4),
            uint(DOC_TYPE_READ_VERSION, 2),
        ],
    )
}

/// The segment Info, with its Duration (milliseconds, an 8-byte float) as the last child so it
/// sits in the element's last eight bytes.
pub fn info(title: &str, duration_ms: f64) -> Vec<u8> {
    let mut children = vec![
        uint(TIMESTAMP_SCALE, TIMESTAMP_SCALE_NS),
        string(MUXING_APP, "tether-media"),
        string(WRITING_APP, concat!("tether ", env!("CARGO_PKG_VERSION"))),
    ];
    if !title.is_empty() {
        children.push(string(TITLE, title));
    }
    children.push(float(DURATION, duration_ms));
    master(INFO, &children)
}

/// The body of a SeekHead: where each top-level element is, relative to the segment's data.
pub fn seek_head_body(entries: &[(u32, u64)]) -> Vec<u8> {
    entries
        .iter()
        .flat_map(|&(id, position)| {
            master(
                SEEK,
                &[
                    bytes(SEEK_ID, &crate::ebml::id_bytes(id)),
                    uint(SEEK_POSITION, position),
                ],
            )
        })
        .collect()
}

/// The track entry of an H.264 video track; `avcc` is its decoder configuration, once known.
pub fn video_entry(
    number: u64,
    name: &str,
    width: u32,
    height: u32,
    avcc: Option<&[u8]>,
) -> Vec<u8> {
    let mut children = common(number, TRACK_VIDEO, name, "V_MPEG4/ISO/AVC");
    if let Some(avcc) = avcc {
        children.push(bytes(CODEC_PRIVATE, avcc));
    }
    children.push(master(
        VIDEO,
        &[
            uint(PIXEL_WIDTH, u64::from(width)),
            uint(PIXEL_HEIGHT, u64::from(height)),
        ],
    ));
    master(TRACK_ENTRY, &children)
}

/// The track entry of an Opus voice at 48 kHz, with its OpusHead and codec delay.
pub fn opus_entry(number: u64, name: &str, channels: u8, pre_skip: u16) -> Vec<u8> {
    let mut children = common(number, TRACK_AUDIO, name, "A_OPUS");
    children.push(bytes(CODEC_PRIVATE, &opus_head(channels, pre_skip)));
    children.push(uint(
        CODEC_DELAY,
        u64::from(pre_skip) * 1_000_000_000 / 48_000,
    ));
    children.push(uint(SEEK_PRE_ROLL, OPUS_SEEK_PRE_ROLL_NS));
    children.push(master(
        AUDIO,
        &[
            float(SAMPLING_FREQUENCY, 48_000.0),
            uint(CHANNELS, u64::from(channels)),
        ],
    ));
    master(TRACK_ENTRY, &children)
}

/// The children every track entry has. The track's UID is its number: unique in the file.
fn common(number: u64, kind: u64, name: &str, codec: &str) -> Vec<Vec<u8>> {
    let mut children = vec![
        uint(TRACK_NUMBER, number),
        uint(TRACK_UID, number),
        uint(TRACK_TYPE, kind),
        uint(FLAG_LACING, 0),
        string(LANGUAGE, "und"),
        string(CODEC_ID, codec),
    ];
    if !name.is_empty() {
        children.push(string(NAME, name));
    }
    children
}

/// The Opus identification header (RFC 7845 §5.1), channel mapping family 0 (mono or stereo).
pub fn opus_head(channels: u8, pre_skip: u16) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.push(1);
    head.push(channels);
    head.extend_from_slice(&pre_skip.to_le_bytes());
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&0i16.to_le_bytes());
    head.push(0);
    head
}

/// One seek point: a keyframe at `time` ms on `track`, in the cluster at `cluster` (relative to
/// the segment's data), `relative` bytes into that cluster's data.
#[derive(Debug, Clone, Copy)]
pub struct Cue {
    pub time: u64,
    pub track: u64,
    pub cluster: u64,
    pub relative: u64,
}

/// The Cues element listing these seek points.
pub fn cues(points: &[Cue]) -> Vec<u8> {
    let points: Vec<Vec<u8>> = points
        .iter()
        .map(|p| {
            master(
                CUE_POINT,
                &[
                    uint(CUE_TIME, p.time),
                    master(
                        CUE_TRACK_POSITIONS,
                        &[
                            uint(CUE_TRACK, p.track),
                            uint(CUE_CLUSTER_POSITION, p.cluster),
                            uint(CUE_RELATIVE_POSITION, p.relative),
                        ],
                    ),
                ],
            )
        })
        .collect();
    master(CUES, &points)
}
