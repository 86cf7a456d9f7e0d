//! The session state machine: every role rule of the spec, applied to commands from participants.
//!
//! `Session` is deterministic and clock-free: callers pass `now`. A command either yields events
//! (and the state changes) or is refused with a [`RuleViolation`] (and nothing changes).

use crate::activity::{Activity, Capability, ConsentState};
use crate::events::{
    ChatRecord, Command, EndReason, Event, InviteRole, LeaveReason, Role, StopReason,
    TransferDirection, TransferReport,
};
use crate::ids::{AccountId, Millis, ParticipantId};
use crate::limits::{MAX_NAME_CHARS, MAX_NOTES_BYTES, MAX_TRACKING_CODE_CHARS, check_text};
use crate::peer::MAX_CHAT_CHARS;
use crate::settings::{FileTransferMode, SessionPolicy, SessionType};
use crate::violation::RuleViolation;
use serde::{Deserialize, Serialize};

/// Whether a participant is a CSR (with its account) or a customer (no account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParticipantKind {
    Csr { account: AccountId },
    Customer,
}

impl ParticipantKind {
    pub fn is_csr(self) -> bool {
        matches!(self, Self::Csr { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub id: ParticipantId,
    pub name: String,
    #[serde(flatten)]
    pub kind: ParticipantKind,
    pub joined_at: Millis,
    pub left_at: Option<Millis>,
    pub connected: bool,
}

impl Participant {
    pub fn present(&self) -> bool {
        self.left_at.is_none()
    }
}

/// An activity in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunningActivity {
    pub activity: Activity,
    pub actor: ParticipantId,
    pub target: Option<ParticipantId>,
    pub since: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub customer: ParticipantId,
    pub capability: Capability,
    pub state: ConsentState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SessionState {
    Live,
    Ended {
        at: Millis,
        by: Option<ParticipantId>,
        reason: EndReason,
    },
}

/// One participant as the roster shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    pub id: ParticipantId,
    pub name: String,
    pub role: Role,
    pub connected: bool,
}

/// What every participant sees of the session: pushed after every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    pub live: bool,
    pub controller: ParticipantId,
    pub primary: Option<ParticipantId>,
    pub participants: Vec<RosterEntry>,
    pub activities: Vec<RunningActivity>,
    pub consents: Vec<Consent>,
    /// True while the session is being recorded: every participant shows an indicator.
    pub recording: bool,
}

/// A live or ended support session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub session_type: String,
    pub tracking_code: Option<String>,
    pub policy: SessionPolicy,
    pub started_at: Millis,
    pub state: SessionState,
    participants: Vec<Participant>,
    controller: ParticipantId,
    primary: Option<ParticipantId>,
    /// CSRs that handed control away and have not got it back (rule 7).
    relinquished: Vec<ParticipantId>,
    activities: Vec<RunningActivity>,
    consents: Vec<Consent>,
    notes: String,
}

type Outcome = Result<Vec<Event>, RuleViolation>;

/// Chat lines in one `record_chat` command.
pub const MAX_RECORDED_CHAT_LINES: usize = 200;

impl Session {
    /// Rule 1: a CSR starts a session of a type, with a tracking code where the type needs one.
    /// The starting CSR is participant 1 and the controller.
    pub fn start(
        csr: AccountId,
        csr_name: &str,
        session_type: &SessionType,
        tracking_code: Option<&str>,
        policy: SessionPolicy,
        now: Millis,
    ) -> Result<(Session, Vec<Event>), RuleViolation> {
        let name = check_text("name", csr_name, MAX_NAME_CHARS, false)?;
        let code = tracking_code.map(str::trim).filter(|c| !c.is_empty());
        if let Some(code) = code {
            check_text("tracking_code", code, MAX_TRACKING_CODE_CHARS, false)?;
        } else if session_type.requires_tracking_code {
            return Err(RuleViolation::TrackingCodeRequired {
                session_type: session_type.name.clone(),
            });
        }
        let id = ParticipantId(1);
        let session = Session {
            session_type: session_type.name.clone(),
            tracking_code: code.map(str::to_owned),
            policy,
            started_at: now,
            state: SessionState::Live,
            participants: vec![Participant {
                id,
                name: name.clone(),
                kind: ParticipantKind::Csr { account: csr },
                joined_at: now,
                left_at: None,
                connected: false,
            }],
            controller: id,
            primary: None,
            relinquished: Vec::new(),
            activities: Vec::new(),
            consents: Vec::new(),
            notes: String::new(),
        };
        let events = vec![
            Event::SessionStarted {
                by: id,
                session_type: session.session_type.clone(),
                tracking_code: session.tracking_code.clone(),
            },
            Event::ParticipantJoined {
                participant: id,
                name,
                role: Role::Controller,
            },
        ];
        Ok((session, events))
    }

    // ---- getters ----

    pub fn is_live(&self) -> bool {
        self.state == SessionState::Live
    }
    pub fn controller(&self) -> ParticipantId {
        self.controller
    }
    pub fn primary(&self) -> Option<ParticipantId> {
        self.primary
    }
    pub fn notes(&self) -> &str {
        &self.notes
    }
    pub fn participants(&self) -> &[Participant] {
        &self.participants
    }
    pub fn activities(&self) -> &[RunningActivity] {
        &self.activities
    }
    pub fn consents(&self) -> &[Consent] {
        &self.consents
    }
    pub fn participant(&self, id: ParticipantId) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == id)
    }
    fn present(&self, id: ParticipantId) -> Option<&Participant> {
        self.participant(id).filter(|p| p.present())
    }
    fn participant_mut(&mut self, id: ParticipantId) -> Option<&mut Participant> {
        self.participants.iter_mut().find(|p| p.id == id)
    }
    pub fn present_participants(&self) -> impl Iterator<Item = &Participant> {
        self.participants.iter().filter(|p| p.present())
    }
    pub fn has_customer(&self) -> bool {
        self.present_participants().any(|p| !p.kind.is_csr())
    }
    /// The participant a CSR account currently is in this session, if present.
    pub fn present_csr(&self, account: AccountId) -> Option<ParticipantId> {
        self.present_participants()
            .find(|p| p.kind == ParticipantKind::Csr { account })
            .map(|p| p.id)
    }
    pub fn consent(&self, customer: ParticipantId, capability: Capability) -> Option<ConsentState> {
        self.consents
            .iter()
            .find(|c| c.customer == customer && c.capability == capability)
            .map(|c| c.state)
    }
    pub fn is_relinquished(&self, id: ParticipantId) -> bool {
        self.relinquished.contains(&id)
    }
    pub fn is_running(&self, activity: Activity) -> bool {
        self.activities.iter().any(|a| a.activity == activity)
    }

    pub fn role(&self, id: ParticipantId) -> Option<Role> {
        let p = self.participant(id)?;
        Some(match p.kind {
            ParticipantKind::Csr { .. } if id == self.controller => Role::Controller,
            ParticipantKind::Csr { .. } => Role::Csr,
            ParticipantKind::Customer if Some(id) == self.primary => Role::PrimaryCustomer,
            ParticipantKind::Customer => Role::Customer,
        })
    }

    pub fn roster(&self) -> Roster {
        Roster {
            live: self.is_live(),
            controller: self.controller,
            primary: self.primary,
            participants: self
                .present_participants()
                .filter_map(|p| {
                    Some(RosterEntry {
                        id: p.id,
                        name: p.name.clone(),
                        role: self.role(p.id)?,
                        connected: p.connected,
                    })
                })
                .collect(),
            activities: self.activities.clone(),
            consents: self.consents.clone(),
            recording: self.is_running(Activity::Recording),
        }
    }

    // ---- checks shared by commands ----

    fn live(&self) -> Result<(), RuleViolation> {
        if self.is_live() {
            Ok(())
        } else {
            Err(RuleViolation::SessionEnded)
        }
    }

    fn actor(&self, actor: ParticipantId) -> Result<&Participant, RuleViolation> {
        self.live()?;
        self.present(actor)
            .ok_or(RuleViolation::NotInSession { participant: actor })
    }

    /// Whether `from` may send a signaling message to `to`: both present in this live session.
    pub fn check_relay(&self, from: ParticipantId, to: ParticipantId) -> Result<(), RuleViolation> {
        self.actor(from)?;
        if from == to {
            return Err(RuleViolation::SelfTarget);
        }
        self.present(to)
            .map(|_| ())
            .ok_or(RuleViolation::UnknownParticipant { participant: to })
    }

    // ---- joining and connections ----

    /// Admit a participant who holds a valid invitation (the service checks the invitation).
    /// The first customer present becomes primary.
    pub fn join(
        &mut self,
        kind: ParticipantKind,
        name: &str,
        now: Millis,
    ) -> Result<(ParticipantId, Vec<Event>), RuleViolation> {
        self.live()?;
        let name = check_text("name", name, MAX_NAME_CHARS, false)?;
        if let ParticipantKind::Csr { account } = kind
            && self.present_csr(account).is_some()
        {
            return Err(RuleViolation::AlreadyInSession);
        }
        let id = ParticipantId(self.participants.last().map_or(1, |p| p.id.0 + 1));
        self.participants.push(Participant {
            id,
            name: name.clone(),
            kind,
            joined_at: now,
            left_at: None,
            connected: false,
        });
        let mut events = Vec::new();
        if kind == ParticipantKind::Customer && self.primary.is_none() {
            self.primary = Some(id);
        }
        let role = self.role(id).unwrap_or(Role::Customer);
        events.push(Event::ParticipantJoined {
            participant: id,
            name,
            role,
        });
        if self.primary == Some(id) {
            events.push(Event::PrimaryChanged {
                previous: None,
                primary: Some(id),
            });
        }
        Ok((id, events))
    }

    /// A participant's signaling connection came up or went down.
    pub fn set_connected(&mut self, id: ParticipantId, connected: bool) -> Outcome {
        self.actor(id)?;
        let p = self
            .participant_mut(id)
            .ok_or(RuleViolation::NotInSession { participant: id })?;
        if p.connected == connected {
            return Ok(Vec::new());
        }
        p.connected = connected;
        Ok(vec![Event::ConnectionChanged {
            participant: id,
            connected,
        }])
    }

    /// A participant's connection stayed down past the grace period: it leaves. A controller that
    /// drops hands control to the longest-present other CSR, or ends the session when alone.
    pub fn time_out(&mut self, id: ParticipantId, now: Millis) -> Outcome {
        self.actor(id)?;
        let mut events = Vec::new();
        if id == self.controller {
            let heir = self
                .present_participants()
                .filter(|p| p.kind.is_csr() && p.id != id)
                .min_by_key(|p| (!p.connected, p.joined_at, p.id))
                .map(|p| p.id);
            match heir {
                Some(to) => self.transfer_control(id, to, &mut events),
                None => {
                    self.end(Some(id), EndReason::ControllerTimedOut, now, &mut events);
                    return Ok(events);
                }
            }
        }
        self.remove(id, LeaveReason::TimedOut, now, &mut events);
        Ok(events)
    }

    // ---- commands ----

    /// Apply a command from `actor`. On refusal nothing changes.
    pub fn handle(&mut self, actor: ParticipantId, command: Command, now: Millis) -> Outcome {
        let me = self.actor(actor)?.clone();
        let mut events = Vec::new();
        match command {
            Command::Invite { role } => {
                if !me.kind.is_csr() {
                    return Err(RuleViolation::CsrOnly);
                }
                events.push(Event::InvitationCreated { by: actor, role });
            }
            Command::MakePrimary { customer } => {
                self.require_controller(&me)?;
                let target = self
                    .present(customer)
                    .ok_or(RuleViolation::UnknownParticipant {
                        participant: customer,
                    })?;
                if target.kind.is_csr() {
                    return Err(RuleViolation::NotACustomer {
                        participant: customer,
                    });
                }
                if self.primary == Some(customer) {
                    return Err(RuleViolation::AlreadyPrimary {
                        participant: customer,
                    });
                }
                self.set_primary(Some(customer), &mut events);
            }
            Command::TransferControl { to } => {
                self.require_controller(&me)?;
                if to == actor {
                    return Err(RuleViolation::AlreadyController);
                }
                let target = self
                    .present(to)
                    .ok_or(RuleViolation::UnknownParticipant { participant: to })?;
                if !target.kind.is_csr() {
                    return Err(RuleViolation::NotACsr { participant: to });
                }
                self.transfer_control(actor, to, &mut events);
            }
            Command::Leave => {
                if actor == self.controller {
                    if self
                        .present_participants()
                        .any(|p| p.kind.is_csr() && p.id != actor)
                    {
                        return Err(RuleViolation::MustTransferControlFirst);
                    }
                    self.end(Some(actor), EndReason::ControllerLeft, now, &mut events);
                } else {
                    self.remove(actor, LeaveReason::Left, now, &mut events);
                }
            }
            Command::End { notes } => {
                if !me.kind.is_csr() {
                    return Err(RuleViolation::CustomersCannotEnd);
                }
                self.require_controller(&me)?;
                let notes = check_text("notes", &notes, MAX_NOTES_BYTES, true)?;
                if !notes.is_empty() {
                    self.notes = notes;
                }
                self.end(Some(actor), EndReason::Ended, now, &mut events);
            }
            Command::SaveNotes { notes } => {
                if !me.kind.is_csr() {
                    return Err(RuleViolation::CsrOnly);
                }
                let notes = check_text("notes", &notes, MAX_NOTES_BYTES, true)?;
                self.notes = notes.clone();
                events.push(Event::NotesSaved { by: actor, notes });
            }
            Command::StartActivity { activity, target } => {
                let target = self.check_start(&me, activity, target)?;
                self.activities.push(RunningActivity {
                    activity,
                    actor,
                    target,
                    since: now,
                });
                events.push(Event::ActivityStarted {
                    activity,
                    actor,
                    target,
                });
            }
            Command::StopActivity { activity } => {
                let Some(i) = self
                    .activities
                    .iter()
                    .position(|a| a.activity == activity && a.actor == actor)
                else {
                    return Err(RuleViolation::ActivityNotRunning { activity });
                };
                let a = self.activities.remove(i);
                events.push(stopped(a, StopReason::Stopped));
            }
            Command::RequestConsent {
                customer,
                capability,
            } => {
                self.require_support_csr(&me)?;
                let target = self
                    .present(customer)
                    .ok_or(RuleViolation::UnknownParticipant {
                        participant: customer,
                    })?;
                if target.kind.is_csr() {
                    return Err(RuleViolation::ConsentIsForCustomers);
                }
                if self.consent(customer, capability) == Some(ConsentState::Granted) {
                    return Err(RuleViolation::ConsentAlreadyGiven { capability });
                }
                self.set_consent(customer, capability, ConsentState::Pending);
                events.push(Event::ConsentRequested {
                    customer,
                    capability,
                    by: actor,
                });
            }
            Command::AnswerConsent {
                capability,
                granted,
            } => {
                if me.kind.is_csr() {
                    return Err(RuleViolation::ConsentIsForCustomers);
                }
                if self.consent(actor, capability) != Some(ConsentState::Pending) {
                    return Err(RuleViolation::NoPendingConsent { capability });
                }
                let state = if granted {
                    ConsentState::Granted
                } else {
                    ConsentState::Denied
                };
                self.set_consent(actor, capability, state);
                events.push(Event::ConsentAnswered {
                    customer: actor,
                    capability,
                    granted,
                });
            }
            Command::RevokeConsent { capability } => {
                if me.kind.is_csr() {
                    return Err(RuleViolation::ConsentIsForCustomers);
                }
                if self.consent(actor, capability) != Some(ConsentState::Granted) {
                    return Err(RuleViolation::ConsentNotGiven { capability });
                }
                self.set_consent(actor, capability, ConsentState::Revoked);
                events.push(Event::ConsentRevoked {
                    customer: actor,
                    capability,
                });
                self.stop_where(
                    |a| {
                        a.target == Some(actor) && a.activity.required_consent() == Some(capability)
                    },
                    StopReason::ConsentRevoked,
                    &mut events,
                );
            }
            Command::ReportTransfer { mut transfer } => {
                self.check_transfer_report(&transfer)?;
                transfer.name = transfer.name.trim().to_owned();
                transfer.sha256.make_ascii_lowercase();
                events.push(Event::FileTransferRecorded {
                    by: actor,
                    transfer,
                });
            }
            Command::RecordChat { lines } => {
                self.require_controller(&me)?;
                let lines = self.check_chat_records(lines)?;
                events.push(Event::ChatRecorded { by: actor, lines });
            }
        }
        Ok(events)
    }

    /// Whether `actor` may attach a recording to the record now: only the controller of a live
    /// session whose policy allows recording (spec: recording; the controller is the one that
    /// runs the `recording` activity). A service checks this before accepting the file, and
    /// [`Session::attach_recording`] checks it again.
    pub fn check_attach_recording(&self, actor: ParticipantId) -> Result<(), RuleViolation> {
        let me = self.actor(actor)?;
        self.require_controller(me)?;
        if !self.policy.recording_allowed {
            return Err(RuleViolation::RecordingDisabled);
        }
        Ok(())
    }

    /// The controller attaches a recording the service has stored: `id` is the service's id of
    /// the file, `sha256` its lower-case hex digest. Refused as [`Session::check_attach_recording`]
    /// refuses, or with `invalid_field` for an empty id or a digest that is not 64 hex digits.
    pub fn attach_recording(
        &mut self,
        actor: ParticipantId,
        id: &str,
        size: u64,
        sha256: &str,
        duration_ms: Option<u64>,
    ) -> Outcome {
        self.check_attach_recording(actor)?;
        let invalid = |field: &str, reason: &str| RuleViolation::InvalidField {
            field: field.into(),
            reason: reason.into(),
        };
        if id.trim().is_empty() {
            return Err(invalid("recording.id", "must not be empty"));
        }
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("recording.sha256", "expected 64 hex digits"));
        }
        Ok(vec![Event::RecordingAttached {
            by: actor,
            id: id.to_owned(),
            size,
            sha256: sha256.to_ascii_lowercase(),
            duration_ms,
        }])
    }

    /// Chat lines for the record: at most `MAX_RECORDED_CHAT_LINES` a batch, each with a valid
    /// text, sent by and to participants of this session.
    fn check_chat_records(&self, lines: Vec<ChatRecord>) -> Result<Vec<ChatRecord>, RuleViolation> {
        if lines.is_empty() || lines.len() > MAX_RECORDED_CHAT_LINES {
            return Err(RuleViolation::InvalidField {
                field: "lines".into(),
                reason: format!("expected 1 to {MAX_RECORDED_CHAT_LINES} lines"),
            });
        }
        lines
            .into_iter()
            .map(|mut line| {
                line.text = check_text("lines.text", &line.text, MAX_CHAT_CHARS, false)?;
                for id in std::iter::once(&line.from).chain(&line.to) {
                    if self.participant(*id).is_none() {
                        return Err(RuleViolation::UnknownParticipant { participant: *id });
                    }
                }
                Ok(line)
            })
            .collect()
    }

    fn require_controller(&self, me: &Participant) -> Result<(), RuleViolation> {
        if me.id == self.controller {
            Ok(())
        } else if me.kind.is_csr() {
            Err(RuleViolation::ControllerOnly)
        } else {
            Err(RuleViolation::CsrOnly)
        }
    }

    /// A CSR with support rights: any CSR that has not handed control away (rule 7).
    fn require_support_csr(&self, me: &Participant) -> Result<(), RuleViolation> {
        if !me.kind.is_csr() {
            return Err(RuleViolation::CsrOnly);
        }
        if self.is_relinquished(me.id) {
            return Err(RuleViolation::ControlTransferredAway);
        }
        Ok(())
    }

    /// Every rule an activity start must pass; returns the resolved target.
    fn check_start(
        &self,
        me: &Participant,
        activity: Activity,
        target: Option<ParticipantId>,
    ) -> Result<Option<ParticipantId>, RuleViolation> {
        if self
            .activities
            .iter()
            .any(|a| a.activity == activity && a.actor == me.id)
        {
            return Err(RuleViolation::ActivityAlreadyRunning { activity });
        }
        match activity {
            Activity::CustomerShare => {
                if me.kind.is_csr() {
                    return Err(RuleViolation::ActivityNotAllowed { activity });
                }
                if self.primary != Some(me.id) {
                    return Err(RuleViolation::NotPrimary { participant: me.id });
                }
                Ok(None)
            }
            Activity::Video => {
                if !self.has_customer() {
                    return Err(RuleViolation::NoCustomerYet);
                }
                Ok(None)
            }
            Activity::ShareDesktop | Activity::ShareApplication => {
                self.require_support_csr(me)?;
                if !self.has_customer() {
                    return Err(RuleViolation::NoCustomerYet);
                }
                Ok(None)
            }
            Activity::FileTransferBasic => {
                self.require_support_csr(me)?;
                self.require_controller(me)?;
                self.check_file_transfer(FileTransferMode::Basic)?;
                Ok(None)
            }
            _ => {
                // Aimed at the primary customer's machine.
                self.require_support_csr(me)?;
                if activity.controller_only() {
                    self.require_controller(me)?;
                }
                let primary = self.primary.ok_or(RuleViolation::NoCustomerYet)?;
                let target = target.unwrap_or(primary);
                self.present(target)
                    .ok_or(RuleViolation::UnknownParticipant {
                        participant: target,
                    })?;
                if target != primary {
                    return Err(RuleViolation::NotPrimary {
                        participant: target,
                    });
                }
                match activity {
                    Activity::FileTransferAdvanced => {
                        self.check_file_transfer(FileTransferMode::Advanced)?
                    }
                    a if a.is_application_sharing()
                        && self
                            .activities
                            .iter()
                            .any(|r| r.activity.is_file_transfer()) =>
                    {
                        return Err(RuleViolation::FileTransferActive);
                    }
                    Activity::Recording if !self.policy.recording_allowed => {
                        return Err(RuleViolation::RecordingDisabled);
                    }
                    _ => {}
                }
                if let Some(capability) = activity.required_consent()
                    && self.consent(target, capability) != Some(ConsentState::Granted)
                {
                    return Err(RuleViolation::ConsentRequired {
                        participant: target,
                        capability,
                    });
                }
                Ok(Some(target))
            }
        }
    }

    /// Rules 10 and 11.
    fn check_file_transfer(&self, mode: FileTransferMode) -> Result<(), RuleViolation> {
        if self.policy.file_transfer < mode {
            return Err(RuleViolation::FileTransferDisabled);
        }
        if self
            .activities
            .iter()
            .any(|a| a.activity.is_application_sharing())
        {
            return Err(RuleViolation::ApplicationSharingActive);
        }
        Ok(())
    }

    fn check_transfer_report(&self, t: &TransferReport) -> Result<(), RuleViolation> {
        let needed = match t.direction {
            TransferDirection::Published => FileTransferMode::Basic,
            TransferDirection::ToCustomer | TransferDirection::FromCustomer => {
                FileTransferMode::Advanced
            }
        };
        if self.policy.file_transfer < needed {
            return Err(RuleViolation::FileTransferDisabled);
        }
        check_text("transfer.name", &t.name, 255, false)?;
        if !(t.sha256.is_empty()
            || (t.sha256.len() == 64 && t.sha256.bytes().all(|b| b.is_ascii_hexdigit())))
        {
            return Err(RuleViolation::InvalidField {
                field: "transfer.sha256".into(),
                reason: "expected 64 hex digits or empty".into(),
            });
        }
        match self.participant(t.customer) {
            Some(p) if !p.kind.is_csr() => Ok(()),
            Some(_) => Err(RuleViolation::NotACustomer {
                participant: t.customer,
            }),
            None => Err(RuleViolation::UnknownParticipant {
                participant: t.customer,
            }),
        }
    }

    // ---- state changes shared by commands ----

    fn set_primary(&mut self, primary: Option<ParticipantId>, events: &mut Vec<Event>) {
        let previous = self.primary;
        if previous == primary {
            return;
        }
        if let Some(prev) = previous {
            self.stop_where(
                |a| {
                    a.target == Some(prev)
                        || (a.actor == prev && a.activity == Activity::CustomerShare)
                },
                StopReason::PrimaryChanged,
                events,
            );
        }
        self.primary = primary;
        events.push(Event::PrimaryChanged { previous, primary });
    }

    fn transfer_control(
        &mut self,
        from: ParticipantId,
        to: ParticipantId,
        events: &mut Vec<Event>,
    ) {
        self.stop_where(
            |a| a.actor == from && a.activity.is_support(),
            StopReason::ControlTransferred,
            events,
        );
        self.controller = to;
        self.relinquished.retain(|&p| p != to);
        if !self.relinquished.contains(&from) {
            self.relinquished.push(from);
        }
        events.push(Event::ControlTransferred { from, to });
    }

    fn set_consent(
        &mut self,
        customer: ParticipantId,
        capability: Capability,
        state: ConsentState,
    ) {
        match self
            .consents
            .iter_mut()
            .find(|c| c.customer == customer && c.capability == capability)
        {
            Some(c) => c.state = state,
            None => self.consents.push(Consent {
                customer,
                capability,
                state,
            }),
        }
    }

    fn stop_where(
        &mut self,
        pred: impl Fn(&RunningActivity) -> bool,
        reason: StopReason,
        events: &mut Vec<Event>,
    ) {
        let mut kept = Vec::with_capacity(self.activities.len());
        for a in self.activities.drain(..) {
            if pred(&a) {
                events.push(stopped(a, reason));
            } else {
                kept.push(a);
            }
        }
        self.activities = kept;
    }

    /// A non-controller leaves; a primary customer is replaced by the longest-present customer.
    fn remove(
        &mut self,
        id: ParticipantId,
        reason: LeaveReason,
        now: Millis,
        events: &mut Vec<Event>,
    ) {
        self.stop_where(
            |a| a.actor == id || a.target == Some(id),
            StopReason::ParticipantLeft,
            events,
        );
        if let Some(p) = self.participant_mut(id) {
            p.left_at = Some(now);
            p.connected = false;
        }
        self.relinquished.retain(|&p| p != id);
        events.push(Event::ParticipantLeft {
            participant: id,
            reason,
        });
        if self.primary == Some(id) {
            let next = self
                .present_participants()
                .filter(|p| !p.kind.is_csr())
                .min_by_key(|p| (p.joined_at, p.id))
                .map(|p| p.id);
            self.primary = None;
            events.push(Event::PrimaryChanged {
                previous: Some(id),
                primary: next,
            });
            self.primary = next;
        }
    }

    /// Rule 8: ending stops every activity and disconnects everyone.
    fn end(
        &mut self,
        by: Option<ParticipantId>,
        reason: EndReason,
        now: Millis,
        events: &mut Vec<Event>,
    ) {
        self.stop_where(|_| true, StopReason::SessionEnded, events);
        for p in self.participants.iter_mut().filter(|p| p.left_at.is_none()) {
            p.left_at = Some(now);
            p.connected = false;
            events.push(Event::ParticipantLeft {
                participant: p.id,
                reason: LeaveReason::SessionEnded,
            });
        }
        self.primary = None;
        self.state = SessionState::Ended {
            at: now,
            by,
            reason,
        };
        events.push(Event::SessionEnded {
            by,
            reason,
            notes: self.notes.clone(),
        });
    }

    /// The invariants every reachable state holds; property tests call this after each step.
    pub fn check_invariants(&self) -> Result<(), String> {
        if let Some(p) = self.primary {
            match self.present(p) {
                Some(pp) if !pp.kind.is_csr() => {}
                _ => return Err(format!("primary {p} is not a present customer")),
            }
        }
        if self.is_live() {
            match self.present(self.controller) {
                Some(c) if c.kind.is_csr() => {}
                _ => return Err("live session without a present CSR controller".into()),
            }
            if self.is_relinquished(self.controller) {
                return Err("controller is marked as having handed control away".into());
            }
            if self.primary.is_none() && self.has_customer() {
                return Err("customers present but none is primary".into());
            }
        } else {
            if !self.activities.is_empty() {
                return Err("ended session has running activities".into());
            }
            if self.present_participants().next().is_some() {
                return Err("ended session has present participants".into());
            }
        }
        if self
            .activities
            .iter()
            .any(|a| a.activity.is_application_sharing())
            && self
                .activities
                .iter()
                .any(|a| a.activity.is_file_transfer())
        {
            return Err("file transfer runs while an application is viewed or controlled".into());
        }
        for a in &self.activities {
            if a.activity.is_support() && self.is_relinquished(a.actor) {
                return Err(format!(
                    "{} runs {} after handing control away",
                    a.actor, a.activity
                ));
            }
            if a.activity.controller_only() && a.actor != self.controller {
                return Err(format!("{} runs {} without control", a.actor, a.activity));
            }
            if let Some(t) = a.target {
                if Some(t) != self.primary {
                    return Err(format!("{} targets {t}, who is not primary", a.activity));
                }
                if let Some(cap) = a.activity.required_consent()
                    && self.consent(t, cap) != Some(ConsentState::Granted)
                {
                    return Err(format!("{} runs without {cap} consent", a.activity));
                }
            }
        }
        Ok(())
    }
}

fn stopped(a: RunningActivity, reason: StopReason) -> Event {
    Event::ActivityStopped {
        activity: a.activity,
        actor: a.actor,
        target: a.target,
        reason,
    }
}

impl InviteRole {
    /// The participant kind an invitation of this role admits, given the joining CSR's account.
    pub fn kind(self, account: Option<AccountId>) -> Option<ParticipantKind> {
        match (self, account) {
            (InviteRole::Customer, _) => Some(ParticipantKind::Customer),
            (InviteRole::Csr, Some(account)) => Some(ParticipantKind::Csr { account }),
            (InviteRole::Csr, None) => None,
        }
    }
}
