//! One WebRTC peer connection to one other participant, with the reliable `tether` control
//! data channel. The only module of the engine that knows webrtc-rs.

mod frames;
mod media;
mod transport;

pub use transport::tuned;

use crate::blocks::Piece;
use crate::error::EngineError;
use bytes::BytesMut;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tether_protocol::{
    CONTROL_CHANNEL, FILE_CHUNK_BYTES, SignalData, file_channel, file_channel_id,
};
use tokio::sync::{Mutex, mpsc};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription, Registry, register_default_interceptors,
};

/// A STUN/TURN server as the service's `/api/v1/ice` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

/// What a peer reports to the session that owns it.
#[derive(Debug)]
pub enum PeerEvent {
    /// Signaling to relay to the remote participant.
    Signal(SignalData),
    /// The control channel is open: messages can flow.
    Open,
    /// A message arrived on the control channel.
    Message(Vec<u8>),
    /// The remote sender opened the data channel of transfer `id`; its bytes come from `stream`.
    FileChannel { id: u64, stream: FileStream },
    /// A whole H.264 frame (Annex-B) arrived on the remote's screen track, or on its camera
    /// track.
    Video { camera: bool, frame: Vec<u8> },
    /// An Opus packet arrived on the remote's voice track.
    Audio(Vec<u8>),
    /// The remote asks for a keyframe of our screen track (PLI or FIR).
    KeyframeRequest,
    /// The connection failed or closed.
    Closed,
}

/// The bytes of one incoming transfer, message by message, until its channel closes.
pub struct FileStream(Arc<dyn DataChannel>);

impl std::fmt::Debug for FileStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileStream")
    }
}

impl FileStream {
    /// The next message's bytes; `None` once the channel (or its connection) has closed.
    pub async fn next(&mut self) -> Option<BytesMut> {
        loop {
            match self.0.poll().await? {
                DataChannelEvent::OnMessage(msg) => return Some(msg.data),
                DataChannelEvent::OnClose => return None,
                _ => {}
            }
        }
    }

    /// Stop receiving: the sender sees the channel close.
    pub async fn close(self) {
        let _ = self.0.close().await;
    }
}

fn webrtc_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Peer(e.to_string())
}

/// The control channel once it exists (created by the offerer, announced to the answerer).
type ChannelSlot = Arc<Mutex<Option<Arc<dyn DataChannel>>>>;

struct Handler {
    events: mpsc::Sender<PeerEvent>,
    channel: ChannelSlot,
    keyframe_wanted: Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let data = SignalData::Candidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_m_line_index: init.sdp_mline_index,
            };
            let _ = self.events.send(PeerEvent::Signal(data)).await;
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            let _ = self.events.send(PeerEvent::Closed).await;
        }
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let label = channel.label().await.unwrap_or_default();
        // Must not await the channel here: returning unblocks the connection's driver.
        if label == CONTROL_CHANNEL {
            *self.channel.lock().await = Some(channel.clone());
            tokio::spawn(pump(channel, self.events.clone()));
        } else if let Some(id) = file_channel_id(&label) {
            let (stream, events) = (FileStream(channel), self.events.clone());
            tokio::spawn(async move { events.send(PeerEvent::FileChannel { id, stream }).await });
        }
    }

    async fn on_track(&self, track: Arc<dyn webrtc::media_stream::track_remote::TrackRemote>) {
        tokio::spawn(media::read_remote(
            track,
            self.events.clone(),
            self.keyframe_wanted.clone(),
        ));
    }
}

/// Forward a channel's events to the session until it closes.
async fn pump(channel: Arc<dyn DataChannel>, events: mpsc::Sender<PeerEvent>) {
    while let Some(event) = channel.poll().await {
        let out = match event {
            DataChannelEvent::OnOpen => PeerEvent::Open,
            DataChannelEvent::OnMessage(msg) => PeerEvent::Message(msg.data.to_vec()),
            DataChannelEvent::OnClose => PeerEvent::Closed,
            _ => continue,
        };
        let closed = matches!(out, PeerEvent::Closed);
        if events.send(out).await.is_err() || closed {
            return;
        }
    }
}

/// A spawned task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A connection to one remote participant.
pub struct Peer {
    pc: Arc<dyn PeerConnection>,
    /// The screen and voice tracks we send (silent until something writes to them).
    tracks: media::Tracks,
    /// Wakes the reader of the remote's screen track to ask for a keyframe.
    keyframe_wanted: Arc<tokio::sync::Notify>,
    channel: ChannelSlot,
    /// Candidates that arrived before the remote description; added once it is set.
    pending: Mutex<Vec<RTCIceCandidateInit>>,
    has_remote: AtomicBool,
    events: mpsc::Sender<PeerEvent>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("has_remote", &self.has_remote)
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Build the connection; the offering side also creates the control channel and sends the
    /// offer (through `events`).
    pub async fn start(
        offerer: bool,
        ice_servers: &[IceServer],
        bind: &[String],
        events: mpsc::Sender<PeerEvent>,
    ) -> Result<Peer, EngineError> {
        let mut media = MediaEngine::default();
        media::register_codecs(&mut media).map_err(EngineError::Peer)?;
        let registry = register_default_interceptors(Registry::new(), &mut media)
            .map_err(webrtc_err)?
            // Last in the chain: keyframe requests reach the screen track's owner.
            .with(
                rtc::interceptor::Slot::from(14_000),
                media::KeyframeRequests::default(),
            );
        let servers = ice_servers
            .iter()
            .map(|s| RTCIceServer {
                urls: s.urls.clone(),
                username: s.username.clone(),
                credential: s.credential.clone(),
            })
            .collect();
        let channel: ChannelSlot = Arc::new(Mutex::new(None));
        let keyframe_wanted = Arc::new(tokio::sync::Notify::new());
        let handler = Handler {
            events: events.clone(),
            channel: channel.clone(),
            keyframe_wanted: keyframe_wanted.clone(),
        };
        let pc = tuned(PeerConnectionBuilder::new())
            .with_configuration(
                RTCConfigurationBuilder::new()
                    .with_ice_servers(servers)
                    .build(),
            )
            .with_media_engine(media)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(handler))
            .with_udp_addrs(bind.to_vec())
            .build()
            .await
            .map_err(webrtc_err)?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let tracks = media::Tracks::add(&pc, events.clone())
            .await
            .map_err(EngineError::Peer)?;
        let peer = Peer {
            pc,
            tracks,
            keyframe_wanted,
            channel,
            pending: Mutex::new(Vec::new()),
            has_remote: AtomicBool::new(false),
            events,
        };
        if offerer {
            let init = RTCDataChannelInit {
                ordered: true,
                ..Default::default()
            };
            let dc = peer
                .pc
                .create_data_channel(CONTROL_CHANNEL, Some(init))
                .await
                .map_err(webrtc_err)?;
            *peer.channel.lock().await = Some(dc.clone());
            tokio::spawn(pump(dc, peer.events.clone()));
            let offer = peer.pc.create_offer(None).await.map_err(webrtc_err)?;
            let sdp = offer.sdp.clone();
            peer.pc
                .set_local_description(offer)
                .await
                .map_err(webrtc_err)?;
            peer.events
                .send(PeerEvent::Signal(SignalData::Offer { sdp }))
                .await
                .map_err(|_| EngineError::Closed)?;
        }
        Ok(peer)
    }

    /// Apply signaling from the remote participant.
    pub async fn handle_signal(&self, data: SignalData) -> Result<(), EngineError> {
        match data {
            SignalData::Offer { sdp } => {
                let offer = RTCSessionDescription::offer(sdp).map_err(webrtc_err)?;
                self.pc
                    .set_remote_description(offer)
                    .await
                    .map_err(webrtc_err)?;
                self.remote_set().await?;
                let answer = self.pc.create_answer(None).await.map_err(webrtc_err)?;
                let sdp = answer.sdp.clone();
                self.pc
                    .set_local_description(answer)
                    .await
                    .map_err(webrtc_err)?;
                self.events
                    .send(PeerEvent::Signal(SignalData::Answer { sdp }))
                    .await
                    .map_err(|_| EngineError::Closed)?;
            }
            SignalData::Answer { sdp } => {
                let answer = RTCSessionDescription::answer(sdp).map_err(webrtc_err)?;
                self.pc
                    .set_remote_description(answer)
                    .await
                    .map_err(webrtc_err)?;
                self.remote_set().await?;
            }
            SignalData::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
            } => {
                let init = RTCIceCandidateInit {
                    candidate,
                    sdp_mid,
                    sdp_mline_index: sdp_m_line_index,
                    ..Default::default()
                };
                if self.has_remote.load(Ordering::Acquire) {
                    self.pc.add_ice_candidate(init).await.map_err(webrtc_err)?;
                } else {
                    self.pending.lock().await.push(init);
                }
            }
            // The session handles a restart by replacing the connection.
            SignalData::EndOfCandidates | SignalData::Restart => {}
        }
        Ok(())
    }

    /// Whether the remote description has been set (an offer on such a connection means the
    /// remote side started over).
    pub fn has_remote(&self) -> bool {
        self.has_remote.load(Ordering::Acquire)
    }

    async fn remote_set(&self) -> Result<(), EngineError> {
        self.has_remote.store(true, Ordering::Release);
        let pending = std::mem::take(&mut *self.pending.lock().await);
        for init in pending {
            self.pc.add_ice_candidate(init).await.map_err(webrtc_err)?;
        }
        Ok(())
    }

    /// Send a text message on the control channel.
    pub async fn send_text(&self, text: &str) -> Result<(), EngineError> {
        let channel = self
            .channel
            .lock()
            .await
            .clone()
            .ok_or(EngineError::Closed)?;
        channel.send_text(text).await.map_err(webrtc_err)
    }

    /// Send raw bytes on the control channel (tests use this to play a misbehaving peer).
    pub async fn send_bytes(&self, bytes: &[u8]) -> Result<(), EngineError> {
        let channel = self
            .channel
            .lock()
            .await
            .clone()
            .ok_or(EngineError::Closed)?;
        channel
            .send(BytesMut::from(bytes))
            .await
            .map_err(webrtc_err)
    }

    /// Send a file's bytes from `offset` on, on a new `file-ID` channel, in messages of
    /// `FILE_CHUNK_BYTES`. `send` waits while the channel holds `transport::SEND_BUFFER_LIMIT` bytes, so
    /// memory stays bounded whatever the size. `progress` gets the file offset reached so far.
    /// With `digest_after`, the file is hashed while it is read and the digest follows the
    /// bytes as the last message; it is returned too.
    pub async fn send_file(
        &self,
        id: u64,
        file: std::fs::File,
        offset: u64,
        digest_after: bool,
        progress: impl Fn(u64),
    ) -> Result<Option<[u8; 32]>, EngineError> {
        let init = RTCDataChannelInit {
            ordered: true,
            ..Default::default()
        };
        let dc = self
            .pc
            .create_data_channel(&file_channel(id), Some(init))
            .await
            .map_err(webrtc_err)?;
        loop {
            match dc.poll().await {
                Some(DataChannelEvent::OnOpen) => break,
                Some(DataChannelEvent::OnClose) | None => return Err(EngineError::Closed),
                _ => {}
            }
        }
        // Keep the channel's events drained while sending: webrtc-rs holds back delivery
        // (and with it the connection's driver) when a channel's event queue is full.
        let drain = {
            let dc = dc.clone();
            AbortOnDrop(tokio::spawn(
                async move { while dc.poll().await.is_some() {} },
            ))
        };
        let mut pieces = crate::blocks::read_from(file, offset, digest_after);
        let mut at = offset;
        let mut digest = None;
        while let Some(piece) = pieces.recv().await {
            let mut block = match piece? {
                Piece::Block(block) => block,
                Piece::Digest(d) => {
                    // The last message: the receiver checks the bytes against it.
                    dc.send(BytesMut::from(&d[..]))
                        .await
                        .map_err(|_| EngineError::Closed)?;
                    digest = Some(d);
                    break;
                }
            };
            let n = block.len();
            while !block.is_empty() {
                // Each message shares the block's allocation: no copy on the way out.
                let chunk = block.split_to(FILE_CHUNK_BYTES.min(block.len()));
                // Errors only once the channel or its connection is closing.
                dc.send(chunk).await.map_err(|_| EngineError::Closed)?;
            }
            at += n as u64;
            progress(at);
        }
        drop(drain);
        Ok(digest)
    }

    /// Send one encoded screen frame (Annex-B H.264) lasting `duration`.
    pub async fn write_video(
        &self,
        frame: bytes::Bytes,
        duration: std::time::Duration,
    ) -> Result<(), EngineError> {
        self.tracks
            .video
            .write(frame, duration)
            .await
            .map_err(EngineError::Peer)
    }

    /// Ask the remote for a keyframe of its screen (PLI), e.g. when a recording resumes.
    pub fn request_keyframe(&self) {
        self.keyframe_wanted.notify_one();
    }

    /// Send one encoded camera frame (Annex-B H.264) lasting `duration`.
    pub async fn write_camera(
        &self,
        frame: bytes::Bytes,
        duration: std::time::Duration,
    ) -> Result<(), EngineError> {
        self.tracks
            .camera
            .write(frame, duration)
            .await
            .map_err(EngineError::Peer)
    }

    /// Send one Opus packet (20 ms).
    pub async fn write_audio(
        &self,
        packet: bytes::Bytes,
        duration: std::time::Duration,
    ) -> Result<(), EngineError> {
        self.tracks
            .audio
            .write(packet, duration)
            .await
            .map_err(EngineError::Peer)
    }

    /// Close the channel and the connection, releasing sockets and tasks.
    pub async fn close(&self) {
        if let Some(channel) = self.channel.lock().await.take() {
            let _ = channel.close().await;
        }
        let _ = self.pc.close().await;
    }
}
