//! WAV files as voice: a source reading 16-bit PCM at 48 kHz (mono, or stereo mixed down) in
//! 20 ms frames, and a sink writing mono 16-bit PCM at 48 kHz. No resampling: files at other
//! rates or sample formats are refused with a sentence saying what they are.

use crate::MediaError;
use crate::voice::{AudioSink, AudioSource, FRAME_SAMPLES, Frame, SAMPLE_RATE};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

const FORMAT_PCM: u16 = 1;
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Reads a 16-bit PCM WAV file at 48 kHz, mono or stereo, as 20 ms mono frames. The last frame
/// is padded with silence.
#[derive(Debug)]
pub struct WavSource<R> {
    reader: R,
    channels: u16,
    /// Bytes of sample data not yet read.
    remaining: u64,
    error: Option<io::Error>,
}

impl WavSource<BufReader<File>> {
    /// Open a WAV file; refused unless it is 16-bit PCM, 48 kHz, one or two channels.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| {
            MediaError::Io(io::Error::new(
                e.kind(),
                format!("opening {}: {e}", path.display()),
            ))
        })?;
        Self::new(BufReader::new(file))
    }
}

impl<R: Read> WavSource<R> {
    /// Read the WAV header from `reader`, leaving it at the start of the samples.
    pub fn new(mut reader: R) -> Result<Self, MediaError> {
        let mut riff = [0u8; 12];
        reader.read_exact(&mut riff).map_err(truncated)?;
        if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
            return Err(MediaError::Invalid(
                "not a WAV file (no RIFF/WAVE header)".into(),
            ));
        }
        let mut channels = None;
        loop {
            let mut head = [0u8; 8];
            reader.read_exact(&mut head).map_err(truncated)?;
            let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            match &head[0..4] {
                b"fmt " => channels = Some(read_format(&mut reader, size)?),
                b"data" => {
                    let channels = channels.ok_or_else(|| {
                        MediaError::Invalid("WAV file has samples before its format".into())
                    })?;
                    return Ok(Self {
                        reader,
                        channels,
                        remaining: u64::from(size),
                        error: None,
                    });
                }
                // Skip any other chunk (LIST, fact…), including its padding byte.
                _ => skip(&mut reader, u64::from(size) + u64::from(size % 2))?,
            }
        }
    }

    /// The number of channels in the file (1 or 2); frames are always mono.
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The read error that ended the file early, if one did.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl<R: Read> AudioSource for WavSource<R> {
    fn next_frame(&mut self) -> Option<Frame> {
        let frame_bytes = FRAME_SAMPLES * 2 * usize::from(self.channels);
        let want = usize::try_from(self.remaining).map_or(frame_bytes, |r| r.min(frame_bytes));
        if want < 2 * usize::from(self.channels) {
            return None;
        }
        let mut bytes = vec![0u8; want];
        if let Err(e) = self.reader.read_exact(&mut bytes) {
            self.error = Some(e);
            self.remaining = 0;
            return None;
        }
        self.remaining -= want as u64;
        let mut frame = [0i16; FRAME_SAMPLES];
        let step = 2 * usize::from(self.channels);
        for (out, chunk) in frame.iter_mut().zip(bytes.chunks_exact(step)) {
            let left = i16::from_le_bytes([chunk[0], chunk[1]]);
            *out = if self.channels == 2 {
                let right = i16::from_le_bytes([chunk[2], chunk[3]]);
                ((i32::from(left) + i32::from(right)) / 2) as i16
            } else {
                left
            };
        }
        Some(frame)
    }
}

/// Check a `fmt ` chunk and return its channel count.
fn read_format(reader: &mut impl Read, size: u32) -> Result<u16, MediaError> {
    if !(16..=1024).contains(&size) {
        return Err(MediaError::Invalid(format!(
            "WAV format chunk of {size} bytes"
        )));
    }
    let mut fmt = vec![0u8; size as usize + (size % 2) as usize];
    reader.read_exact(&mut fmt).map_err(truncated)?;
    let word = |i: usize| u16::from_le_bytes([fmt[i], fmt[i + 1]]);
    let mut format = word(0);
    let channels = word(2);
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    let bits = word(14);
    if format == FORMAT_EXTENSIBLE && size >= 26 {
        // The sub-format GUID starts with the real format code.
        format = word(24);
    }
    if format != FORMAT_PCM {
        return Err(MediaError::Invalid(format!(
            "WAV sample format {format} is not integer PCM (only 16-bit PCM is read)"
        )));
    }
    if bits != 16 {
        return Err(MediaError::Invalid(format!(
            "WAV file has {bits}-bit samples; only 16-bit is read"
        )));
    }
    if rate != SAMPLE_RATE {
        return Err(MediaError::Invalid(format!(
            "WAV file is at {rate} Hz; voice is 48000 Hz and files are not resampled"
        )));
    }
    if !(1..=2).contains(&channels) {
        return Err(MediaError::Invalid(format!(
            "WAV file has {channels} channels; only mono and stereo are read"
        )));
    }
    Ok(channels)
}

fn skip(reader: &mut impl Read, bytes: u64) -> Result<(), MediaError> {
    let skipped = io::copy(&mut reader.take(bytes), &mut io::sink())?;
    if skipped < bytes {
        return Err(truncated(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

fn truncated(e: io::Error) -> MediaError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        MediaError::Invalid("WAV file is truncated".into())
    } else {
        MediaError::Io(e)
    }
}

/// Writes mono 16-bit PCM at 48 kHz to a WAV file. [`finish`](Self::finish) fills in the
/// lengths; a sink dropped without it does so too, ignoring errors.
#[derive(Debug)]
pub struct WavSink<W: Write + Seek> {
    writer: Option<W>,
    data_bytes: u64,
    error: Option<io::Error>,
}

/// The size of the header written before the samples.
const HEADER_BYTES: u32 = 44;

impl WavSink<BufWriter<File>> {
    /// Create (or truncate) a WAV file.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|e| {
            MediaError::Io(io::Error::new(
                e.kind(),
                format!("creating {}: {e}", path.display()),
            ))
        })?;
        Self::new(BufWriter::new(file))
    }
}

impl<W: Write + Seek> WavSink<W> {
    /// Write a WAV header to `writer` (at its current position, normally the start).
    pub fn new(mut writer: W) -> Result<Self, MediaError> {
        writer.write_all(&header(0))?;
        Ok(Self {
            writer: Some(writer),
            data_bytes: 0,
            error: None,
        })
    }

    /// The number of samples written so far.
    pub fn samples(&self) -> u64 {
        self.data_bytes / 2
    }

    /// Fill in the lengths in the header, flush, and return the writer; reports the first
    /// write error that happened while playing.
    pub fn finish(mut self) -> Result<W, MediaError> {
        if let Some(e) = self.error.take() {
            return Err(e.into());
        }
        let mut writer = self
            .writer
            .take()
            .ok_or_else(|| MediaError::Invalid("WAV sink already finished".into()))?;
        patch_header(&mut writer, self.data_bytes)?;
        Ok(writer)
    }
}

impl<W: Write + Seek> AudioSink for WavSink<W> {
    fn play(&mut self, samples: &[i16]) {
        let (Some(writer), None) = (&mut self.writer, &self.error) else {
            return;
        };
        if self.data_bytes + 2 * samples.len() as u64 > u64::from(u32::MAX - HEADER_BYTES) {
            self.error = Some(io::Error::other("WAV file would exceed 4 GiB"));
            return;
        }
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        match writer.write_all(&bytes) {
            Ok(()) => self.data_bytes += bytes.len() as u64,
            Err(e) => self.error = Some(e),
        }
    }
}

impl<W: Write + Seek> Drop for WavSink<W> {
    fn drop(&mut self) {
        if let Some(writer) = &mut self.writer {
            let _ = patch_header(writer, self.data_bytes);
        }
    }
}

fn patch_header<W: Write + Seek>(writer: &mut W, data_bytes: u64) -> io::Result<()> {
    let data = u32::try_from(data_bytes).map_err(io::Error::other)?;
    let end = writer.stream_position()?;
    writer.seek(SeekFrom::Start(end - data_bytes - u64::from(HEADER_BYTES)))?;
    writer.write_all(&header(data))?;
    writer.seek(SeekFrom::Start(end))?;
    writer.flush()
}

/// A canonical 44-byte header for mono 16-bit PCM at 48 kHz with `data` bytes of samples.
fn header(data: u32) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(data + HEADER_BYTES - 8).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&FORMAT_PCM.to_le_bytes());
    h[22..24].copy_from_slice(&1u16.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(SAMPLE_RATE * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data.to_le_bytes());
    h
}
