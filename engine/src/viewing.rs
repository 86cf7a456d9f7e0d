//! Screens that reach this endpoint: one decoder thread per sharing participant turns the H.264
//! frames of its screen track into pictures for the embedding program.

use crate::peer::Peer;
use crate::session::EngineEvent;
use crate::threads::MediaThreads;
use std::collections::HashMap;
use std::sync::Arc;
use tether_media::decode::H264Decoder;
use tether_media::frame::I420;
use tether_protocol::ParticipantId;
use tokio::sync::mpsc;

/// A decoded picture of a participant's shared screen (planar YUV 4:2:0; `to_rgba` converts).
#[derive(Clone, PartialEq, Eq)]
pub struct Picture(pub Arc<I420>);

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Picture({}x{})", self.0.width, self.0.height)
    }
}

/// Frames waiting for a decoder; when it falls behind, frames are dropped (and a keyframe is
/// asked for by the assembler's loss handling on the next gap) rather than queued without end.
const DECODE_QUEUE: usize = 8;

/// The decoders, by sharing participant.
#[derive(Debug, Default)]
pub(crate) struct Viewing {
    /// Camera pictures (else shared screens).
    pub(crate) camera: bool,
    decoders: HashMap<ParticipantId, std::sync::mpsc::SyncSender<Vec<u8>>>,
}

impl Viewing {
    /// Decoders of camera pictures (`EngineEvent::Camera`) rather than screens.
    pub(crate) fn cameras() -> Viewing {
        Viewing {
            camera: true,
            ..Default::default()
        }
    }

    /// A frame from `from`'s screen track.
    /// A frame from `from`'s screen track; `peer` is asked for a keyframe if one cannot be
    /// decoded.
    pub(crate) fn frame(
        &mut self,
        from: ParticipantId,
        frame: Vec<u8>,
        peer: Option<Arc<Peer>>,
        events: &mpsc::Sender<EngineEvent>,
        threads: &MediaThreads,
    ) {
        let camera = self.camera;
        let tx = self
            .decoders
            .entry(from)
            .or_insert_with(|| spawn(from, camera, peer, events.clone(), threads));
        if let Err(std::sync::mpsc::TrySendError::Disconnected(_)) = tx.try_send(frame) {
            self.decoders.remove(&from);
        }
    }

    /// `from` left or its connection closed: its decoder ends.
    pub(crate) fn forget(&mut self, from: ParticipantId) {
        self.decoders.remove(&from);
    }

    pub(crate) fn clear(&mut self) {
        self.decoders.clear();
    }
}

fn spawn(
    from: ParticipantId,
    camera: bool,
    peer: Option<Arc<Peer>>,
    events: mpsc::Sender<EngineEvent>,
    threads: &MediaThreads,
) -> std::sync::mpsc::SyncSender<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(DECODE_QUEUE);
    let report = events.clone();
    let spawned = threads.spawn("decode", move || {
        let mut decoder = match H264Decoder::new() {
            Ok(d) => d,
            Err(e) => {
                let _ = events.try_send(EngineEvent::MediaError(format!("video decoder: {e}")));
                return;
            }
        };
        while let Ok(frame) = rx.recv() {
            match decoder.decode(&frame) {
                Ok(Some(picture)) => {
                    let picture = Picture(Arc::new(picture));
                    let event = if camera {
                        EngineEvent::Camera { from, picture }
                    } else {
                        EngineEvent::Screen { from, picture }
                    };
                    // Every frame is decoded (the next ones refer to it); a picture the program
                    // is too busy to take is dropped.
                    if let Err(mpsc::error::TrySendError::Closed(_)) = events.try_send(event) {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    // A fresh start for the picture.
                    if let Some(peer) = &peer {
                        peer.request_keyframe();
                    }
                    let _ = events.try_send(EngineEvent::PeerError {
                        peer: from,
                        message: format!("undecodable screen frame: {e}"),
                    });
                }
            }
        }
    });
    if let Err(e) = spawned {
        let _ = report.try_send(EngineEvent::MediaError(e));
    }
    tx
}
