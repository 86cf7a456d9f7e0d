//! A participant's camera: pictures the embedding program gives are encoded with OpenH264 and
//! sent on every connection's camera track while the participant's `video` activity runs
//! (which the service allows only once a customer has joined).

use crate::peer::Peer;
use crate::session::EngineEvent;
use crate::threads::MediaThreads;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tether_media::encode::{EncodedFrame, EncoderSettings, H264Encoder};
use tether_media::frame::I420;
use tokio::sync::mpsc;

/// Where camera pictures come from: called about 30 times a second; `None` ends the camera.
pub type CameraSource = Box<dyn FnMut() -> Option<I420> + Send>;

const FRAME: Duration = Duration::from_millis(33);
/// A keyframe this often, so someone who joins sees the camera within two seconds.
const KEYFRAME_EVERY: u64 = 60;
const FRAME_QUEUE: usize = 4;

#[derive(Default)]
pub(crate) struct Camera {
    /// Given by the program, waiting for the video activity (behind a lock only so the
    /// session task stays `Sync`).
    source: Mutex<Option<CameraSource>>,
    running: Option<Running>,
}

impl std::fmt::Debug for Camera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Camera")
            .field(
                "ready",
                &self.source.lock().map(|s| s.is_some()).unwrap_or(false),
            )
            .field("running", &self.running.is_some())
            .finish()
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    recipients: Arc<Mutex<Vec<Arc<Peer>>>>,
    forward: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.forward.abort();
    }
}

impl Camera {
    /// The program's camera; it starts sending once the video activity runs.
    pub(crate) fn set_source(&mut self, source: CameraSource) {
        self.running = None;
        *self.source.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(source);
    }

    /// Start or stop to match whether our video activity runs; send to `peers`.
    pub(crate) fn update(
        &mut self,
        active: bool,
        peers: Vec<Arc<Peer>>,
        events: &mpsc::Sender<EngineEvent>,
        threads: &MediaThreads,
    ) {
        if !active {
            self.running = None;
            return;
        }
        if let Some(running) = &self.running {
            *running.recipients.lock().unwrap_or_else(|p| p.into_inner()) = peers;
            return;
        }
        let waiting = self.source.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(source) = waiting.take() {
            self.running = Some(start(source, peers, events.clone(), threads));
        }
    }

    pub(crate) fn stop(&mut self) {
        self.running = None;
        *self.source.get_mut().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

fn start(
    mut source: CameraSource,
    peers: Vec<Arc<Peer>>,
    events: mpsc::Sender<EngineEvent>,
    threads: &MediaThreads,
) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let recipients = Arc::new(Mutex::new(peers));
    let (tx, mut rx) = mpsc::channel::<EncodedFrame>(FRAME_QUEUE);
    {
        let stop = stop.clone();
        let report = events.clone();
        let spawned = threads.spawn("camera", move || {
            let mut encoder = match H264Encoder::new(EncoderSettings::default()) {
                Ok(e) => e,
                Err(e) => {
                    let _ = events.try_send(EngineEvent::MediaError(format!("camera: {e}")));
                    return;
                }
            };
            let started = Instant::now();
            let mut next = started;
            let mut count: u64 = 0;
            while !stop.load(Ordering::Acquire) {
                let Some(picture) = source() else { return };
                if count.is_multiple_of(KEYFRAME_EVERY) {
                    encoder.request_keyframe();
                }
                count += 1;
                match encoder.encode(&picture, started.elapsed().as_millis() as u64) {
                    Ok(Some(frame)) => {
                        if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(frame) {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let _ = events.try_send(EngineEvent::MediaError(format!("camera: {e}")));
                        return;
                    }
                }
                next += FRAME;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        });
        if let Err(e) = spawned {
            let _ = report.try_send(EngineEvent::MediaError(e));
        }
    }
    let forward = {
        let recipients = recipients.clone();
        tokio::spawn(async move {
            while let Some(frame) = rx.recv().await {
                let data = bytes::Bytes::from(frame.data);
                let peers = recipients.lock().unwrap_or_else(|p| p.into_inner()).clone();
                for peer in peers {
                    let _ = peer.write_camera(data.clone(), FRAME).await;
                }
            }
        })
    };
    Running {
        stop,
        recipients,
        forward,
    }
}
