//! A participant in a session: the signaling connection plus one peer connection to every other
//! participant (a mesh), chat over the peers' control channels, and events for the embedding
//! program. One task owns all of it; `Engine` is the cheap, cloneable handle.

use crate::control::{Control, Injected};
use crate::error::EngineError;
use crate::peer::{IceServer, Peer, PeerEvent};
use crate::service::{Seat, ServiceUrl};
use crate::signaling::{Signaling, SignalingEvent, Welcome};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tether_protocol::{
    Capability, ChatRecord, Command, EndReason, Event, InputEvent, MAX_CHAT_CHARS,
    MAX_RECORDED_CHAT_LINES, Millis, ParticipantId, PeerMessage, Roster, SystemInfo,
    chat_recipients, check_text,
};
use tokio::sync::{mpsc, oneshot};

#[path = "connections.rs"]
mod connections;
#[path = "transfer.rs"]
mod transfer;
pub use transfer::TransferDone;

const EVENT_QUEUE: usize = 256;
/// A `record_chat` batch stays well under the signaling message limit (64 KiB; chat text can
/// grow by up to 6x when escaped as JSON).
const RECORD_BATCH_BYTES: usize = 8 * 1024;
/// How long a request to a peer waits for its answer.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// How the engine sets up its peer connections.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Local UDP addresses to bind (`0.0.0.0:0` by default; tests use `127.0.0.1:0`).
    pub bind: Vec<String>,
    /// The folder this participant chose for file transfer: received files are written only
    /// here, and a customer's files are fetched only from here. None: no file transfer.
    pub files_dir: Option<std::path::PathBuf>,
    /// The X display shared and controlled on this machine (None: the `DISPLAY` variable).
    pub x_display: Option<String>,
    /// The monitor shared for desktop view and control, by its index in the display's list.
    pub monitor: usize,
    /// The application window this participant chose to share for application view and
    /// control (None: application sharing is refused).
    pub application: Option<tether_media::capture::WindowChoice>,
    /// The most bits per second our shared screen may use (the encoder's rate control keeps
    /// under it).
    pub screen_bitrate: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bind: vec!["0.0.0.0:0".into()],
            files_dir: None,
            x_display: None,
            monitor: 0,
            application: None,
            screen_bitrate: 2_500_000,
        }
    }
}

/// One chat line as the transcript keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatLine {
    pub id: u64,
    pub from: ParticipantId,
    /// Empty: everyone.
    pub to: Vec<ParticipantId>,
    pub text: String,
    pub sent_at: Millis,
}

/// What the embedding program sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    Roster(Roster),
    Session(Event),
    Refused {
        code: String,
        message: String,
    },
    PeerOpen(ParticipantId),
    PeerClosed(ParticipantId),
    Chat(ChatLine),
    /// A peer misbehaved or its connection failed; the session goes on.
    PeerError {
        peer: ParticipantId,
        message: String,
    },
    /// This endpoint started sharing its screen (`source`) with `to`, or stopped (`source` None).
    /// A customer's program shows this: its screen is seen while it is.
    Sharing {
        to: Vec<ParticipantId>,
        source: Option<String>,
    },
    /// A picture of `from`'s shared screen, decoded.
    Screen {
        from: ParticipantId,
        picture: crate::viewing::Picture,
    },
    /// A picture of `from`'s camera, decoded.
    Camera {
        from: ParticipantId,
        picture: crate::viewing::Picture,
    },
    /// Capture, encoding or decoding failed, in words.
    MediaError(String),
    /// This engine started recording the session (the controller's, after the customer's
    /// consent), or paused or resumed it.
    Recording {
        paused: bool,
    },
    /// The recording was finished and attached to the session record by the service.
    RecordingSaved {
        bytes: u64,
        duration_ms: u64,
    },
    /// `from` asks this participant's user to join the voice call (`join_audio` to accept).
    AudioInvited {
        from: ParticipantId,
    },
    /// Our voice source has no more sound (a file or a tone of fixed length ended).
    VoiceSourceEnded,
    /// Input events from `from` are not injected into this machine, and why (told once until
    /// the reason changes or injection works again).
    InputRefused {
        from: ParticipantId,
        reason: String,
    },
    Ended {
        reason: EndReason,
        notes: String,
    },
    /// A CSR wants to send a file to this customer (`incoming`) or fetch one from its folder;
    /// answer with `Engine::approve_transfer`.
    TransferRequest {
        id: u64,
        from: ParticipantId,
        name: String,
        size: u64,
        incoming: bool,
    },
    TransferProgress {
        id: u64,
        bytes: u64,
        total: u64,
    },
    /// A transfer broken with its peer connection goes on over the new one from `offset`, the
    /// bytes the receiver had written (the last confirmed offset).
    TransferResumed {
        id: u64,
        offset: u64,
        total: u64,
    },
    TransferFinished {
        id: u64,
        name: String,
        ok: bool,
    },
    /// A CSR's published files (basic mode): download one with `Engine::download`.
    FilesPublished {
        from: ParticipantId,
        files: Vec<tether_protocol::PublishedFile>,
    },
    Closed {
        reason: String,
    },
}

enum Cmd {
    JoinAudio {
        source: Box<dyn tether_media::voice::AudioSource + Send>,
        sinks: crate::voice::SinkFactory,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    LeaveAudio(oneshot::Sender<Result<(), EngineError>>),
    AudioInvite {
        to: Vec<ParticipantId>,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    Mute {
        muted: bool,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    Camera {
        source: crate::camera::CameraSource,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    PauseRecording {
        paused: bool,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    Chat {
        to: Vec<ParticipantId>,
        text: String,
        reply: oneshot::Sender<Result<ChatLine, EngineError>>,
    },
    Command(Command),
    Transcript(oneshot::Sender<Vec<ChatLine>>),
    Input {
        to: ParticipantId,
        event: InputEvent,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    Raw {
        to: ParticipantId,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    AnswerConsent {
        capability: Capability,
        granted: bool,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    RevokeConsent {
        capability: Capability,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    SystemInfo {
        from: ParticipantId,
        reply: oneshot::Sender<Result<SystemInfo, EngineError>>,
    },
    End {
        notes: String,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    SendFile {
        to: ParticipantId,
        path: std::path::PathBuf,
        reply: transfer::Reply,
    },
    FetchFile {
        from: ParticipantId,
        name: String,
        reply: transfer::Reply,
    },
    Publish {
        path: std::path::PathBuf,
        reply: oneshot::Sender<Result<tether_protocol::PublishedFile, EngineError>>,
    },
    Download {
        from: ParticipantId,
        id: u64,
        reply: transfer::Reply,
    },
    ApproveTransfer {
        from: ParticipantId,
        id: u64,
        allow: bool,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
    BreakConnection {
        peer: ParticipantId,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
}

/// A cheap, cloneable handle on a joined participant.
#[derive(Debug, Clone)]
pub struct Engine {
    tx: mpsc::Sender<Cmd>,
    welcome: Arc<Welcome>,
    peers: Arc<AtomicUsize>,
    media_threads: Arc<AtomicUsize>,
}

fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

impl Engine {
    /// Connect a seat (from starting or joining a session) and run its mesh.
    pub async fn connect(
        url: &ServiceUrl,
        seat: &Seat,
        config: EngineConfig,
    ) -> Result<(Engine, mpsc::Receiver<EngineEvent>), EngineError> {
        let ice = url.ice_servers(seat).await?;
        let ice_servers = ice
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| IceServer {
                urls: s["urls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|u| u.as_str().map(str::to_owned))
                    .collect(),
                username: s["username"].as_str().unwrap_or_default().to_owned(),
                credential: s["credential"].as_str().unwrap_or_default().to_owned(),
            })
            .collect();
        let (signaling, welcome, signals) = Signaling::connect(url, &seat.token).await?;
        let (tx, commands) = mpsc::channel(64);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let (peer_tx, peer_events) = mpsc::channel(EVENT_QUEUE);
        let (notes_tx, notes) = mpsc::channel(EVENT_QUEUE);
        let peers = Arc::new(AtomicUsize::new(0));
        let threads = crate::threads::MediaThreads::default();
        let media_threads = threads.shared();
        let mesh = Mesh {
            me: welcome.you,
            signaling,
            ice_servers,
            config,
            peers: HashMap::new(),
            present: Vec::new(),
            transcript: Vec::new(),
            next_chat: 1,
            events: events_tx,
            peer_tx,
            next_generation: 1,
            notes_tx,
            ended: false,
            peer_count: peers.clone(),
            roster: welcome.roster.clone(),
            consents: HashSet::new(),
            asked: HashSet::new(),
            pending: HashMap::new(),
            next_request: 1,
            transfers: transfer::Transfers::default(),
            control: Control::default(),
            sharing: Default::default(),
            viewing: Default::default(),
            cameras: crate::viewing::Viewing::cameras(),
            camera: Default::default(),
            threads: threads.clone(),
            voice: Default::default(),
            recording: None,
            service: url.clone(),
            token: seat.token.clone(),
            session_id: seat.session_id.clone(),
            share_problem: None,
        };
        let first = welcome.roster.clone();
        tokio::spawn(mesh.run(first, signals, commands, peer_events, notes));
        Ok((
            Engine {
                tx,
                welcome: Arc::new(welcome),
                peers,
                media_threads,
            },
            events,
        ))
    }

    /// Send a command to the session task and wait for its answer.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, EngineError>>) -> Cmd,
    ) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(command(reply))
            .await
            .map_err(|_| EngineError::Closed)?;
        rx.await.map_err(|_| EngineError::Closed)?
    }

    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    pub fn me(&self) -> ParticipantId {
        self.welcome.you
    }

    /// Media threads running (screen capture and encoding, decoders, voice, recording,
    /// camera); all end with the session.
    pub fn media_threads(&self) -> usize {
        self.media_threads.load(Ordering::Acquire)
    }

    /// Peer connections currently held.
    pub fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Acquire)
    }

    /// Send a chat line to `to` (empty: everyone present); returns the line as recorded.
    pub async fn chat(&self, to: &[ParticipantId], text: &str) -> Result<ChatLine, EngineError> {
        self.ask(|reply| Cmd::Chat {
            to: to.to_vec(),
            text: text.to_owned(),
            reply,
        })
        .await
    }

    /// A session command through the service (make primary, transfer control, leave, end...).
    pub async fn command(&self, command: Command) -> Result<(), EngineError> {
        self.tx
            .send(Cmd::Command(command))
            .await
            .map_err(|_| EngineError::Closed)
    }

    /// Every chat line this participant sent or received, in order.
    pub async fn transcript(&self) -> Result<Vec<ChatLine>, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Transcript(reply))
            .await
            .map_err(|_| EngineError::Closed)?;
        rx.await.map_err(|_| EngineError::Closed)
    }

    /// Send a local file to a customer, who approves it (advanced file transfer: start the
    /// `file_transfer_advanced` activity first). Resolves when the customer has checked it.
    pub async fn send_file(
        &self,
        to: ParticipantId,
        path: impl Into<std::path::PathBuf>,
    ) -> Result<TransferDone, EngineError> {
        self.ask(|reply| Cmd::SendFile {
            to,
            path: path.into(),
            reply,
        })
        .await
    }

    /// Fetch a file from a customer's chosen folder into ours, after the customer approves.
    pub async fn fetch_file(
        &self,
        from: ParticipantId,
        name: &str,
    ) -> Result<TransferDone, EngineError> {
        self.ask(|reply| Cmd::FetchFile {
            from,
            name: name.to_owned(),
            reply,
        })
        .await
    }

    /// Basic file transfer, CSR: publish a local file for the customers to download (start the
    /// `file_transfer_basic` activity first).
    pub async fn publish(
        &self,
        path: impl Into<std::path::PathBuf>,
    ) -> Result<tether_protocol::PublishedFile, EngineError> {
        self.ask(|reply| Cmd::Publish {
            path: path.into(),
            reply,
        })
        .await
    }

    /// Basic file transfer, customer: download published file `id` from CSR `from` into this
    /// participant's folder.
    pub async fn download(
        &self,
        from: ParticipantId,
        id: u64,
    ) -> Result<TransferDone, EngineError> {
        self.ask(|reply| Cmd::Download { from, id, reply }).await
    }

    /// The local user answers a `TransferRequest`.
    pub async fn approve_transfer(
        &self,
        from: ParticipantId,
        id: u64,
        allow: bool,
    ) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::ApproveTransfer {
            from,
            id,
            allow,
            reply,
        })
        .await
    }

    /// End the session with notes (the controller only): first attach this participant's chat
    /// transcript to the session record, then end.
    pub async fn end(&self, notes: &str) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::End {
            notes: notes.to_owned(),
            reply,
        })
        .await
    }

    /// The local user answers a consent request it was shown (customers only). The answer is
    /// enforced here, by this endpoint, and recorded by the service.
    pub async fn answer_consent(
        &self,
        capability: Capability,
        granted: bool,
    ) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::AnswerConsent {
            capability,
            granted,
            reply,
        })
        .await
    }

    /// The local user takes a consent back. It stops applying at once, here, whatever the
    /// service says; the service records it.
    pub async fn revoke_consent(&self, capability: Capability) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::RevokeConsent { capability, reply })
            .await
    }

    /// Ask a customer's endpoint for its system information (it answers only under its user's
    /// consent). Ask for the consent first with `Command::RequestConsent`.
    pub async fn request_system_info(
        &self,
        from: ParticipantId,
    ) -> Result<SystemInfo, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::SystemInfo { from, reply })
            .await
            .map_err(|_| EngineError::Closed)?;
        tokio::time::timeout(REQUEST_TIMEOUT, rx)
            .await
            .map_err(|_| EngineError::Invalid("no answer to the request within 15 s".into()))?
            .map_err(|_| EngineError::Closed)?
    }

    /// Tear down the peer connection to `peer` abruptly, as a network failure would, and let
    /// the engine recover (a new connection; broken transfers resume). For fault tests and
    /// for a program's "reconnect" button.
    pub async fn break_connection(&self, peer: ParticipantId) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::BreakConnection { peer, reply }).await
    }

    /// Send raw bytes to one peer's control channel, bypassing the encoder: for tests that play
    /// a misbehaving peer.
    /// Join audio: `source` is sent to everyone in 20 ms Opus frames (a microphone where the
    /// program has one; else a file or a tone), and each speaker's voice is played through the
    /// sink `sinks` makes for it.
    pub async fn join_audio(
        &self,
        source: Box<dyn tether_media::voice::AudioSource + Send>,
        sinks: crate::voice::SinkFactory,
    ) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::JoinAudio {
            source,
            sinks,
            reply,
        })
        .await
    }

    /// Ask `to` (everyone when empty) to join the voice call; each user answers on their side.
    pub async fn invite_to_audio(&self, to: &[ParticipantId]) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::AudioInvite {
            to: to.to_vec(),
            reply,
        })
        .await
    }

    /// Leave audio: nothing more is sent or played.
    pub async fn leave_audio(&self) -> Result<(), EngineError> {
        self.ask(Cmd::LeaveAudio).await
    }

    /// Give the engine a camera. Its pictures are sent to everyone while this participant's
    /// `video` activity runs (start it with `Command::StartActivity`; the service refuses it
    /// before a customer has joined). Once the activity stops, give the camera again to restart.
    pub async fn set_camera(&self, source: crate::camera::CameraSource) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::Camera { source, reply }).await
    }

    /// Pause the recording this engine makes (paused time is left out of the file) or resume.
    pub async fn pause_recording(&self, paused: bool) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::PauseRecording { paused, reply })
            .await
    }

    /// Mute (nothing of our voice is sent) or unmute.
    pub async fn set_muted(&self, muted: bool) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::Mute { muted, reply }).await
    }

    /// Send a remote-control input event to `to` (the customer whose machine we control). The
    /// customer's endpoint injects it only while its user allows control and our control
    /// activity runs; otherwise it tells its own program (`EngineEvent::InputRefused`).
    pub async fn send_input(
        &self,
        to: ParticipantId,
        event: InputEvent,
    ) -> Result<(), EngineError> {
        event.validate().map_err(EngineError::Invalid)?;
        self.ask(|reply| Cmd::Input { to, event, reply }).await
    }

    pub async fn send_raw(&self, to: ParticipantId, bytes: Vec<u8>) -> Result<(), EngineError> {
        self.ask(|reply| Cmd::Raw { to, bytes, reply }).await
    }
}

struct PeerSlot {
    peer: Arc<Peer>,
    open: bool,
    /// Which connection to this participant it is: events of a replaced one are ignored.
    generation: u64,
}

struct Mesh {
    me: ParticipantId,
    signaling: Signaling,
    ice_servers: Vec<IceServer>,
    config: EngineConfig,
    peers: HashMap<ParticipantId, PeerSlot>,
    present: Vec<ParticipantId>,
    transcript: Vec<ChatLine>,
    next_chat: u64,
    events: mpsc::Sender<EngineEvent>,
    peer_tx: mpsc::Sender<(ParticipantId, u64, PeerEvent)>,
    next_generation: u64,
    /// Transfer tasks report back here.
    notes_tx: mpsc::Sender<transfer::Note>,
    /// The session ended for us: no more connections.
    ended: bool,
    peer_count: Arc<AtomicUsize>,
    /// The latest roster (who is a CSR, who is connected).
    roster: Roster,
    /// Consents this endpoint's own user gave. Only the local user's calls change it; nothing
    /// from the service or a peer does (rule 12).
    consents: HashSet<Capability>,
    /// Consent requests shown to the local user and not answered yet.
    asked: HashSet<Capability>,
    /// Our requests to peers awaiting an answer, by request id.
    pending: HashMap<
        u64,
        (
            ParticipantId,
            oneshot::Sender<Result<SystemInfo, EngineError>>,
        ),
    >,
    next_request: u64,
    transfers: transfer::Transfers,
    /// Remote control of this machine (customer side).
    control: Control,
    /// Our screen going out, and the screens coming in.
    sharing: crate::sharing::Sharing,
    viewing: crate::viewing::Viewing,
    cameras: crate::viewing::Viewing,
    camera: crate::camera::Camera,
    /// The media threads of this engine, counted.
    threads: crate::threads::MediaThreads,
    voice: crate::voice::Voice,
    recording: Option<crate::recording::Recording>,
    /// For uploading a finished recording as this participant.
    service: ServiceUrl,
    token: String,
    session_id: String,
    /// The last reason sharing could not be planned, told once.
    share_problem: Option<String>,
}

impl Mesh {
    async fn run(
        mut self,
        first: Roster,
        mut signals: mpsc::Receiver<SignalingEvent>,
        mut commands: mpsc::Receiver<Cmd>,
        mut peer_events: mpsc::Receiver<(ParticipantId, u64, PeerEvent)>,
        mut notes: mpsc::Receiver<transfer::Note>,
    ) {
        self.reconcile(&first).await;
        loop {
            tokio::select! {
                s = signals.recv() => match s {
                    Some(event) => if !self.on_signaling(event).await { break },
                    None => break,
                },
                Some((from, generation, event)) = peer_events.recv() => {
                    if self.peers.get(&from).is_some_and(|s| s.generation == generation) {
                        self.on_peer(from, event).await;
                    } else if let PeerEvent::FileChannel { stream, .. } = event {
                        stream.close().await; // of a connection already replaced
                    }
                }
                Some(note) = notes.recv() => self.on_transfer_note(note).await,
                c = commands.recv() => match c {
                    Some(cmd) => self.on_command(cmd).await,
                    None => break, // every handle dropped
                },
            }
        }
        self.close_all().await;
    }

    /// Events the user must answer are never dropped: wait for room in the queue.
    async fn emit_waiting(&self, event: EngineEvent) {
        let _ = self.events.send(event).await;
    }

    fn emit(&self, event: EngineEvent) {
        // A program that stops reading loses events rather than stalling the mesh.
        let _ = self.events.try_send(event);
    }

    fn set_count(&self) {
        self.peer_count.store(self.peers.len(), Ordering::Release);
    }

    /// Returns false when the session is over for us.
    async fn on_signaling(&mut self, event: SignalingEvent) -> bool {
        match event {
            SignalingEvent::Roster(roster) => {
                self.reconcile(&roster).await;
                self.control.roster_changed(&roster);
                self.emit(EngineEvent::Roster(roster));
                self.update_sharing();
                self.update_recording();
            }
            SignalingEvent::Event(e) => {
                if let Event::ConsentRequested {
                    customer,
                    capability,
                    ..
                } = &e
                    && *customer == self.me
                {
                    self.asked.insert(*capability);
                }
                self.emit(EngineEvent::Session(e));
            }
            SignalingEvent::Signal { from, data } => self.on_signal(from, data).await,
            SignalingEvent::Refused { code, message, .. } => {
                self.emit(EngineEvent::Refused { code, message })
            }
            SignalingEvent::Ended { reason, notes } => {
                self.ended = true;
                self.consents.clear();
                self.control.stop();
                self.sharing.stop();
                self.viewing.clear();
                self.cameras.clear();
                self.camera.stop();
                self.voice.leave();
                self.close_all().await;
                self.emit(EngineEvent::Ended { reason, notes });
            }
            SignalingEvent::Closed { reason, .. } => {
                self.ended = true;
                self.control.stop();
                self.sharing.stop();
                self.viewing.clear();
                self.cameras.clear();
                self.camera.stop();
                self.voice.leave();
                self.close_all().await;
                self.emit(EngineEvent::Closed { reason });
                return false;
            }
        }
        true
    }

    async fn on_peer(&mut self, from: ParticipantId, event: PeerEvent) {
        match event {
            PeerEvent::Signal(data) => {
                let _ = self.signaling.signal(from, data).await;
            }
            PeerEvent::Open => {
                if let Some(slot) = self.peers.get_mut(&from) {
                    slot.open = true;
                    self.emit(EngineEvent::PeerOpen(from));
                    self.update_sharing();
                    // A customer who connects later still sees what was published.
                    self.send_published(from).await;
                    // Transfers broken with the previous connection go on from where they were.
                    self.resume_transfers(from).await;
                }
            }
            PeerEvent::Message(bytes) => match PeerMessage::decode(&bytes, self.me) {
                Ok(PeerMessage::Chat {
                    id,
                    text,
                    to,
                    sent_at,
                }) => {
                    let line = ChatLine {
                        id,
                        from,
                        to,
                        text,
                        sent_at,
                    };
                    self.transcript.push(line.clone());
                    self.emit(EngineEvent::Chat(line));
                }
                Ok(PeerMessage::SystemInfoRequest { id }) => self.answer_system_info(from, id),
                Ok(PeerMessage::SystemInfo { id, info }) => self.settle(from, id, Ok(info)),
                Ok(PeerMessage::Refused { id, reason }) => {
                    if !self.transfer_refused(from, id, &reason).await {
                        self.settle(from, id, Err(EngineError::Refused(reason)))
                    }
                }
                Ok(
                    msg @ (PeerMessage::FileOffer { .. }
                    | PeerMessage::FileFetch { .. }
                    | PeerMessage::FileAccept { .. }
                    | PeerMessage::FileResult { .. }
                    | PeerMessage::FilesPublished { .. }
                    | PeerMessage::FileDownload { .. }),
                ) => self.on_file_message(from, msg).await,
                Ok(PeerMessage::Input { event }) => self.on_input(from, &event),
                Ok(PeerMessage::AudioInvite) => self.emit(EngineEvent::AudioInvited { from }),
                Err(e) => self.emit(EngineEvent::PeerError {
                    peer: from,
                    message: e.to_string(),
                }),
            },
            PeerEvent::FileChannel { id, stream } => self.on_file_channel(from, id, stream).await,
            PeerEvent::Video {
                camera: true,
                frame,
            } => {
                let peer = self.peers.get(&from).map(|slot| slot.peer.clone());
                self.cameras
                    .frame(from, frame, peer, &self.events, &self.threads)
            }
            PeerEvent::Video { frame, .. } => {
                if let Some(r) = &mut self.recording {
                    r.video(from, &frame);
                    // The writer dropped media: the file goes on from the next keyframe.
                    if std::mem::take(&mut r.wants_keyframe)
                        && let Some(slot) = self.peers.get(&from)
                    {
                        slot.peer.request_keyframe();
                    }
                }
                let peer = self.peers.get(&from).map(|slot| slot.peer.clone());
                self.viewing
                    .frame(from, frame, peer, &self.events, &self.threads)
            }
            PeerEvent::Audio(packet) => {
                if let Some(r) = &mut self.recording {
                    r.voice(from, &packet);
                }
                if let Err(e) = self.voice.heard(from, &packet) {
                    self.emit(EngineEvent::PeerError {
                        peer: from,
                        message: format!("undecodable voice: {e}"),
                    });
                }
            }
            PeerEvent::KeyframeRequest => self.sharing.request_keyframe(),
            PeerEvent::Closed => {
                self.viewing.forget(from);
                self.cameras.forget(from);
                self.voice.forget(from);
                self.connection_lost(from).await;
                self.update_sharing();
            }
        }
    }

    async fn on_command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Chat { to, text, reply } => {
                let _ = reply.send(self.chat(to, text).await);
            }
            Cmd::Command(command) => {
                let _ = self.signaling.command(command).await;
            }
            Cmd::Transcript(reply) => {
                let _ = reply.send(self.transcript.clone());
            }
            Cmd::AnswerConsent {
                capability,
                granted,
                reply,
            } => {
                let _ = reply.send(self.answer_consent(capability, granted).await);
            }
            Cmd::RevokeConsent { capability, reply } => {
                // Enforced here first, at once; then recorded by the service.
                self.consents.remove(&capability);
                if capability == Capability::FileTransfer {
                    self.file_transfer_revoked().await;
                }
                if capability == Capability::RemoteControl {
                    self.control.stop();
                }
                self.update_sharing();
                let _ = reply.send(
                    self.signaling
                        .command(Command::RevokeConsent { capability })
                        .await,
                );
            }
            Cmd::SystemInfo { from, reply } => self.request_system_info(from, reply).await,
            Cmd::End { notes, reply } => {
                let _ = reply.send(self.end(notes).await);
            }
            Cmd::SendFile { to, path, reply } => self.send_file(to, path, reply).await,
            Cmd::FetchFile { from, name, reply } => self.fetch_file(from, name, reply).await,
            Cmd::Publish { path, reply } => {
                let _ = reply.send(self.publish(path).await);
            }
            Cmd::Download { from, id, reply } => self.download(from, id, reply).await,
            Cmd::ApproveTransfer {
                from,
                id,
                allow,
                reply,
            } => {
                let _ = reply.send(self.approve_transfer(from, id, allow).await);
            }
            Cmd::BreakConnection { peer, reply } => {
                let _ = reply.send(self.break_connection(peer).await);
            }
            Cmd::JoinAudio {
                source,
                sinks,
                reply,
            } => {
                let result = if self.voice.is_joined() {
                    Err(EngineError::Invalid("already in audio".into()))
                } else {
                    let peers = self
                        .peers
                        .values()
                        .filter(|s| s.open)
                        .map(|s| s.peer.clone())
                        .collect();
                    let joined = self
                        .voice
                        .join(source, sinks, peers, self.events.clone(), &self.threads)
                        .map_err(EngineError::Invalid);
                    if let Some(r) = &self.recording {
                        self.voice.set_tap(r.tap(self.me));
                    }
                    joined
                };
                let _ = reply.send(result);
            }
            Cmd::AudioInvite { to, reply } => {
                let message = PeerMessage::AudioInvite.to_json();
                let mut result = Ok(());
                for (id, slot) in &self.peers {
                    if slot.open && (to.is_empty() || to.contains(id)) {
                        result = result.and(slot.peer.send_text(&message).await);
                    }
                }
                let _ = reply.send(result);
            }
            Cmd::LeaveAudio(reply) => {
                let left = self.voice.leave();
                let _ = reply.send(if left {
                    Ok(())
                } else {
                    Err(EngineError::Invalid("not in audio".into()))
                });
            }
            Cmd::Camera { source, reply } => {
                self.camera.set_source(source);
                self.update_sharing();
                let _ = reply.send(Ok(()));
            }
            Cmd::PauseRecording { paused, reply } => {
                let result = match &mut self.recording {
                    None => Err(EngineError::Invalid("not recording".into())),
                    Some(r) => {
                        if r.set_paused(paused) {
                            // The file goes on from a keyframe.
                            if !paused
                                && let Some(slot) = r.screen().and_then(|s| self.peers.get(&s))
                            {
                                slot.peer.request_keyframe();
                            }
                            self.emit(EngineEvent::Recording { paused });
                        }
                        Ok(())
                    }
                };
                let _ = reply.send(result);
            }
            Cmd::Mute { muted, reply } => {
                let ok = self.voice.set_muted(muted);
                let _ = reply.send(if ok {
                    Ok(())
                } else {
                    Err(EngineError::Invalid("not in audio".into()))
                });
            }
            Cmd::Input { to, event, reply } => {
                let message = PeerMessage::Input { event }.to_json();
                let result = match self.peers.get(&to).filter(|s| s.open) {
                    Some(slot) => slot.peer.send_text(&message).await,
                    None => Err(EngineError::Invalid(format!("no open connection to {to}"))),
                };
                let _ = reply.send(result);
            }
            Cmd::Raw { to, bytes, reply } => {
                let result = match self.peers.get(&to) {
                    Some(slot) => slot.peer.send_bytes(&bytes).await,
                    None => Err(EngineError::Closed),
                };
                let _ = reply.send(result);
            }
        }
    }

    /// Attach the transcript (batches that fit a signaling message), then end.
    async fn end(&mut self, notes: String) -> Result<(), EngineError> {
        if self.roster.controller != self.me {
            return Err(EngineError::Invalid(
                "only the controlling support representative can end the session".into(),
            ));
        }
        // A recording under way is finished and attached first, while the session is live.
        if let Some(upload) = self.stop_recording() {
            let _ = upload.await;
        }
        let mut batch: Vec<ChatRecord> = Vec::new();
        let mut size = 0;
        for line in &self.transcript {
            let bytes = line.text.len() + 64 + 8 * line.to.len();
            if !batch.is_empty()
                && (batch.len() == MAX_RECORDED_CHAT_LINES || size + bytes > RECORD_BATCH_BYTES)
            {
                let lines = std::mem::take(&mut batch);
                self.signaling
                    .command(Command::RecordChat { lines })
                    .await?;
                size = 0;
            }
            size += bytes;
            batch.push(ChatRecord {
                from: line.from,
                to: line.to.clone(),
                text: line.text.clone(),
                sent_at: line.sent_at,
            });
        }
        if !batch.is_empty() {
            self.signaling
                .command(Command::RecordChat { lines: batch })
                .await?;
        }
        self.signaling.command(Command::End { notes }).await
    }

    async fn answer_consent(
        &mut self,
        capability: Capability,
        granted: bool,
    ) -> Result<(), EngineError> {
        if !self.asked.remove(&capability) {
            return Err(EngineError::Invalid(format!(
                "nobody has asked for consent to {capability}"
            )));
        }
        if granted {
            self.consents.insert(capability);
        } else if self.consents.remove(&capability) && capability == Capability::FileTransfer {
            self.file_transfer_revoked().await;
        }
        self.update_sharing();
        self.signaling
            .command(Command::AnswerConsent {
                capability,
                granted,
            })
            .await
    }

    fn is_csr(&self, id: ParticipantId) -> bool {
        self.roster.participants.iter().any(|p| {
            p.id == id
                && matches!(
                    p.role,
                    tether_protocol::Role::Controller | tether_protocol::Role::Csr
                )
        })
    }

    /// Record while our recording activity runs; finish and upload when it stops.
    fn update_recording(&mut self) {
        let mine = self
            .roster
            .activities
            .iter()
            .any(|a| a.activity == tether_protocol::Activity::Recording && a.actor == self.me);
        if mine && self.recording.is_none() {
            let path = std::env::temp_dir().join(format!(
                "tether-recording-{}-{}-{}.mkv",
                self.session_id,
                self.me,
                now_ms()
            ));
            let voices = self
                .roster
                .participants
                .iter()
                .map(|p| (p.id, p.name.clone()))
                .collect();
            let recording = match crate::recording::Recording::start(path, voices, &self.threads) {
                Ok(r) => r,
                Err(e) => {
                    self.emit(EngineEvent::MediaError(format!("recording: {e}")));
                    return;
                }
            };
            self.voice.set_tap(recording.tap(self.me));
            // The file starts from a keyframe of whoever shares.
            for slot in self.peers.values() {
                slot.peer.request_keyframe();
            }
            self.recording = Some(recording);
            self.emit(EngineEvent::Recording { paused: false });
        } else if !mine && self.recording.is_some() {
            self.stop_recording();
        }
    }

    /// Finish the recording and upload it while the session is live; the task ends once the
    /// service has it (or the failure was told).
    fn stop_recording(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let recording = self.recording.take()?;
        self.voice.set_tap(None);
        let finished = recording.finish();
        let (url, token, session, events) = (
            self.service.clone(),
            self.token.clone(),
            self.session_id.clone(),
            self.events.clone(),
        );
        Some(tokio::spawn(async move {
            let outcome = async {
                let file = finished
                    .await
                    .map_err(|_| "the recording writer stopped".to_owned())??;
                let bytes = std::fs::metadata(&file.path).map(|m| m.len()).unwrap_or(0);
                let duration_ms = file.duration.as_millis() as u64;
                let path =
                    format!("/api/v1/sessions/{session}/recordings?duration_ms={duration_ms}");
                url.upload(&path, &token, &file.path, "video/x-matroska")
                    .await
                    .map_err(|e| format!("{e}; the file stays at {}", file.path.display()))?;
                let _ = std::fs::remove_file(&file.path);
                Ok::<_, String>(EngineEvent::RecordingSaved { bytes, duration_ms })
            }
            .await;
            let event = outcome
                .unwrap_or_else(|e| EngineEvent::MediaError(format!("recording not saved: {e}")));
            let _ = events.send(event).await;
        }))
    }

    /// Share our screen, or stop, as the roster and our user's consents now say.
    fn update_sharing(&mut self) {
        let plan = match crate::sharing::plan(self.me, &self.roster, &self.consents, &self.config) {
            Ok(plan) => {
                self.share_problem = None;
                plan
            }
            Err(problem) => {
                if self.share_problem.as_ref() != Some(&problem) {
                    self.emit(EngineEvent::MediaError(problem.clone()));
                    self.share_problem = Some(problem);
                }
                None
            }
        };
        let open: Vec<_> = self
            .peers
            .iter()
            .filter(|(_, slot)| slot.open)
            .map(|(id, slot)| (*id, slot.peer.clone()))
            .collect();
        self.voice
            .set_peers(open.iter().map(|(_, p)| p.clone()).collect());
        let video = self
            .roster
            .activities
            .iter()
            .any(|a| a.activity == tether_protocol::Activity::Video && a.actor == self.me);
        self.camera.update(
            video,
            open.iter().map(|(_, p)| p.clone()).collect(),
            &self.events,
            &self.threads,
        );
        self.sharing.apply(plan, open, &self.events, &self.threads);
    }

    /// A peer sent an input event: inject it if this machine's rules allow it.
    fn on_input(&mut self, from: ParticipantId, event: &InputEvent) {
        let outcome = self.control.handle(
            self.me,
            from,
            &self.roster,
            &self.consents,
            &self.config,
            event,
        );
        match outcome {
            Injected::Done | Injected::Refused(None) => {}
            Injected::Refused(Some(reason)) => self.emit(EngineEvent::InputRefused {
                from,
                reason: reason.into(),
            }),
            Injected::Failed(message) => self.emit(EngineEvent::PeerError {
                peer: from,
                message: format!("remote control: {message}"),
            }),
        }
    }

    /// A peer asked for our system information: answer under our own user's consent only.
    fn answer_system_info(&self, from: ParticipantId, id: u64) {
        let Some(slot) = self.peers.get(&from) else {
            return;
        };
        let peer = slot.peer.clone();
        let x_display = self.config.x_display.clone();
        let refusal = if !self.is_csr(from) {
            Some("only a support representative can ask for system information")
        } else if !self.consents.contains(&Capability::SystemInfo) {
            Some("the customer has not allowed sharing system information")
        } else {
            None
        };
        tokio::spawn(async move {
            let reply = match refusal {
                Some(reason) => PeerMessage::Refused {
                    id,
                    reason: reason.into(),
                },
                None => match tokio::task::spawn_blocking(move || {
                    crate::system_info::gather(x_display.as_deref())
                })
                .await
                {
                    Ok(info) => PeerMessage::SystemInfo { id, info },
                    Err(_) => PeerMessage::Refused {
                        id,
                        reason: "reading system information failed".into(),
                    },
                },
            };
            let _ = peer.send_text(&reply.to_json()).await;
        });
    }

    async fn request_system_info(
        &mut self,
        from: ParticipantId,
        reply: oneshot::Sender<Result<SystemInfo, EngineError>>,
    ) {
        let Some(slot) = self.peers.get(&from).filter(|s| s.open) else {
            let _ = reply.send(Err(EngineError::Invalid(format!(
                "participant {} is not connected",
                from.0
            ))));
            return;
        };
        let id = self.next_request;
        self.next_request += 1;
        let request = PeerMessage::SystemInfoRequest { id }.to_json();
        match slot.peer.send_text(&request).await {
            Ok(()) => {
                self.pending.retain(|_, (_, r)| !r.is_closed());
                self.pending.insert(id, (from, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// An answer to one of our requests; answers nobody asked for (or from someone else) are
    /// a misbehaving peer.
    fn settle(&mut self, from: ParticipantId, id: u64, result: Result<SystemInfo, EngineError>) {
        match self.pending.remove(&id) {
            Some((asked, reply)) if asked == from => {
                let _ = reply.send(result);
            }
            Some(other) => {
                self.pending.insert(id, other);
                self.emit(EngineEvent::PeerError {
                    peer: from,
                    message: format!("an answer to request {id} it was not asked"),
                });
            }
            None => self.emit(EngineEvent::PeerError {
                peer: from,
                message: format!("an answer to unknown request {id}"),
            }),
        }
    }

    async fn chat(
        &mut self,
        to: Vec<ParticipantId>,
        text: String,
    ) -> Result<ChatLine, EngineError> {
        let text = check_text("text", &text, MAX_CHAT_CHARS, false)
            .map_err(|e| EngineError::Invalid(e.to_string()))?;
        let recipients = chat_recipients(&self.present, self.me, &to);
        if recipients.is_empty() {
            return Err(EngineError::Invalid(
                "no present participant to send this to".into(),
            ));
        }
        let line = ChatLine {
            id: self.next_chat,
            from: self.me,
            to,
            text,
            sent_at: now_ms(),
        };
        self.next_chat += 1;
        let json = PeerMessage::Chat {
            id: line.id,
            text: line.text.clone(),
            to: line.to.clone(),
            sent_at: line.sent_at,
        }
        .to_json();
        for id in recipients {
            let slot = self.peers.get(&id).filter(|s| s.open).ok_or_else(|| {
                EngineError::Invalid(format!("participant {} is not connected yet", id.0))
            })?;
            slot.peer.send_text(&json).await?;
        }
        self.transcript.push(line.clone());
        Ok(line)
    }
}
