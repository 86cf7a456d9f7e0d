//! The WebSocket endpoint: hello, then commands and relays in, events and relays out. One
//! receive loop and one send task per connection; a bounded queue between hub and socket.

use crate::hub::{CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_POLICY, Conn, Hub, Kill};
use crate::secrets::hash_token;
use crate::state::AppState;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tether_protocol::{
    ClientMessage, Hello, MAX_MESSAGE_BYTES, PROTOCOL_VERSION, ParticipantId, Ping, ServerMessage,
    Signal, decode_client,
};
use tokio::sync::mpsc;

/// Frames above this are refused by the WebSocket layer itself (the connection is dropped);
/// messages up to it but above `MAX_MESSAGE_BYTES` get a `too_large` error and the connection stays.
const HARD_FRAME_LIMIT: usize = 1 << 20;
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| run(socket, state))
}

async fn close(sink: &mut SplitSink<WebSocket, Message>, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

async fn send_now(sink: &mut SplitSink<WebSocket, Message>, msg: &ServerMessage) {
    let _ = sink.send(Message::Text(msg.to_json().into())).await;
}

/// Wait for the hello; on success the participant's hub and id.
async fn hello(
    state: &AppState,
    sink: &mut SplitSink<WebSocket, Message>,
    stream: &mut SplitStream<WebSocket>,
) -> Option<(Arc<Hub>, ParticipantId)> {
    let refuse = |code: &str, message: String| ServerMessage::error(code, message, Some("hello"));
    let text = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t,
        Ok(Some(Ok(_))) => {
            send_now(
                sink,
                &refuse(
                    "hello_required",
                    "the first message must be a text hello".into(),
                ),
            )
            .await;
            return None;
        }
        Err(_) => {
            send_now(
                sink,
                &refuse("hello_required", "no hello within 10 seconds".into()),
            )
            .await;
            return None;
        }
        _ => return None,
    };
    let (version, token) = match decode_client(text.as_str()) {
        Ok(ClientMessage::Hello(Hello { version, token })) => (version, token),
        Ok(_) => {
            send_now(
                sink,
                &refuse("hello_required", "the first message must be a hello".into()),
            )
            .await;
            return None;
        }
        Err(e) => {
            send_now(sink, &e.to_message()).await;
            return None;
        }
    };
    if version != PROTOCOL_VERSION {
        let msg = format!(
            "protocol version {version} is not supported; this service speaks version {PROTOCOL_VERSION}"
        );
        send_now(sink, &refuse("unsupported_version", msg)).await;
        return None;
    }
    let found = match state.db.participant_by_token(&hash_token(&token)).await {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(%e, "participant lookup failed");
            send_now(sink, &refuse("internal", "internal error".into())).await;
            return None;
        }
    };
    let Some((session_id, participant)) = found else {
        send_now(
            sink,
            &refuse("unauthorized", "unknown participant token".into()),
        )
        .await;
        return None;
    };
    let Some(hub) = state.hubs.get(&session_id) else {
        send_now(
            sink,
            &refuse("session_ended", "the session has ended".into()),
        )
        .await;
        return None;
    };
    Some((hub, participant))
}

async fn run(socket: WebSocket, state: AppState) {
    let (mut sink, mut stream) = socket.split();
    let Some((hub, me)) = hello(&state, &mut sink, &mut stream).await else {
        close(&mut sink, CLOSE_POLICY, "hello refused").await;
        return;
    };
    let (tx, rx) = mpsc::channel::<Arc<str>>(state.config.outgoing_queue.max(8));
    let conn = Conn {
        id: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
        tx,
        kill: Arc::new(Kill::default()),
    };
    let heartbeat = Duration::from_secs(state.config.heartbeat_secs.max(1));
    if let Err(e) = hub
        .connect(&state, me, conn.clone(), heartbeat.as_millis() as u64)
        .await
    {
        send_now(
            &mut sink,
            &ServerMessage::error(e.code(), e.public_message(), Some("hello")),
        )
        .await;
        close(&mut sink, CLOSE_POLICY, "hello refused").await;
        return;
    }
    let mut sender = tokio::spawn(send_loop(
        sink,
        rx,
        conn.kill.clone(),
        heartbeat,
        state.shutdown.clone(),
    ));
    let receiver = receive_loop(&state, &hub, me, &conn, &mut stream, heartbeat * 3);
    let sender_done = tokio::select! {
        _ = receiver => {
            conn.kill.fire(CLOSE_NORMAL, "closed");
            false
        }
        _ = &mut sender => true,
        // A send task blocked on a client that stopped reading can't see the kill itself.
        _ = conn.kill.fired() => false,
    };
    // Let the send task flush and close (bounded), then drop the socket and forget the
    // connection.
    if !sender_done
        && tokio::time::timeout(Duration::from_secs(2), &mut sender)
            .await
            .is_err()
    {
        sender.abort();
    }
    hub.disconnect(&state, me, conn.id).await;
}

async fn send_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Arc<str>>,
    kill: Arc<Kill>,
    heartbeat: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let (code, reason) = loop {
        tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                Some(text) => if sink.send(Message::Text(Utf8Bytes::from(&*text))).await.is_err() { return },
                None => break (CLOSE_NORMAL, "closed".to_owned()),
            },
            r = kill.fired() => {
                // Deliver what was queued before the close (e.g. the session's end).
                while let Ok(text) = rx.try_recv() {
                    if sink.send(Message::Text(Utf8Bytes::from(&*text))).await.is_err() { return }
                }
                break r;
            }
            _ = ping.tick() => if sink.send(Message::Ping(Default::default())).await.is_err() { return },
            _ = shutdown.changed() => break (CLOSE_GOING_AWAY, "service shutting down".to_owned()),
        }
    };
    close(&mut sink, code, &reason).await;
}

async fn receive_loop(
    state: &AppState,
    hub: &Arc<Hub>,
    me: ParticipantId,
    conn: &Conn,
    stream: &mut SplitStream<WebSocket>,
    idle: Duration,
) {
    loop {
        let msg = match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => {
                conn.kill
                    .fire(CLOSE_POLICY, "no heartbeat: connection idle too long");
                return;
            }
            Ok(None) | Ok(Some(Err(_))) => return,
            Ok(Some(Ok(msg))) => msg,
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(b) => {
                let e = ServerMessage::error(
                    if b.len() > MAX_MESSAGE_BYTES {
                        "too_large"
                    } else {
                        "malformed"
                    },
                    "binary frames are not part of the protocol; send JSON text",
                    None,
                );
                conn.send_msg(&e);
                continue;
            }
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        match decode_client(text.as_str()) {
            Err(e) => conn.send_msg(&e.to_message()),
            Ok(ClientMessage::Hello(_)) => conn.send_msg(&ServerMessage::error(
                "already_greeted",
                "hello was already accepted on this connection",
                Some("hello"),
            )),
            Ok(ClientMessage::Ping(Ping { id })) => conn.send_msg(&ServerMessage::Pong { id }),
            Ok(ClientMessage::Signal(Signal { to, data })) => {
                if let Err(e) = hub.relay(me, to, data).await {
                    conn.send_msg(&e);
                }
            }
            Ok(ClientMessage::Command(command)) => {
                let name = command_name(&command);
                if let Err(e) = hub.command(state, me, command).await {
                    conn.send_msg(&ServerMessage::error(
                        e.code(),
                        e.public_message(),
                        Some(&name),
                    ));
                }
            }
        }
    }
}

fn command_name(command: &tether_protocol::Command) -> String {
    serde_json::to_value(command)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
}
