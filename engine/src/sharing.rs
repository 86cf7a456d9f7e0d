//! Screen sharing from this endpoint: which screen goes to whom (a customer's monitor or chosen
//! window to the CSRs while they view or control it under this machine's own consent; a CSR's
//! own screen to everyone while it shares), and the capture-and-encode thread that feeds the
//! peers' screen tracks.

use crate::peer::Peer;
use crate::session::{EngineConfig, EngineEvent};
use crate::threads::MediaThreads;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tether_media::encode::{EncodedFrame, EncoderSettings};
use tether_media::screen::{ScreenEncoder, ScreenSettings, Source};
use tether_protocol::{Activity, Capability, ParticipantId, Role, Roster};
use tokio::sync::mpsc;

/// What should be shared now, and with whom.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    pub source: Source,
    pub to: Vec<ParticipantId>,
    /// The bitrate cap of the stream.
    pub bitrate: u32,
}

/// Decide from the roster and this user's consents. Pure: the rules in one place.
pub(crate) fn plan(
    me: ParticipantId,
    roster: &Roster,
    consents: &std::collections::HashSet<Capability>,
    config: &EngineConfig,
) -> Result<Option<Plan>, String> {
    let others = |only_csrs: bool| -> Vec<ParticipantId> {
        roster
            .participants
            .iter()
            .filter(|p| p.id != me)
            .filter(|p| !only_csrs || matches!(p.role, Role::Controller | Role::Csr))
            .map(|p| p.id)
            .collect()
    };
    let window = || {
        config
            .application
            .clone()
            .map(Source::Window)
            .ok_or_else(|| "no application was chosen to share on this computer".to_owned())
    };
    // Our own sharing as a CSR.
    for a in roster.activities.iter().filter(|a| a.actor == me) {
        match a.activity {
            Activity::ShareDesktop => {
                return Ok(Some(Plan {
                    source: Source::Display(config.monitor),
                    to: others(false),
                    bitrate: config.screen_bitrate,
                }));
            }
            Activity::ShareApplication => {
                return Ok(Some(Plan {
                    source: window()?,
                    to: others(false),
                    bitrate: config.screen_bitrate,
                }));
            }
            _ => {}
        }
    }
    // A CSR views or controls this machine: only under this user's own consent (rule 12).
    let aimed_here = |a: &&tether_protocol::RunningActivity| {
        a.target.map_or(roster.primary == Some(me), |t| t == me)
    };
    let allowed =
        consents.contains(&Capability::RemoteView) || consents.contains(&Capability::RemoteControl);
    let mut source = None;
    for a in roster.activities.iter().filter(aimed_here) {
        match a.activity {
            Activity::ViewApplication | Activity::ControlApplication => source = Some(window()?),
            Activity::ViewDesktop | Activity::ControlDesktop if source.is_none() => {
                source = Some(Source::Display(config.monitor))
            }
            _ => {}
        }
    }
    match source {
        Some(source) if allowed => Ok(Some(Plan {
            source,
            to: others(true),
            bitrate: config.screen_bitrate,
        })),
        _ => Ok(None),
    }
}

/// The sharing under way, if any.
#[derive(Debug, Default)]
pub(crate) struct Sharing {
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    source: Source,
    recipients: Arc<Mutex<Vec<Arc<Peer>>>>,
    stop: Arc<AtomicBool>,
    keyframe: Arc<AtomicBool>,
    forward: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.forward.abort();
    }
}

/// Frames waiting between the encoder thread and the peers; a full queue drops a frame and asks
/// for a keyframe, so a slow network never grows memory.
const FRAME_QUEUE: usize = 4;

impl Sharing {
    /// Start, change or stop sharing to match `plan`; `peers` are the open connections by
    /// participant. Tells the local program when sharing starts or stops.
    pub(crate) fn apply(
        &mut self,
        plan: Option<Plan>,
        peers: Vec<(ParticipantId, Arc<Peer>)>,
        events: &mpsc::Sender<EngineEvent>,
        threads: &MediaThreads,
    ) {
        let Some(plan) = plan else {
            if self.running.take().is_some() {
                let _ = events.try_send(EngineEvent::Sharing {
                    to: Vec::new(),
                    source: None,
                });
            }
            return;
        };
        let recipients: Vec<Arc<Peer>> = peers
            .iter()
            .filter(|(id, _)| plan.to.contains(id))
            .map(|(_, p)| p.clone())
            .collect();
        let to: Vec<ParticipantId> = peers
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| plan.to.contains(id))
            .collect();
        if let Some(running) = &self.running
            && running.source == plan.source
        {
            let mut now = running.recipients.lock().unwrap_or_else(|p| p.into_inner());
            let added = recipients
                .iter()
                .any(|p| !now.iter().any(|q| Arc::ptr_eq(p, q)));
            *now = recipients;
            if added {
                // A new viewer needs a keyframe to start from.
                running.keyframe.store(true, Ordering::Release);
            }
            return;
        }
        let settings = ScreenSettings {
            encoder: EncoderSettings {
                bitrate: plan.bitrate,
                ..EncoderSettings::default()
            },
            ..ScreenSettings::default()
        };
        self.running = Some(start(
            plan.source.clone(),
            settings,
            recipients,
            events.clone(),
            threads,
        ));
        let _ = events.try_send(EngineEvent::Sharing {
            to,
            source: Some(format!("{:?}", plan.source)),
        });
    }

    /// A viewer asked for a keyframe (PLI/FIR).
    pub(crate) fn request_keyframe(&self) {
        if let Some(r) = &self.running {
            r.keyframe.store(true, Ordering::Release);
        }
    }

    pub(crate) fn stop(&mut self) {
        self.running = None;
    }
}

fn start(
    source: Source,
    settings: ScreenSettings,
    recipients: Vec<Arc<Peer>>,
    events: mpsc::Sender<EngineEvent>,
    threads: &MediaThreads,
) -> Running {
    let stop = Arc::new(AtomicBool::new(false));
    let keyframe = Arc::new(AtomicBool::new(true));
    let recipients = Arc::new(Mutex::new(recipients));
    let (tx, mut rx) = mpsc::channel::<EncodedFrame>(FRAME_QUEUE);
    {
        let (source, stop, keyframe, events) = (
            source.clone(),
            stop.clone(),
            keyframe.clone(),
            events.clone(),
        );
        // The capturer is not Send: it lives and dies on this thread.
        let report = events.clone();
        let work = move || encode_loop(&source, settings, &stop, &keyframe, &tx, &events);
        if let Err(e) = threads.spawn("screen", work) {
            let _ = report.try_send(EngineEvent::MediaError(e));
        }
    }
    let forward = {
        let recipients = recipients.clone();
        tokio::spawn(async move {
            let mut last = Instant::now();
            while let Some(frame) = rx.recv().await {
                let duration = last.elapsed().max(Duration::from_millis(1));
                last = Instant::now();
                let data = bytes::Bytes::from(frame.data);
                let peers = recipients.lock().unwrap_or_else(|p| p.into_inner()).clone();
                for peer in peers {
                    // A viewer whose connection is going away just misses the frame.
                    let _ = peer.write_video(data.clone(), duration).await;
                }
            }
        })
    };
    Running {
        source,
        recipients,
        stop,
        keyframe,
        forward,
    }
}

fn encode_loop(
    source: &Source,
    settings: ScreenSettings,
    stop: &AtomicBool,
    keyframe: &AtomicBool,
    tx: &mpsc::Sender<EncodedFrame>,
    events: &mpsc::Sender<EngineEvent>,
) {
    let mut encoder = match ScreenEncoder::new(source, settings) {
        Ok(e) => e,
        Err(e) => {
            let _ = events.try_send(EngineEvent::MediaError(format!(
                "screen sharing could not start: {e}"
            )));
            return;
        }
    };
    while !stop.load(Ordering::Acquire) && !tx.is_closed() {
        let force = keyframe.swap(false, Ordering::AcqRel);
        match encoder.next(force) {
            Ok(Some(frame)) => {
                if tx.try_send(frame).is_err() {
                    // Dropped: the next frame must not depend on it.
                    keyframe.store(true, Ordering::Release);
                }
            }
            Ok(None) => {}
            Err(e) => {
                let _ = events.try_send(EngineEvent::MediaError(format!(
                    "screen sharing stopped: {e}"
                )));
                return;
            }
        }
    }
}
