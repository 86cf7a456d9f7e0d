//! Session recording: a Matroska (`.mkv`) file with the shared screen as one H.264 track and
//! every voice as its own Opus track, written as the media arrives.
//!
//! Times are given by the caller, as the time since the recording started on its own clock
//! (the engine passes `Instant::elapsed`); time spent paused is left out of the file, so its
//! duration is recording time. The file stays playable if the program dies before
//! [`Recorder::finish`]: the segment and clusters are written with "unknown" sizes that
//! `finish` (and each cluster's end) patch in place.

use crate::MediaError;
use crate::avc::{self, NAL_PPS, NAL_SPS};
use crate::ebml::{self, UNKNOWN_SIZE};
use crate::mkv::{self, Cue};
use crate::voice::{SAMPLE_RATE, packet_samples};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

/// The screen track of a recording.
#[derive(Debug, Clone)]
pub struct VideoTrack {
    pub name: String,
    pub width: u32,
    pub height: u32,
}

/// One voice of a recording: an Opus stream at 48 kHz.
#[derive(Debug, Clone)]
pub struct VoiceTrack {
    /// Whose voice, shown by players as the track's name.
    pub name: String,
    /// 1 or 2: the channel count the packets decode to.
    pub channels: u8,
    /// Samples the decoder drops at the start (the encoder's look-ahead; 312 for libopus).
    pub pre_skip: u16,
}

impl VoiceTrack {
    /// A mono voice from libopus (as browsers and [`crate::voice::VoiceEncoder`] send).
    pub fn mono(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            channels: 1,
            pre_skip: 312,
        }
    }
}

/// What a recording holds.
#[derive(Debug, Clone, Default)]
pub struct RecordingConfig {
    /// The file's title (empty for none).
    pub title: String,
    /// The shared screen, if the recording has one. If no keyframe ever arrives, the finished
    /// file has no video track.
    pub video: Option<VideoTrack>,
    /// The voices, in the order [`Recorder::write_voice`] numbers them.
    pub voices: Vec<VoiceTrack>,
}

/// The video track's number; voice `i` is track `i + 2`.
const VIDEO_TRACK: u64 = 1;
/// Room reserved for the SeekHead, rewritten by `finish` once the Cues' place is known.
const SEEK_HEAD_ROOM: usize = 96;
/// Room reserved beyond the first Tracks element for the H.264 decoder configuration.
const CODEC_PRIVATE_ROOM: usize = 1024;
/// A cluster is closed at a video keyframe once it spans this long…
const CLUSTER_KEYFRAME_MS: u64 = 1000;
/// …and in any case once it spans this long.
const CLUSTER_MAX_MS: u64 = 2000;

/// Writes a Matroska recording through any `Write + Seek` (normally a buffered file).
#[derive(Debug)]
pub struct Recorder<W: Write + Seek> {
    /// `None` once finished.
    out: Option<W>,
    config: RecordingConfig,
    /// Where the segment's data starts: the origin of every position the file stores.
    segment_data: u64,
    seek_head_at: u64,
    info_at: u64,
    duration_at: u64,
    tracks_at: u64,
    tracks_room: usize,
    video: VideoState,
    /// The last timestamp written on each track (index 0 is the video track).
    last: Vec<Option<u64>>,
    cluster: Option<Cluster>,
    video_cues: Vec<Cue>,
    cluster_cues: Vec<Cue>,
    /// The end of the latest block written, in ms of recording time.
    end_ms: u64,
    paused_at: Option<Duration>,
    paused_total: Duration,
}

#[derive(Debug, Default)]
struct VideoState {
    sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
    /// The decoder configuration written into the track entry (set at the first keyframe).
    avcc: Option<Vec<u8>>,
    /// Frames are dropped until a keyframe: at the start and after a pause.
    waiting_for_keyframe: bool,
}

#[derive(Debug)]
struct Cluster {
    /// Where the cluster's 8-byte size is, to patch when it closes.
    size_at: u64,
    /// Where its data starts.
    data_at: u64,
    timestamp: u64,
}

impl Recorder<BufWriter<File>> {
    /// Create (or truncate) a `.mkv` file and write its header.
    pub fn create(path: impl AsRef<Path>, config: RecordingConfig) -> Result<Self, MediaError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| {
            MediaError::Io(std::io::Error::new(
                e.kind(),
                format!("creating {}: {e}", path.display()),
            ))
        })?;
        Self::new(BufWriter::new(file), config)
    }
}

impl<W: Write + Seek> Recorder<W> {
    /// Write the header of a recording to `out` (at its current position, normally the start).
    pub fn new(mut out: W, config: RecordingConfig) -> Result<Self, MediaError> {
        if config.video.is_none() && config.voices.is_empty() {
            return Err(MediaError::Invalid(
                "a recording needs a video or a voice track".into(),
            ));
        }
        if let Some(v) = config
            .voices
            .iter()
            .find(|v| !(1..=2).contains(&v.channels))
        {
            return Err(MediaError::Invalid(format!(
                "voice {:?} has {} channels; Opus tracks here are mono or stereo",
                v.name, v.channels
            )));
        }
        if config.voices.len() > 100 {
            return Err(MediaError::Invalid("more than 100 voices".into()));
        }
        out.write_all(&mkv::ebml_header())?;
        out.write_all(&ebml::id_bytes(mkv::SEGMENT))?;
        out.write_all(&UNKNOWN_SIZE)?;
        let segment_data = out.stream_position()?;

        let seek_head_at = segment_data;
        out.write_all(&[0; SEEK_HEAD_ROOM])?;
        let info_at = out.stream_position()?;
        let info = mkv::info(&config.title, 0.0);
        out.write_all(&info)?;
        let duration_at = info_at + info.len() as u64 - 8;
        let tracks_at = out.stream_position()?;
        let tracks_room = ebml::master(mkv::TRACKS, &track_entries(&config, None)).len()
            + if config.video.is_some() {
                CODEC_PRIVATE_ROOM
            } else {
                0
            }
            + 2;
        out.write_all(&vec![0; tracks_room])?;

        let tracks = config.voices.len() + 1;
        let mut recorder = Self {
            out: Some(out),
            config,
            segment_data,
            seek_head_at,
            info_at,
            duration_at,
            tracks_at,
            tracks_room,
            video: VideoState {
                waiting_for_keyframe: true,
                ..VideoState::default()
            },
            last: vec![None; tracks],
            cluster: None,
            video_cues: Vec::new(),
            cluster_cues: Vec::new(),
            end_ms: 0,
            paused_at: None,
            paused_total: Duration::ZERO,
        };
        recorder.write_seek_head(None)?;
        recorder.write_tracks()?;
        Ok(recorder)
    }

    /// Record one H.264 access unit (Annex-B, as OpenH264 and RTP depacketizers give it) at
    /// `at` since the recording started. Returns whether it was written: frames are dropped
    /// while paused, before the first keyframe, and after a pause until the next keyframe
    /// (ask the sender for one on [`resume`](Self::resume)).
    pub fn write_video(&mut self, at: Duration, annexb: &[u8]) -> Result<bool, MediaError> {
        if self.config.video.is_none() {
            return Err(MediaError::Invalid(
                "this recording has no video track".into(),
            ));
        }
        let nals = avc::nal_units(annexb);
        if nals.is_empty() {
            return Err(MediaError::Invalid(
                "an H.264 frame without Annex-B start codes".into(),
            ));
        }
        self.remember_parameter_sets(&nals);
        if self.paused_at.is_some() {
            return Ok(false);
        }
        let keyframe = avc::is_keyframe(&nals);
        if self.video.waiting_for_keyframe {
            if !keyframe {
                return Ok(false);
            }
            if self.video.avcc.is_none() {
                if self.video.sps.is_empty() || self.video.pps.is_empty() {
                    return Ok(false);
                }
                let sps: Vec<&[u8]> = self.video.sps.iter().map(Vec::as_slice).collect();
                let pps: Vec<&[u8]> = self.video.pps.iter().map(Vec::as_slice).collect();
                self.video.avcc = Some(avc::avc_decoder_config(&sps, &pps)?);
                self.write_tracks()?;
            }
            self.video.waiting_for_keyframe = false;
        }
        let frame = avc::length_prefixed(&nals)?;
        let ms = self.timestamp(at, 0);
        self.write_block(VIDEO_TRACK, ms, keyframe, &frame)?;
        self.end_ms = self.end_ms.max(ms);
        Ok(true)
    }

    /// Record one Opus packet of voice `voice` (its index in the config) at `at` since the
    /// recording started. Returns whether it was written (not while paused).
    pub fn write_voice(
        &mut self,
        voice: usize,
        at: Duration,
        packet: &[u8],
    ) -> Result<bool, MediaError> {
        if voice >= self.config.voices.len() {
            return Err(MediaError::Invalid(format!(
                "voice {voice}: this recording has {} voices",
                self.config.voices.len()
            )));
        }
        let samples = packet_samples(packet)
            .map_err(|e| MediaError::Invalid(format!("not an Opus packet ({e})")))?;
        if self.paused_at.is_some() {
            return Ok(false);
        }
        let ms = self.timestamp(at, voice + 1);
        self.write_block(voice as u64 + 2, ms, true, packet)?;
        let length_ms = samples as u64 * 1000 / u64::from(SAMPLE_RATE);
        self.end_ms = self.end_ms.max(ms + length_ms);
        Ok(true)
    }

    /// Pause at `at`: media given until [`resume`](Self::resume) is dropped and the time does
    /// not count. Pausing twice is the same as once.
    pub fn pause(&mut self, at: Duration) {
        if self.paused_at.is_none() {
            self.paused_at = Some(at);
        }
    }

    /// Resume at `at` after a pause. Video is written again from the next keyframe.
    pub fn resume(&mut self, at: Duration) {
        if let Some(paused_at) = self.paused_at.take() {
            self.paused_total += at.saturating_sub(paused_at);
            self.video.waiting_for_keyframe = true;
        }
    }

    pub fn is_paused(&self) -> bool {
        self.paused_at.is_some()
    }

    /// Whether video frames are being dropped until a keyframe arrives.
    pub fn waiting_for_keyframe(&self) -> bool {
        self.config.video.is_some() && self.video.waiting_for_keyframe
    }

    /// The recording time at `at`: the time since the start without the time paused.
    pub fn recorded(&self, at: Duration) -> Duration {
        let now = self.paused_at.map_or(at, |p| p.min(at));
        now.saturating_sub(self.paused_total)
    }

    /// End the recording at `at`: close the last cluster, write the Cues, and fill in the
    /// duration (the recording time), the SeekHead and the sizes. Returns the writer, flushed.
    pub fn finish(mut self, at: Duration) -> Result<W, MediaError> {
        let recorded = self.recorded(at).as_millis();
        self.finalize(u64::try_from(recorded).unwrap_or(u64::MAX))?;
        self.out
            .take()
            .ok_or_else(|| MediaError::Invalid("recording already finished".into()))
    }

    fn finalize(&mut self, recorded_ms: u64) -> Result<(), MediaError> {
        self.close_cluster()?;
        if self.video.avcc.is_none() && self.config.video.is_some() {
            // No keyframe ever came: leave the video track out rather than describe a track
            // no player could decode.
            self.config.video = None;
            self.write_tracks()?;
        }
        let cues = if self.video_cues.is_empty() {
            std::mem::take(&mut self.cluster_cues)
        } else {
            std::mem::take(&mut self.video_cues)
        };
        let segment_data = self.segment_data;
        let out = self.out()?;
        let mut cues_at = None;
        if !cues.is_empty() {
            cues_at = Some(out.stream_position()? - segment_data);
            out.write_all(&mkv::cues(&cues))?;
        }
        let end = out.stream_position()?;
        self.write_seek_head(cues_at)?;
        let duration = recorded_ms.max(self.end_ms) as f64;
        let duration_at = self.duration_at;
        let out = self.out()?;
        out.seek(SeekFrom::Start(duration_at))?;
        out.write_all(&duration.to_be_bytes())?;
        out.seek(SeekFrom::Start(segment_data - 8))?;
        out.write_all(&ebml::vint_of_len(end - segment_data, 8))?;
        out.seek(SeekFrom::Start(end))?;
        out.flush()?;
        Ok(())
    }

    /// The timestamp in ms of recording time for a block of track slot `slot` given at `at`,
    /// never before the track's previous block.
    fn timestamp(&mut self, at: Duration, slot: usize) -> u64 {
        let ms = u64::try_from(self.recorded(at).as_millis()).unwrap_or(u64::MAX);
        let ms = self.last[slot].map_or(ms, |last| ms.max(last));
        self.last[slot] = Some(ms);
        ms
    }

    fn write_block(
        &mut self,
        track: u64,
        ms: u64,
        keyframe: bool,
        frame: &[u8],
    ) -> Result<(), MediaError> {
        let video_keyframe = keyframe && track == VIDEO_TRACK;
        let needs_new = match &self.cluster {
            None => true,
            Some(c) => {
                let age = ms.saturating_sub(c.timestamp);
                age >= CLUSTER_MAX_MS
                    || (video_keyframe && age >= CLUSTER_KEYFRAME_MS)
                    || ms + 32_768 < c.timestamp
            }
        };
        if needs_new {
            self.close_cluster()?;
            self.open_cluster(ms)?;
        }
        let Some(cluster) = &self.cluster else {
            return Err(MediaError::Invalid("no open cluster".into()));
        };
        let (timestamp, data_at, size_at) = (cluster.timestamp, cluster.data_at, cluster.size_at);
        let relative = i16::try_from(ms as i64 - timestamp as i64).unwrap_or(i16::MIN);
        let mut body = ebml::vint(track);
        body.extend_from_slice(&relative.to_be_bytes());
        body.push(if keyframe { 0x80 } else { 0 });
        body.extend_from_slice(frame);
        let block = ebml::bytes(mkv::SIMPLE_BLOCK, &body);

        let segment_data = self.segment_data;
        let out = self.out()?;
        let block_at = out.stream_position()?;
        out.write_all(&block)?;
        let cue = Cue {
            time: ms,
            track,
            cluster: size_at - 4 - segment_data,
            relative: block_at - data_at,
        };
        if video_keyframe {
            self.video_cues.push(cue);
        } else if needs_new {
            self.cluster_cues.push(cue);
        }
        Ok(())
    }

    fn open_cluster(&mut self, ms: u64) -> Result<(), MediaError> {
        let out = self.out()?;
        out.write_all(&ebml::id_bytes(mkv::CLUSTER))?;
        let size_at = out.stream_position()?;
        out.write_all(&UNKNOWN_SIZE)?;
        let data_at = size_at + 8;
        out.write_all(&ebml::uint(mkv::TIMESTAMP, ms))?;
        self.cluster = Some(Cluster {
            size_at,
            data_at,
            timestamp: ms,
        });
        Ok(())
    }

    fn close_cluster(&mut self) -> Result<(), MediaError> {
        let Some(cluster) = self.cluster.take() else {
            return Ok(());
        };
        let out = self.out()?;
        let end = out.stream_position()?;
        out.seek(SeekFrom::Start(cluster.size_at))?;
        out.write_all(&ebml::vint_of_len(end - cluster.data_at, 8))?;
        out.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    fn remember_parameter_sets(&mut self, nals: &[&[u8]]) {
        let sps: Vec<Vec<u8>> = nals
            .iter()
            .filter(|n| avc::nal_type(n) == NAL_SPS)
            .map(|n| n.to_vec())
            .collect();
        let pps: Vec<Vec<u8>> = nals
            .iter()
            .filter(|n| avc::nal_type(n) == NAL_PPS)
            .map(|n| n.to_vec())
            .collect();
        if !sps.is_empty() {
            self.video.sps = sps;
        }
        if !pps.is_empty() {
            self.video.pps = pps;
        }
    }

    /// (Re)write the SeekHead in its reserved room.
    fn write_seek_head(&mut self, cues_at: Option<u64>) -> Result<(), MediaError> {
        let mut entries = vec![
            (mkv::INFO, self.info_at - self.segment_data),
            (mkv::TRACKS, self.tracks_at - self.segment_data),
        ];
        if let Some(cues_at) = cues_at {
            entries.push((mkv::CUES, cues_at));
        }
        let body = mkv::seek_head_body(&entries);
        self.rewrite_room(self.seek_head_at, SEEK_HEAD_ROOM, mkv::SEEK_HEAD, &body)
    }

    /// (Re)write the Tracks element in its reserved room.
    fn write_tracks(&mut self) -> Result<(), MediaError> {
        let body = track_entries(&self.config, self.video.avcc.as_deref()).concat();
        self.rewrite_room(self.tracks_at, self.tracks_room, mkv::TRACKS, &body)
    }

    /// Write an element at `at`, filling exactly `room` bytes (the rest is a Void element),
    /// and come back to where the writer was.
    fn rewrite_room(
        &mut self,
        at: u64,
        room: usize,
        id: u32,
        body: &[u8],
    ) -> Result<(), MediaError> {
        let mut element = ebml::bytes(id, body);
        if room.checked_sub(element.len()) == Some(1) {
            // No Void is one byte long: write the size one byte longer instead.
            let size_len = ebml::vint(body.len() as u64).len() + 1;
            element = ebml::bytes_with_size_len(id, body, size_len);
        }
        let void = room
            .checked_sub(element.len())
            .and_then(ebml::void)
            .ok_or_else(|| {
                MediaError::Invalid(format!(
                    "a {}-byte header element does not fit the {room} bytes reserved for it",
                    element.len()
                ))
            })?;
        let out = self.out()?;
        let back = out.stream_position()?;
        out.seek(SeekFrom::Start(at))?;
        out.write_all(&element)?;
        out.write_all(&void)?;
        out.seek(SeekFrom::Start(back))?;
        Ok(())
    }

    fn out(&mut self) -> Result<&mut W, MediaError> {
        self.out
            .as_mut()
            .ok_or_else(|| MediaError::Invalid("recording already finished".into()))
    }
}

impl<W: Write + Seek> Drop for Recorder<W> {
    /// A recorder dropped without [`finish`](Recorder::finish) still completes its file, as
    /// long as the last media written.
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = self.finalize(self.end_ms);
        }
    }
}

/// The track entries of a recording: the video track (if any) and one per voice.
fn track_entries(config: &RecordingConfig, avcc: Option<&[u8]>) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    if let Some(v) = &config.video {
        entries.push(mkv::video_entry(
            VIDEO_TRACK,
            &v.name,
            v.width,
            v.height,
            avcc,
        ));
    }
    for (i, voice) in config.voices.iter().enumerate() {
        entries.push(mkv::opus_entry(
            i as u64 + 2,
            &voice.name,
            voice.channels,
            voice.pre_skip,
        ));
    }
    entries
}
