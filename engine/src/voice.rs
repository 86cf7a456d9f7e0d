//! Voice: once this participant joins audio, its source (a microphone where the embedding
//! program has one, else a file or a tone) is encoded with Opus in 20 ms frames and sent on the
//! voice track of every connection; what others say is decoded and handed to a sink per
//! speaker. Muting stops sending at once; leaving stops both.

use crate::peer::Peer;
use crate::recording::VoiceTap;
use crate::session::EngineEvent;
use crate::threads::MediaThreads;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tether_media::voice::{
    AudioSink, AudioSource, DEFAULT_BITRATE, FRAME_MS, VoiceDecoder, VoiceEncoder,
};
use tether_protocol::ParticipantId;
use tokio::sync::mpsc;

/// Where a speaker's decoded voice goes; the program makes one per speaker.
pub type SinkFactory = Box<dyn Fn(ParticipantId) -> Box<dyn AudioSink + Send> + Send>;

const FRAME: Duration = Duration::from_millis(FRAME_MS as u64);
/// Packets waiting for the network: a second of voice at most.
const PACKET_QUEUE: usize = 50;

#[derive(Default)]
pub(crate) struct Voice {
    joined: Option<Joined>,
}

impl std::fmt::Debug for Voice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Voice")
            .field("joined", &self.joined.is_some())
            .finish()
    }
}

struct Joined {
    muted: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    recipients: Arc<Mutex<Vec<Arc<Peer>>>>,
    /// While the session is recorded here: our own voice goes into the recording too.
    tap: Arc<Mutex<Option<VoiceTap>>>,
    forward: tokio::task::JoinHandle<()>,
    /// Behind a lock only so the session task stays `Sync`; only that task touches it.
    playback: Mutex<Playback>,
}

struct Playback {
    sinks: SinkFactory,
    speakers: HashMap<ParticipantId, (VoiceDecoder, Box<dyn AudioSink + Send>)>,
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.forward.abort();
    }
}

impl Voice {
    /// Join audio: send `source`, play others through `sinks`.
    pub(crate) fn join(
        &mut self,
        source: Box<dyn AudioSource + Send>,
        sinks: SinkFactory,
        peers: Vec<Arc<Peer>>,
        events: mpsc::Sender<EngineEvent>,
        threads: &MediaThreads,
    ) -> Result<(), String> {
        let mut encoder = VoiceEncoder::new(DEFAULT_BITRATE).map_err(|e| e.to_string())?;
        let (muted, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let recipients = Arc::new(Mutex::new(peers));
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(PACKET_QUEUE);
        {
            let (muted, stop) = (muted.clone(), stop.clone());
            threads.spawn("voice", move || {
                let mut source = source;
                let mut next = Instant::now();
                while !stop.load(Ordering::Acquire) {
                    let Some(frame) = source.next_frame() else {
                        let _ = events.try_send(EngineEvent::VoiceSourceEnded);
                        return;
                    };
                    // Muted: the source runs on (a live microphone would), nothing is sent.
                    if !muted.load(Ordering::Acquire) {
                        match encoder.encode(&frame) {
                            Ok(packet) => {
                                if let Err(mpsc::error::TrySendError::Closed(_)) =
                                    tx.try_send(packet)
                                {
                                    return;
                                }
                            }
                            Err(e) => {
                                let _ = events.try_send(EngineEvent::MediaError(format!(
                                    "voice encoder: {e}"
                                )));
                                return;
                            }
                        }
                    }
                    next += FRAME;
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            })?;
        }
        let tap: Arc<Mutex<Option<VoiceTap>>> = Arc::default();
        let forward = {
            let (recipients, tap) = (recipients.clone(), tap.clone());
            tokio::spawn(async move {
                while let Some(packet) = rx.recv().await {
                    let packet = bytes::Bytes::from(packet);
                    let peers = recipients.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    for peer in peers {
                        let _ = peer.write_audio(packet.clone(), FRAME).await;
                    }
                    if let Some(tap) = tap.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                        tap.voice(&packet);
                    }
                }
            })
        };
        self.joined = Some(Joined {
            muted,
            stop,
            recipients,
            tap,
            forward,
            playback: Mutex::new(Playback {
                sinks,
                speakers: HashMap::new(),
            }),
        });
        Ok(())
    }

    pub(crate) fn leave(&mut self) -> bool {
        self.joined.take().is_some()
    }

    pub(crate) fn is_joined(&self) -> bool {
        self.joined.is_some()
    }

    pub(crate) fn set_muted(&self, muted: bool) -> bool {
        match &self.joined {
            Some(j) => {
                j.muted.store(muted, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// The open connections changed: voice goes to all of them.
    pub(crate) fn set_peers(&self, peers: Vec<Arc<Peer>>) {
        if let Some(j) = &self.joined {
            *j.recipients.lock().unwrap_or_else(|p| p.into_inner()) = peers;
        }
    }

    /// Record our own voice through `tap` (None: stop).
    pub(crate) fn set_tap(&self, tap: Option<VoiceTap>) {
        if let Some(j) = &self.joined {
            *j.tap.lock().unwrap_or_else(|p| p.into_inner()) = tap;
        }
    }

    /// An Opus packet from `from`: played only while we are in audio.
    pub(crate) fn heard(&mut self, from: ParticipantId, packet: &[u8]) -> Result<(), String> {
        let Some(j) = &mut self.joined else {
            return Ok(());
        };
        let playback = j.playback.get_mut().unwrap_or_else(|p| p.into_inner());
        if !playback.speakers.contains_key(&from) {
            let decoder = VoiceDecoder::new().map_err(|e| e.to_string())?;
            let sink = (playback.sinks)(from);
            playback.speakers.insert(from, (decoder, sink));
        }
        let Some((decoder, sink)) = playback.speakers.get_mut(&from) else {
            return Ok(());
        };
        let samples = decoder.decode(packet).map_err(|e| e.to_string())?;
        sink.play(&samples);
        Ok(())
    }

    pub(crate) fn forget(&mut self, from: ParticipantId) {
        if let Some(j) = &mut self.joined {
            j.playback
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .speakers
                .remove(&from);
        }
    }
}
