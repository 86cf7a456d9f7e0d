//! The signaling connection: hello, then the session's roster, events and relayed WebRTC
//! signaling in; commands and signaling out. One task owns the socket.

use crate::error::EngineError;
use crate::service::ServiceUrl;
use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use tether_protocol::{
    ClientMessage, Command, EndReason, Event, Hello, PROTOCOL_VERSION, ParticipantId, Ping, Role,
    Roster, ServerMessage, Signal, SignalData,
};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Events buffered for the embedding program; when it stops reading, the socket stops being
/// read too (and the service eventually drops a consumer that slow).
const EVENT_QUEUE: usize = 256;
const COMMAND_QUEUE: usize = 64;

/// What the service said when it admitted us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub session: String,
    pub you: ParticipantId,
    pub role: Role,
    pub roster: Roster,
}

/// What arrives on a signaling connection after the welcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalingEvent {
    Roster(Roster),
    Event(Event),
    Signal {
        from: ParticipantId,
        data: SignalData,
    },
    /// A request of ours was refused; the connection stays open.
    Refused {
        code: String,
        message: String,
        request: Option<String>,
    },
    Ended {
        reason: EndReason,
        notes: String,
    },
    /// The connection closed (after `Ended`, or with the service's reason).
    Closed {
        code: Option<u16>,
        reason: String,
    },
}

/// A cheap, cloneable handle on the connection.
#[derive(Debug, Clone)]
pub struct Signaling {
    tx: mpsc::Sender<String>,
}

impl Signaling {
    /// Connect with a participant token and wait for the welcome.
    pub async fn connect(
        url: &ServiceUrl,
        token: &str,
    ) -> Result<(Signaling, Welcome, mpsc::Receiver<SignalingEvent>), EngineError> {
        let (mut ws, _) = tokio::time::timeout(
            HELLO_TIMEOUT,
            tokio_tungstenite::connect_async(url.ws_url()),
        )
        .await
        .map_err(|_| EngineError::Io("WebSocket connect timed out".into()))?
        .map_err(|e| EngineError::Io(e.to_string()))?;
        let hello = ClientMessage::Hello(Hello {
            version: PROTOCOL_VERSION,
            token: token.to_owned(),
        });
        ws.send(Message::Text(encode(&hello).into()))
            .await
            .map_err(|e| EngineError::Io(e.to_string()))?;
        let welcome = tokio::time::timeout(HELLO_TIMEOUT, async {
            while let Some(msg) = ws.next().await {
                let text = match msg.map_err(|e| EngineError::Io(e.to_string()))? {
                    Message::Text(t) => t,
                    Message::Close(_) => return Err(EngineError::Closed),
                    _ => continue,
                };
                return match serde_json::from_str::<ServerMessage>(text.as_str()) {
                    Ok(ServerMessage::Welcome {
                        session,
                        you,
                        role,
                        roster,
                        ..
                    }) => Ok(Welcome {
                        session,
                        you,
                        role,
                        roster,
                    }),
                    Ok(ServerMessage::Error { code, message, .. }) => Err(EngineError::Service {
                        status: 0,
                        code,
                        message,
                    }),
                    Ok(other) => Err(EngineError::Protocol(format!(
                        "expected a welcome, got {other:?}"
                    ))),
                    Err(e) => Err(EngineError::Protocol(e.to_string())),
                };
            }
            Err(EngineError::Closed)
        })
        .await
        .map_err(|_| EngineError::Io("no welcome within 10 s".into()))??;
        let (tx, commands) = mpsc::channel(COMMAND_QUEUE);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        tokio::spawn(run(ws, commands, events_tx));
        Ok((Signaling { tx }, welcome, events))
    }

    async fn send(&self, msg: &ClientMessage) -> Result<(), EngineError> {
        self.tx
            .send(encode(msg))
            .await
            .map_err(|_| EngineError::Closed)
    }

    /// Relay WebRTC signaling to one participant of the session.
    pub async fn signal(&self, to: ParticipantId, data: SignalData) -> Result<(), EngineError> {
        self.send(&ClientMessage::Signal(Signal { to, data })).await
    }

    /// A session command (make primary, transfer control, consent, activities, leave, end...).
    pub async fn command(&self, command: Command) -> Result<(), EngineError> {
        self.send(&ClientMessage::Command(command)).await
    }
}

fn encode(msg: &ClientMessage) -> String {
    // These types always serialize (no non-string map keys, no custom impls).
    serde_json::to_string(msg).unwrap_or_default()
}

fn translate(msg: ServerMessage) -> Option<SignalingEvent> {
    Some(match msg {
        ServerMessage::Roster { roster } => SignalingEvent::Roster(roster),
        ServerMessage::Event { event } => SignalingEvent::Event(event),
        ServerMessage::Signal { from, data } => SignalingEvent::Signal { from, data },
        ServerMessage::Error {
            code,
            message,
            request,
        } => SignalingEvent::Refused {
            code,
            message,
            request,
        },
        ServerMessage::Ended { reason, notes } => SignalingEvent::Ended { reason, notes },
        ServerMessage::Welcome { .. } | ServerMessage::Pong { .. } => return None,
    })
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn run(
    mut ws: Socket,
    mut commands: mpsc::Receiver<String>,
    events: mpsc::Sender<SignalingEvent>,
) {
    let mut ping = tokio::time::interval(Duration::from_secs(15));
    let mut next_ping = 0u64;
    let closed = loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(text))) => {
                    let event = match serde_json::from_str::<ServerMessage>(text.as_str()) {
                        Ok(m) => translate(m),
                        Err(e) => Some(SignalingEvent::Refused {
                            code: "unreadable".into(),
                            message: format!("the service sent a message this engine can't read: {e}"),
                            request: None,
                        }),
                    };
                    if let Some(event) = event
                        && events.send(event).await.is_err() {
                            break None; // the embedding program dropped the receiver
                        }
                }
                Some(Ok(Message::Close(frame))) => {
                    break Some(SignalingEvent::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Some(SignalingEvent::Closed { code: None, reason: e.to_string() }),
                None => break Some(SignalingEvent::Closed { code: None, reason: String::new() }),
            },
            cmd = commands.recv() => match cmd {
                Some(text) => if ws.send(Message::Text(text.into())).await.is_err() {
                    break Some(SignalingEvent::Closed { code: None, reason: "send failed".into() });
                },
                None => {
                    let _ = ws.close(None).await;
                    break None; // every handle was dropped
                }
            },
            _ = ping.tick() => {
                next_ping += 1;
                let _ = ws.send(Message::Text(encode(&ClientMessage::Ping(Ping { id: next_ping })).into())).await;
            }
        }
    };
    if let Some(closed) = closed {
        let _ = events.send(closed).await;
    }
}
