//! A participant in a session: the signaling connection plus one peer connection to every other
//! participant (a mesh), chat over the peers' control channels, and events for the embedding
//! program. One task owns all of it; `Engine` is the cheap, cloneable handle.

use crate::error::EngineError;
use crate::peer::{IceServer, Peer, PeerEvent};
use crate::service::{Seat, ServiceUrl};
use crate::signaling::{Signaling, SignalingEvent, Welcome};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tether_protocol::{
    Command, EndReason, Event, MAX_CHAT_CHARS, Millis, ParticipantId, PeerMessage, Roster,
    SignalData, chat_recipients, check_text, offers_to,
};
use tokio::sync::{mpsc, oneshot};

const EVENT_QUEUE: usize = 256;

/// How the engine sets up its peer connections.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Local UDP addresses to bind (`0.0.0.0:0` by default; tests use `127.0.0.1:0`).
    pub bind: Vec<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            bind: vec!["0.0.0.0:0".into()],
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
    Ended {
        reason: EndReason,
        notes: String,
    },
    Closed {
        reason: String,
    },
}

enum Cmd {
    Chat {
        to: Vec<ParticipantId>,
        text: String,
        reply: oneshot::Sender<Result<ChatLine, EngineError>>,
    },
    Command(Command),
    Transcript(oneshot::Sender<Vec<ChatLine>>),
    Raw {
        to: ParticipantId,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<(), EngineError>>,
    },
}

/// A cheap, cloneable handle on a joined participant.
#[derive(Debug, Clone)]
pub struct Engine {
    tx: mpsc::Sender<Cmd>,
    welcome: Arc<Welcome>,
    peers: Arc<AtomicUsize>,
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
        let peers = Arc::new(AtomicUsize::new(0));
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
            peer_count: peers.clone(),
        };
        let first = welcome.roster.clone();
        tokio::spawn(mesh.run(first, signals, commands, peer_events));
        Ok((
            Engine {
                tx,
                welcome: Arc::new(welcome),
                peers,
            },
            events,
        ))
    }

    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    pub fn me(&self) -> ParticipantId {
        self.welcome.you
    }

    /// Peer connections currently held.
    pub fn peer_count(&self) -> usize {
        self.peers.load(Ordering::Acquire)
    }

    /// Send a chat line to `to` (empty: everyone present); returns the line as recorded.
    pub async fn chat(&self, to: &[ParticipantId], text: &str) -> Result<ChatLine, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Chat {
                to: to.to_vec(),
                text: text.to_owned(),
                reply,
            })
            .await
            .map_err(|_| EngineError::Closed)?;
        rx.await.map_err(|_| EngineError::Closed)?
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

    /// Send raw bytes to one peer's control channel, bypassing the encoder: for tests that play
    /// a misbehaving peer.
    pub async fn send_raw(&self, to: ParticipantId, bytes: Vec<u8>) -> Result<(), EngineError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Raw { to, bytes, reply })
            .await
            .map_err(|_| EngineError::Closed)?;
        rx.await.map_err(|_| EngineError::Closed)?
    }
}

struct PeerSlot {
    peer: Arc<Peer>,
    open: bool,
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
    peer_tx: mpsc::Sender<(ParticipantId, PeerEvent)>,
    peer_count: Arc<AtomicUsize>,
}

impl Mesh {
    async fn run(
        mut self,
        first: Roster,
        mut signals: mpsc::Receiver<SignalingEvent>,
        mut commands: mpsc::Receiver<Cmd>,
        mut peer_events: mpsc::Receiver<(ParticipantId, PeerEvent)>,
    ) {
        self.reconcile(&first).await;
        loop {
            tokio::select! {
                s = signals.recv() => match s {
                    Some(event) => if !self.on_signaling(event).await { break },
                    None => break,
                },
                Some((from, event)) = peer_events.recv() => self.on_peer(from, event).await,
                c = commands.recv() => match c {
                    Some(cmd) => self.on_command(cmd).await,
                    None => break, // every handle dropped
                },
            }
        }
        self.close_all().await;
    }

    fn emit(&self, event: EngineEvent) {
        // A program that stops reading loses events rather than stalling the mesh.
        let _ = self.events.try_send(event);
    }

    fn set_count(&self) {
        self.peer_count.store(self.peers.len(), Ordering::Release);
    }

    /// Make the peers match the roster: connect to newcomers, close those who left.
    async fn reconcile(&mut self, roster: &Roster) {
        self.present = roster.participants.iter().map(|p| p.id).collect();
        let gone: Vec<_> = self
            .peers
            .keys()
            .copied()
            .filter(|p| !self.present.contains(p))
            .collect();
        for id in gone {
            self.drop_peer(id).await;
        }
        // Offer only to participants whose signaling connection is up: a relay to anyone else
        // would be refused. Those who connect later come with a later roster.
        let ready: Vec<_> = roster
            .participants
            .iter()
            .filter(|p| p.connected)
            .map(|p| p.id)
            .collect();
        for id in ready {
            if id != self.me && !self.peers.contains_key(&id) && offers_to(self.me, id) {
                self.open_peer(id, true).await;
            }
        }
    }

    async fn open_peer(&mut self, id: ParticipantId, offerer: bool) {
        let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
        let forward = self.peer_tx.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                if forward.send((id, event)).await.is_err() {
                    return;
                }
            }
        });
        match Peer::start(offerer, &self.ice_servers, &self.config.bind, tx).await {
            Ok(peer) => {
                self.peers.insert(
                    id,
                    PeerSlot {
                        peer: Arc::new(peer),
                        open: false,
                    },
                );
                self.set_count();
            }
            Err(e) => self.emit(EngineEvent::PeerError {
                peer: id,
                message: e.to_string(),
            }),
        }
    }

    async fn drop_peer(&mut self, id: ParticipantId) {
        if let Some(slot) = self.peers.remove(&id) {
            slot.peer.close().await;
            self.set_count();
            self.emit(EngineEvent::PeerClosed(id));
        }
    }

    async fn close_all(&mut self) {
        for id in self.peers.keys().copied().collect::<Vec<_>>() {
            self.drop_peer(id).await;
        }
    }

    /// Returns false when the session is over for us.
    async fn on_signaling(&mut self, event: SignalingEvent) -> bool {
        match event {
            SignalingEvent::Roster(roster) => {
                self.reconcile(&roster).await;
                self.emit(EngineEvent::Roster(roster));
            }
            SignalingEvent::Event(e) => self.emit(EngineEvent::Session(e)),
            SignalingEvent::Signal { from, data } => self.on_signal(from, data).await,
            SignalingEvent::Refused { code, message, .. } => {
                self.emit(EngineEvent::Refused { code, message })
            }
            SignalingEvent::Ended { reason, notes } => {
                self.close_all().await;
                self.emit(EngineEvent::Ended { reason, notes });
            }
            SignalingEvent::Closed { reason, .. } => {
                self.close_all().await;
                self.emit(EngineEvent::Closed { reason });
                return false;
            }
        }
        true
    }

    async fn on_signal(&mut self, from: ParticipantId, data: SignalData) {
        if !self.present.contains(&from) {
            return;
        }
        if !self.peers.contains_key(&from) {
            if offers_to(self.me, from) {
                // We offer to this peer; signaling from it before our offer is stale.
                if matches!(data, SignalData::Offer { .. }) {
                    self.emit(EngineEvent::PeerError {
                        peer: from,
                        message: "an offer from a peer that should answer".into(),
                    });
                }
                return;
            }
            self.open_peer(from, false).await;
        }
        if let Some(slot) = self.peers.get(&from) {
            if let Err(e) = slot.peer.handle_signal(data).await {
                self.emit(EngineEvent::PeerError {
                    peer: from,
                    message: e.to_string(),
                });
            }
        }
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
                Err(e) => self.emit(EngineEvent::PeerError {
                    peer: from,
                    message: e.to_string(),
                }),
            },
            PeerEvent::Closed => {
                if self.peers.contains_key(&from) {
                    self.drop_peer(from).await;
                }
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
            Cmd::Raw { to, bytes, reply } => {
                let result = match self.peers.get(&to) {
                    Some(slot) => slot.peer.send_bytes(&bytes).await,
                    None => Err(EngineError::Closed),
                };
                let _ = reply.send(result);
            }
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
