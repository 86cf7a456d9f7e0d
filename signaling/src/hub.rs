//! Live sessions in memory: one `Hub` per live session owns its `Session` model and the
//! connections of its participants behind one lock, persists every change before publishing it,
//! and fans events out to the participants.

use crate::db::{Also, InvitationRow, NewParticipant, RecordingRow};
use crate::error::ApiResult;
use crate::secrets::{hash_token, new_token, random_below};
use crate::state::{AppState, now_ms};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether_protocol::{
    Command, Event, InvitationStatus, LeaveReason, PROTOCOL_VERSION, ParticipantId,
    ParticipantKind, Role, RuleViolation, SESSION_NUMBER_RANGE, ServerMessage, Session, SignalData,
    check_invitation,
};
use tokio::sync::{mpsc, watch};

/// Close codes the service uses.
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_POLICY: u16 = 1008;

/// Asks a connection's tasks to close the socket with a code and a reason. The first reason
/// wins; every waiter sees it.
#[derive(Debug)]
pub struct Kill {
    reason: watch::Sender<Option<(u16, String)>>,
}

impl Default for Kill {
    fn default() -> Self {
        Kill {
            reason: watch::Sender::new(None),
        }
    }
}

impl Kill {
    pub fn fire(&self, code: u16, reason: &str) {
        self.reason.send_if_modified(|r| {
            let first = r.is_none();
            if first {
                *r = Some((code, reason.to_owned()));
            }
            first
        });
    }
    pub async fn fired(&self) -> (u16, String) {
        let mut rx = self.reason.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(r) => r.clone().unwrap_or((CLOSE_NORMAL, String::new())),
            // The sender lives in `self`, so it can't be dropped while we wait.
            Err(_) => (CLOSE_NORMAL, String::new()),
        }
    }
}

/// One participant's WebSocket connection, as the hub sees it.
#[derive(Debug, Clone)]
pub struct Conn {
    pub id: u64,
    pub tx: mpsc::Sender<Arc<str>>,
    pub kill: Arc<Kill>,
}

impl Conn {
    /// Queue a message; a full queue means a slow consumer, which is disconnected.
    pub fn send(&self, text: Arc<str>) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(text) {
            self.kill
                .fire(CLOSE_POLICY, "slow consumer: outgoing queue full");
        }
    }
    pub fn send_msg(&self, msg: &ServerMessage) {
        self.send(msg.to_json().into());
    }
}

#[derive(Debug)]
struct HubInner {
    session: Session,
    conns: HashMap<ParticipantId, Conn>,
    /// Bumped at every disconnect; a grace timer acts only if nothing happened since.
    disconnects: HashMap<ParticipantId, u64>,
    generation: u64,
}

#[derive(Debug)]
pub struct Hub {
    pub id: String,
    pub number: Option<u16>,
    inner: tokio::sync::Mutex<HubInner>,
}

/// What a change stores besides the new state and its events.
#[derive(Debug, Clone, Copy)]
enum Extra<'a> {
    Nothing,
    /// The participant the change admits (the last one of the new state): its token's hash and
    /// the invitation it used.
    Joined(&'a [u8], Option<&'a str>),
    Recording(&'a RecordingRow),
}

/// What `Hub::join` gives the new participant.
#[derive(Debug)]
pub struct Joined {
    pub participant: ParticipantId,
    pub token: String,
    pub role: Role,
}

impl Hub {
    pub fn new(id: String, number: Option<u16>, session: Session) -> Hub {
        Hub {
            id,
            number,
            inner: tokio::sync::Mutex::new(HubInner {
                session,
                conns: HashMap::new(),
                disconnects: HashMap::new(),
                generation: 0,
            }),
        }
    }

    pub async fn session(&self) -> Session {
        self.inner.lock().await.session.clone()
    }

    /// Run a change on a copy of the model; persist it; then make it current and publish it.
    /// A refusal or a storage failure changes nothing.
    async fn change<T>(
        &self,
        state: &AppState,
        extra: Extra<'_>,
        f: impl FnOnce(&mut Session) -> Result<(T, Vec<Event>), RuleViolation>,
    ) -> ApiResult<(T, Vec<Event>)> {
        let now = now_ms();
        let mut inner = self.inner.lock().await;
        let mut next = inner.session.clone();
        let (out, events) = f(&mut next)?;
        if events.is_empty() {
            return Ok((out, events));
        }
        let also = match extra {
            Extra::Nothing => Also::Nothing,
            Extra::Recording(recording) => Also::Recording(recording),
            Extra::Joined(hash, inv) => match next.participants().last() {
                Some(p) => {
                    let account = match p.kind {
                        ParticipantKind::Csr { account } => Some(account),
                        ParticipantKind::Customer => None,
                    };
                    let participant = NewParticipant {
                        token_hash: hash,
                        id: p.id,
                        account,
                    };
                    Also::Joined(participant, inv)
                }
                None => Also::Nothing,
            },
        };
        state.db.apply(&self.id, &next, &events, also, now).await?;
        inner.session = next;
        inner.publish(&events);
        drop(inner);
        if events
            .iter()
            .any(|e| matches!(e, Event::SessionEnded { .. }))
        {
            state.hubs.remove(&self.id);
        }
        Ok((out, events))
    }

    /// Apply a participant's command.
    pub async fn command(
        &self,
        state: &AppState,
        actor: ParticipantId,
        command: Command,
    ) -> ApiResult<Vec<Event>> {
        let now = now_ms();
        Ok(self
            .change(state, Extra::Nothing, |s| {
                Ok(((), s.handle(actor, command, now)?))
            })
            .await?
            .1)
    }

    /// Attach a stored recording to the record: the model decides (the uploader must still be
    /// the controller of this live session), then the recording's row and its event are stored
    /// together and the event is published.
    pub async fn attach_recording(
        &self,
        state: &AppState,
        recording: &RecordingRow,
    ) -> ApiResult<Vec<Event>> {
        let actor = ParticipantId(recording.uploaded_by);
        Ok(self
            .change(state, Extra::Recording(recording), |s| {
                let events = s.attach_recording(
                    actor,
                    &recording.id,
                    recording.size,
                    &recording.sha256,
                    recording.duration_ms,
                )?;
                Ok(((), events))
            })
            .await?
            .1)
    }

    /// Admit the holder of an invitation (or, with `None`, a CSR joining a session it may join).
    pub async fn join(
        self: &Arc<Self>,
        state: &AppState,
        kind: ParticipantKind,
        name: &str,
        invitation: Option<&InvitationRow>,
    ) -> ApiResult<Joined> {
        let now = now_ms();
        if let Some(inv) = invitation {
            let live = self.inner.lock().await.session.is_live();
            check_invitation(
                InvitationStatus {
                    expires_at: inv.expires_at as u64,
                    revoked: inv.revoked_at.is_some(),
                    used: inv.used_at.is_some(),
                    session_live: live,
                },
                now,
            )?;
        }
        let token = new_token();
        let hash = hash_token(&token);
        let ((participant, role), _) = self
            .change(
                state,
                Extra::Joined(&hash, invitation.map(|i| i.id.as_str())),
                |s| {
                    let (id, events) = s.join(kind, name, now)?;
                    Ok(((id, s.role(id).unwrap_or(Role::Customer)), events))
                },
            )
            .await?;
        // Someone who joins but never connects must not linger (a ghost primary customer).
        self.await_first_connection(state, participant).await;
        Ok(Joined {
            participant,
            token,
            role,
        })
    }

    /// Register a participant's new connection (replacing an older one) and mark it connected.
    /// The welcome is queued under the hub lock, so it precedes every later event and roster.
    pub async fn connect(
        &self,
        state: &AppState,
        participant: ParticipantId,
        conn: Conn,
        heartbeat_ms: u64,
    ) -> ApiResult<()> {
        // One critical section: the roster must never show the participant connected before
        // its connection is registered, or a peer's offer sent on seeing it would be refused.
        let now = now_ms();
        let mut inner = self.inner.lock().await;
        let mut next = inner.session.clone();
        // Refused (nothing changes) when the participant has left or the session has ended.
        let events = next.set_connected(participant, true)?;
        if !events.is_empty() {
            state
                .db
                .apply(&self.id, &next, &events, Also::Nothing, now)
                .await?;
        }
        inner.session = next;
        let role = inner.session.role(participant).unwrap_or(Role::Customer);
        conn.send_msg(&ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            session: self.id.clone(),
            you: participant,
            role,
            heartbeat_ms,
            roster: inner.session.roster(),
        });
        if let Some(old) = inner.conns.insert(participant, conn) {
            old.kill.fire(
                CLOSE_POLICY,
                "replaced by a newer connection of the same participant",
            );
        }
        inner.disconnects.remove(&participant);
        inner.publish(&events);
        Ok(())
    }

    /// Whether a participant is present in this (live) session.
    pub async fn is_present(&self, participant: ParticipantId) -> bool {
        let inner = self.inner.lock().await;
        inner.session.is_live()
            && inner
                .session
                .participant(participant)
                .is_some_and(|p| p.present())
    }

    /// Forget a closed connection; if it was the participant's current one, mark the participant
    /// disconnected and start its grace period.
    pub async fn disconnect(
        self: &Arc<Self>,
        state: &AppState,
        participant: ParticipantId,
        conn_id: u64,
    ) {
        let generation = {
            let mut inner = self.inner.lock().await;
            if inner.conns.get(&participant).map(|c| c.id) != Some(conn_id) {
                return;
            }
            inner.conns.remove(&participant);
            inner.generation += 1;
            let g = inner.generation;
            inner.disconnects.insert(participant, g);
            g
        };
        if let Err(e) = self
            .change(state, Extra::Nothing, |s| {
                Ok(((), s.set_connected(participant, false)?))
            })
            .await
        {
            tracing::debug!(%e, "disconnect of a participant no longer present");
            return;
        }
        self.start_grace(state, participant, generation);
    }

    /// After the grace period, a participant still disconnected times out (leaves).
    pub fn start_grace(
        self: &Arc<Self>,
        state: &AppState,
        participant: ParticipantId,
        generation: u64,
    ) {
        let hub = Arc::clone(self);
        let state = state.clone();
        let grace = Duration::from_secs(state.config.reconnect_grace_secs);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let due = {
                let inner = hub.inner.lock().await;
                inner.disconnects.get(&participant) == Some(&generation)
                    && inner
                        .session
                        .participant(participant)
                        .is_some_and(|p| p.present() && !p.connected)
            };
            if due {
                let now = now_ms();
                if let Err(e) = hub
                    .change(&state, Extra::Nothing, |s| {
                        Ok(((), s.time_out(participant, now)?))
                    })
                    .await
                {
                    tracing::debug!(%e, "grace timer found nothing to do");
                }
            }
        });
    }

    /// Start the grace period of a participant that is present but not connected.
    pub async fn await_first_connection(
        self: &Arc<Self>,
        state: &AppState,
        participant: ParticipantId,
    ) {
        let generation = {
            let mut inner = self.inner.lock().await;
            inner.generation += 1;
            let g = inner.generation;
            inner.disconnects.insert(participant, g);
            g
        };
        self.start_grace(state, participant, generation);
    }

    /// After a restart nobody is connected: every present participant gets a grace period.
    pub async fn resume_after_restart(self: &Arc<Self>, state: &AppState) {
        let present: Vec<ParticipantId> = {
            let mut inner = self.inner.lock().await;
            let ids: Vec<_> = inner.session.present_participants().map(|p| p.id).collect();
            for id in &ids {
                inner.generation += 1;
                let g = inner.generation;
                inner.disconnects.insert(*id, g);
            }
            ids
        };
        for id in present {
            let _ = self
                .change(state, Extra::Nothing, |s| {
                    Ok(((), s.set_connected(id, false)?))
                })
                .await;
            let g = self
                .inner
                .lock()
                .await
                .disconnects
                .get(&id)
                .copied()
                .unwrap_or(0);
            self.start_grace(state, id, g);
        }
    }

    /// Relay a signaling payload to one participant of this session.
    pub async fn relay(
        &self,
        from: ParticipantId,
        to: ParticipantId,
        data: SignalData,
    ) -> Result<(), ServerMessage> {
        let inner = self.inner.lock().await;
        inner
            .session
            .check_relay(from, to)
            .map_err(|v| ServerMessage::error(v.code(), &v, Some("signal")))?;
        let conn = inner.conns.get(&to).ok_or_else(|| {
            ServerMessage::error(
                "not_connected",
                format!("{to} is in the session but not connected right now; retry when the roster shows it connected"),
                Some("signal"),
            )
        })?;
        conn.send_msg(&ServerMessage::Signal { from, data });
        Ok(())
    }

    pub async fn close_all(&self, code: u16, reason: &str) {
        for conn in self.inner.lock().await.conns.values() {
            conn.kill.fire(code, reason);
        }
    }
}

impl HubInner {
    /// Send events and the new roster to every connection, CSR notes to CSRs only; close the
    /// connections of participants who left, and all of them when the session ended.
    fn publish(&mut self, events: &[Event]) {
        let roster: Arc<str> = ServerMessage::Roster {
            roster: self.session.roster(),
        }
        .to_json()
        .into();
        let encode = |e: Event| -> Arc<str> { ServerMessage::Event { event: e }.to_json().into() };
        let for_csr: Vec<Arc<str>> = events.iter().cloned().map(encode).collect();
        let for_customer: Vec<Arc<str>> = events
            .iter()
            .filter_map(Event::for_customer)
            .map(encode)
            .collect();
        for (id, conn) in &self.conns {
            let is_csr = self
                .session
                .participant(*id)
                .is_some_and(|p| p.kind.is_csr());
            for msg in if is_csr { &for_csr } else { &for_customer } {
                conn.send(msg.clone());
            }
            conn.send(roster.clone());
        }
        let ended = events.iter().find_map(|e| match e {
            Event::SessionEnded { reason, notes, .. } => Some((*reason, notes)),
            _ => None,
        });
        if let Some((reason, notes)) = ended {
            for (id, conn) in self.conns.drain() {
                let is_csr = self
                    .session
                    .participant(id)
                    .is_some_and(|p| p.kind.is_csr());
                let notes = if is_csr { notes.clone() } else { String::new() };
                conn.send_msg(&ServerMessage::Ended { reason, notes });
                conn.kill.fire(CLOSE_NORMAL, "the session has ended");
            }
            return;
        }
        for event in events {
            if let Event::ParticipantLeft {
                participant,
                reason,
            } = event
                && let Some(conn) = self.conns.remove(participant)
            {
                let why = match reason {
                    LeaveReason::TimedOut => "your connection timed out",
                    _ => "you left the session",
                };
                conn.kill.fire(CLOSE_NORMAL, why);
            }
        }
    }
}

/// Every live session, by id and by short-code number.
#[derive(Debug, Default)]
pub struct Hubs {
    inner: Mutex<HubsInner>,
}

#[derive(Debug, Default)]
struct HubsInner {
    by_id: HashMap<String, Arc<Hub>>,
    by_number: HashMap<u16, String>,
}

impl Hubs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubsInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, id: &str) -> Option<Arc<Hub>> {
        self.lock().by_id.get(id).cloned()
    }

    pub fn by_number(&self, number: u16) -> Option<Arc<Hub>> {
        let inner = self.lock();
        inner
            .by_number
            .get(&number)
            .and_then(|id| inner.by_id.get(id))
            .cloned()
    }

    /// A free session number, reserved for `id`; `None` when all are taken (then the session's
    /// invitations have links only).
    pub fn reserve_number(&self, id: &str) -> Option<u16> {
        let mut inner = self.lock();
        let (lo, hi) = (*SESSION_NUMBER_RANGE.start(), *SESSION_NUMBER_RANGE.end());
        let span = u32::from(hi - lo) + 1;
        if inner.by_number.len() as u32 >= span {
            return None;
        }
        let start = random_below(span);
        let n = (0..span)
            .map(|i| lo + ((start + i) % span) as u16)
            .find(|n| !inner.by_number.contains_key(n))?;
        inner.by_number.insert(n, id.to_owned());
        Some(n)
    }

    pub fn insert(&self, hub: Arc<Hub>) {
        let mut inner = self.lock();
        if let Some(n) = hub.number {
            inner.by_number.insert(n, hub.id.clone());
        }
        inner.by_id.insert(hub.id.clone(), hub);
    }

    pub fn remove(&self, id: &str) {
        let mut inner = self.lock();
        if let Some(hub) = inner.by_id.remove(id)
            && let Some(n) = hub.number
        {
            inner.by_number.remove(&n);
        }
    }

    pub fn release_number(&self, number: u16) {
        self.lock().by_number.remove(&number);
    }

    pub fn all(&self) -> Vec<Arc<Hub>> {
        self.lock().by_id.values().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.lock().by_id.len()
    }
}
