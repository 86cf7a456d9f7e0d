//! Recording on the controller's engine: while the recording activity it started runs (which
//! the service allows only after the primary customer's consent), the shared screen and every
//! voice go into a Matroska file on a writer thread; pause and resume leave the paused time out;
//! when recording stops the file is finished and uploaded to the service, which attaches it to
//! the session record.

use crate::threads::MediaThreads;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant};
use tether_media::decode::H264Decoder;
use tether_media::record::{Recorder, RecordingConfig, VideoTrack, VoiceTrack};
use tether_protocol::ParticipantId;
use tokio::sync::oneshot;

/// Media waiting for the writer: a few seconds of screen and voice; beyond, media is dropped
/// (a video gap waits for the next keyframe) rather than held in memory.
const WRITE_QUEUE: usize = 512;
/// Voice kept while the recorder waits for the first screen keyframe (to learn its size).
const EARLY_VOICE: usize = 500;

enum Job {
    Video(Duration, Vec<u8>),
    Voice(Duration, usize, Vec<u8>),
    Pause(Duration),
    Resume(Duration),
    Finish(Duration, oneshot::Sender<Result<Finished, String>>),
}

/// Records one voice from wherever its packets pass.
#[derive(Debug, Clone)]
pub(crate) struct VoiceTap {
    started: Instant,
    jobs: SyncSender<Job>,
    index: usize,
}

impl VoiceTap {
    pub(crate) fn voice(&self, packet: &[u8]) {
        let at = self.started.elapsed();
        let _ = self
            .jobs
            .try_send(Job::Voice(at, self.index, packet.to_vec()));
    }
}

/// A finished recording file.
#[derive(Debug)]
pub(crate) struct Finished {
    pub path: PathBuf,
    pub duration: Duration,
}

/// A recording under way.
#[derive(Debug)]
pub(crate) struct Recording {
    started: Instant,
    jobs: SyncSender<Job>,
    voices: HashMap<ParticipantId, usize>,
    paused: bool,
    /// Whose screen is recorded.
    screen: Option<ParticipantId>,
    /// Someone asked for a keyframe because the writer dropped video.
    pub(crate) wants_keyframe: bool,
}

impl Recording {
    /// Start writing `path`, with one voice track per participant in `voices` (name, id).
    pub(crate) fn start(
        path: PathBuf,
        voices: Vec<(ParticipantId, String)>,
        threads: &MediaThreads,
    ) -> Result<Recording, String> {
        let (jobs, rx) = sync_channel::<Job>(WRITE_QUEUE);
        let tracks: Vec<VoiceTrack> = voices
            .iter()
            .map(|(_, name)| VoiceTrack::mono(name.clone()))
            .collect();
        let index = voices
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        threads.spawn("record", move || write(path, tracks, rx))?;
        Ok(Recording {
            started: Instant::now(),
            jobs,
            voices: index,
            paused: false,
            screen: None,
            wants_keyframe: false,
        })
    }

    fn send(&mut self, job: Job) {
        if self.jobs.try_send(job).is_err() {
            self.wants_keyframe = true;
        }
    }

    /// A screen frame from `from`: the recording keeps the first participant's screen it sees.
    pub(crate) fn video(&mut self, from: ParticipantId, frame: &[u8]) {
        if *self.screen.get_or_insert(from) != from {
            return;
        }
        let at = self.started.elapsed();
        self.send(Job::Video(at, frame.to_vec()));
    }

    pub(crate) fn voice(&mut self, speaker: ParticipantId, packet: &[u8]) {
        // Someone who joined after the recording started has no track: not recorded.
        if let Some(&i) = self.voices.get(&speaker) {
            let at = self.started.elapsed();
            self.send(Job::Voice(at, i, packet.to_vec()));
        }
    }

    /// A handle that records `speaker`'s voice from another task (our own voice, sent from
    /// the voice task).
    pub(crate) fn tap(&self, speaker: ParticipantId) -> Option<VoiceTap> {
        self.voices.get(&speaker).map(|&index| VoiceTap {
            started: self.started,
            jobs: self.jobs.clone(),
            index,
        })
    }

    /// Whose screen is recorded, once one arrived.
    pub(crate) fn screen(&self) -> Option<ParticipantId> {
        self.screen
    }

    /// Returns false when already in that state.
    pub(crate) fn set_paused(&mut self, paused: bool) -> bool {
        if self.paused == paused {
            return false;
        }
        self.paused = paused;
        let at = self.started.elapsed();
        // Control jobs wait for room: they must not be lost.
        let _ = self.jobs.send(if paused {
            Job::Pause(at)
        } else {
            Job::Resume(at)
        });
        true
    }

    /// Finish the file; resolves once it is complete on disk.
    pub(crate) fn finish(self) -> oneshot::Receiver<Result<Finished, String>> {
        let (tx, rx) = oneshot::channel();
        let at = self.started.elapsed();
        if let Err(std::sync::mpsc::SendError(Job::Finish(_, tx))) =
            self.jobs.send(Job::Finish(at, tx))
        {
            let _ = tx.send(Err("the recording writer stopped".into()));
        }
        rx
    }
}

/// The writer thread: creates the file once the first screen keyframe tells the picture size
/// (or at the end, voice only, if no screen came), then writes what arrives.
fn write(path: PathBuf, voices: Vec<VoiceTrack>, jobs: std::sync::mpsc::Receiver<Job>) {
    let mut recorder: Option<Recorder<std::io::BufWriter<std::fs::File>>> = None;
    let mut early: Vec<Job> = Vec::new();
    let mut failure: Option<String> = None;
    let create = |video: Option<VideoTrack>| {
        let config = RecordingConfig {
            title: "tether session".into(),
            video,
            voices: voices.clone(),
        };
        Recorder::create(&path, config).map_err(|e| e.to_string())
    };
    let apply = |r: &mut Recorder<_>, job: Job| -> Result<(), String> {
        match job {
            Job::Video(at, frame) => r.write_video(at, &frame).map(drop),
            Job::Voice(at, i, packet) => r.write_voice(i, at, &packet).map(drop),
            Job::Pause(at) => {
                r.pause(at);
                Ok(())
            }
            Job::Resume(at) => {
                r.resume(at);
                Ok(())
            }
            Job::Finish(..) => Ok(()),
        }
        .map_err(|e| e.to_string())
    };
    while let Ok(job) = jobs.recv() {
        if let Job::Finish(at, reply) = job {
            let result = (|| {
                if let Some(f) = failure.take() {
                    return Err(f);
                }
                let r = match recorder.take() {
                    Some(r) => r,
                    None => {
                        let mut r = create(None)?;
                        for job in early.drain(..) {
                            apply(&mut r, job)?;
                        }
                        r
                    }
                };
                let duration = r.recorded(at);
                r.finish(at).map_err(|e| e.to_string())?;
                Ok(Finished {
                    path: path.clone(),
                    duration,
                })
            })();
            let _ = reply.send(result);
            return;
        }
        if failure.is_some() {
            continue;
        }
        if recorder.is_none() {
            match &job {
                Job::Video(_, frame) => {
                    if let Some((width, height)) = keyframe_size(frame) {
                        match create(Some(VideoTrack {
                            name: "shared screen".into(),
                            width,
                            height,
                        })) {
                            Ok(mut r) => {
                                let result = early
                                    .drain(..)
                                    .chain(std::iter::once(job))
                                    .try_for_each(|j| apply(&mut r, j));
                                if let Err(e) = result {
                                    failure = Some(e);
                                }
                                recorder = Some(r);
                            }
                            Err(e) => failure = Some(e),
                        }
                    }
                }
                _ if early.len() < EARLY_VOICE => early.push(job),
                _ => {}
            }
            continue;
        }
        if let Some(r) = recorder.as_mut()
            && let Err(e) = apply(r, job)
        {
            failure = Some(e);
        }
    }
}

/// The picture size of a keyframe, by decoding it (once per recording).
fn keyframe_size(frame: &[u8]) -> Option<(u32, u32)> {
    let nals = tether_media::avc::nal_units(frame);
    if !tether_media::avc::is_keyframe(&nals) {
        return None;
    }
    let picture = H264Decoder::new().ok()?.decode(frame).ok()??;
    Some((picture.width as u32, picture.height as u32))
}
