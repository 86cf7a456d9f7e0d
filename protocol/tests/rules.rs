//! Role rules 1–12 of SPEC.md as transcripts: each line is one step by a named participant and
//! what must come of it: the event types, or the refusal code (and then nothing changed).
//!
//! `World::check` is the only caller of the session API that changes state (and `World::start` of
//! `Session::start`), so the tests read as tables. Participants are named: "ana" is the CSR who
//! started the session (participant 1, controller); others join with `Act::JoinCustomer` /
//! `Act::JoinCsr` under the name given as the actor.

use Act::{Connected, JoinCsr, JoinCsrAs, JoinCustomer, TimeOut};
use tether_protocol::ChatRecord;
use tether_protocol::{
    AccountId, Activity, Capability, Command, ConsentState, EndReason, Event, FileTransferMode,
    InviteRole, LeaveReason, Millis, ParticipantId, ParticipantKind, Role, Session, SessionPolicy,
    SessionState, SessionType, StopReason, TransferDirection, TransferOutcome, TransferReport,
};

// ---- the transcript DSL ----

/// What one step does; the actor name of the step says who.
#[derive(Debug)]
enum Act {
    /// The actor joins as a customer (the name is its display name).
    JoinCustomer,
    /// The actor joins as a CSR with an account of its own.
    JoinCsr,
    /// The actor joins as a CSR with this account ("ana" has account 1).
    JoinCsrAs(i64),
    /// The actor issues a command.
    Do(Command),
    /// The actor's signaling connection came up or went down.
    Connected(bool),
    /// The actor's connection stayed down past the grace period.
    TimeOut,
}

impl From<Command> for Act {
    fn from(command: Command) -> Act {
        Act::Do(command)
    }
}

/// What a step must yield.
#[derive(Debug)]
enum Want {
    /// Accepted, with exactly these event types in this order (space-separated).
    Accepted(&'static str),
    /// Refused with this `RuleViolation::code()`.
    Refused(&'static str),
}

fn ok(types: &'static str) -> Want {
    Want::Accepted(types)
}

fn err(code: &'static str) -> Want {
    Want::Refused(code)
}

/// A participant id nobody has.
const GHOST: ParticipantId = ParticipantId(99);

fn policy(file_transfer: FileTransferMode, recording_allowed: bool) -> SessionPolicy {
    SessionPolicy {
        file_transfer,
        recording_allowed,
    }
}

/// The policy most transcripts use: everything enabled.
const ALL_ON: SessionPolicy = SessionPolicy {
    file_transfer: FileTransferMode::Advanced,
    recording_allowed: true,
};

#[derive(Debug)]
struct World {
    session: Session,
    names: Vec<(&'static str, ParticipantId)>,
    now: Millis,
}

impl World {
    /// Rule 1: a CSR starts a session; returns the world or the refusal code, plus event types.
    fn start(
        requires_tracking_code: bool,
        tracking_code: Option<&str>,
        policy: SessionPolicy,
    ) -> Result<(World, Vec<String>), &'static str> {
        let kind = SessionType {
            name: "Printer support".into(),
            requires_tracking_code,
        };
        match Session::start(AccountId(1), "ana", &kind, tracking_code, policy, 1_000) {
            Ok((session, events)) => {
                assert_eq!(session.check_invariants(), Ok(()));
                let world = World {
                    session,
                    names: vec![("ana", ParticipantId(1))],
                    now: 1_000,
                };
                Ok((world, type_names(&events)))
            }
            Err(e) => Err(e.code()),
        }
    }

    /// A live session started by "ana" under `policy`, with no tracking code needed.
    fn new(policy: SessionPolicy) -> World {
        let (world, events) = World::start(false, None, policy).expect("session starts");
        assert_eq!(events, ["session_started", "participant_joined"]);
        world
    }

    fn id(&self, name: &str) -> ParticipantId {
        self.names
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, id)| id)
            .unwrap_or_else(|| panic!("nobody called {name:?} has joined this transcript"))
    }

    fn role(&self, name: &str) -> Option<Role> {
        self.session.role(self.id(name))
    }

    /// The one step helper: apply `act` by `actor`, compare with `want`, check that a refusal
    /// changed nothing and that the invariants hold. Returns the events of an accepted step.
    fn check(&mut self, actor: &'static str, act: impl Into<Act>, want: Want) -> Vec<Event> {
        let act = act.into();
        let what = format!("{actor}: {act:?}");
        let before = self.session.clone();
        self.now += 10;
        let now = self.now;
        let result = match act {
            Act::JoinCustomer | Act::JoinCsr | Act::JoinCsrAs(_) => {
                let kind = match act {
                    Act::JoinCsrAs(account) => ParticipantKind::Csr {
                        account: AccountId(account),
                    },
                    Act::JoinCsr => ParticipantKind::Csr {
                        account: AccountId(100 + self.names.len() as i64),
                    },
                    _ => ParticipantKind::Customer,
                };
                self.session.join(kind, actor, now).map(|(id, events)| {
                    self.names.push((actor, id));
                    events
                })
            }
            Act::Do(command) => {
                let id = self.id(actor);
                self.session.handle(id, command, now)
            }
            Act::Connected(connected) => {
                let id = self.id(actor);
                self.session.set_connected(id, connected)
            }
            Act::TimeOut => {
                let id = self.id(actor);
                self.session.time_out(id, now)
            }
        };
        let events = match (result, want) {
            (Ok(events), Want::Accepted(types)) => {
                let types: Vec<&str> = types.split_whitespace().collect();
                assert_eq!(type_names(&events), types, "{what}: events");
                events
            }
            (Err(e), Want::Refused(code)) => {
                assert_eq!(e.code(), code, "{what}: refused with {e}");
                assert!(
                    self.session == before,
                    "{what}: refused with {e}, but the session changed"
                );
                Vec::new()
            }
            (Ok(events), Want::Refused(code)) => {
                panic!(
                    "{what}: expected refusal {code}, got events {:?}",
                    type_names(&events)
                )
            }
            (Err(e), Want::Accepted(types)) => {
                panic!(
                    "{what}: expected events {types:?}, refused with {}: {e}",
                    e.code()
                )
            }
        };
        assert_eq!(
            self.session.check_invariants(),
            Ok(()),
            "{what}: invariants"
        );
        events
    }

    /// Request and grant one consent of `customer`, asked by `csr`.
    fn grant(&mut self, csr: &'static str, customer: &'static str, capability: Capability) {
        let id = self.id(customer);
        self.check(csr, request(id, capability), ok("consent_requested"));
        self.check(customer, answer(capability, true), ok("consent_answered"));
    }
}

/// The serde `type` name of each event.
fn type_names(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let value = serde_json::to_value(e).expect("events serialize");
            value["type"]
                .as_str()
                .expect("events have a string type")
                .to_owned()
        })
        .collect()
}

/// The stop reasons of the `activity_stopped` events among `events`.
fn stop_reasons(events: &[Event]) -> Vec<(Activity, StopReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ActivityStopped {
                activity, reason, ..
            } => Some((*activity, *reason)),
            _ => None,
        })
        .collect()
}

/// The participants and reasons of the `participant_left` events among `events`.
fn left(events: &[Event]) -> Vec<(ParticipantId, LeaveReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ParticipantLeft {
                participant,
                reason,
            } => Some((*participant, *reason)),
            _ => None,
        })
        .collect()
}

// ---- command builders ----

fn invite(role: InviteRole) -> Command {
    Command::Invite { role }
}
fn make_primary(customer: ParticipantId) -> Command {
    Command::MakePrimary { customer }
}
fn transfer(to: ParticipantId) -> Command {
    Command::TransferControl { to }
}
fn save_notes(notes: &str) -> Command {
    Command::SaveNotes {
        notes: notes.into(),
    }
}
fn end(notes: &str) -> Command {
    Command::End {
        notes: notes.into(),
    }
}
fn start(activity: Activity) -> Command {
    Command::StartActivity {
        activity,
        target: None,
    }
}
fn start_at(activity: Activity, target: ParticipantId) -> Command {
    Command::StartActivity {
        activity,
        target: Some(target),
    }
}
fn stop(activity: Activity) -> Command {
    Command::StopActivity { activity }
}
fn request(customer: ParticipantId, capability: Capability) -> Command {
    Command::RequestConsent {
        customer,
        capability,
    }
}
fn answer(capability: Capability, granted: bool) -> Command {
    Command::AnswerConsent {
        capability,
        granted,
    }
}
fn revoke(capability: Capability) -> Command {
    Command::RevokeConsent { capability }
}
fn report(direction: TransferDirection, customer: ParticipantId) -> Command {
    Command::ReportTransfer {
        transfer: TransferReport {
            name: "driver.zip".into(),
            size: 1234,
            sha256: "ab".repeat(32),
            direction,
            outcome: TransferOutcome::Completed,
            customer,
        },
    }
}

use Activity::*;
use Capability::{FileTransfer, Recording as RecordingConsent, RemoteControl, RemoteView};

// ---- rule 1: a CSR starts a session, with a tracking code where the type requires one ----

#[test]
fn rule_01_tracking_code() {
    let long = "x".repeat(65);
    /// The tracking code stored, or the refusal code.
    type Want = Result<Option<&'static str>, &'static str>;
    let table: [(bool, Option<&str>, Want); 8] = [
        // requires a code, code given, outcome
        (true, None, Err("tracking_code_required")),
        (true, Some(""), Err("tracking_code_required")),
        (true, Some("   "), Err("tracking_code_required")),
        (true, Some(" TK-42 "), Ok(Some("TK-42"))),
        (false, None, Ok(None)),
        (false, Some(" "), Ok(None)),
        (false, Some("TK-7"), Ok(Some("TK-7"))),
        (true, Some(&long), Err("invalid_field")),
    ];
    for (requires, given, want) in table {
        let got = World::start(requires, given, SessionPolicy::default());
        match (got, want) {
            (Ok((w, events)), Ok(code)) => {
                assert_eq!(events, ["session_started", "participant_joined"]);
                assert_eq!(
                    w.session.tracking_code.as_deref(),
                    code,
                    "{requires} {given:?}"
                );
                assert_eq!(w.role("ana"), Some(Role::Controller));
                assert!(w.session.is_live());
            }
            (Err(code), Err(want)) => assert_eq!(code, want, "{requires} {given:?}"),
            (got, want) => panic!(
                "{requires} {given:?}: got {:?}, want {want:?}",
                got.map(|_| ())
            ),
        }
    }
}

// ---- rule 2: only CSRs in the session invite ----

#[test]
fn rule_02_only_csrs_invite() {
    let mut w = World::new(ALL_ON);
    w.check(
        "ana",
        invite(InviteRole::Customer),
        ok("invitation_created"),
    );
    w.check("ana", invite(InviteRole::Csr), ok("invitation_created"));
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("bo", invite(InviteRole::Customer), err("csr_only"));
    w.check("bo", invite(InviteRole::Csr), err("csr_only"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    w.check(
        "dee",
        invite(InviteRole::Customer),
        ok("invitation_created"),
    );
    // A CSR who left is no longer in the session.
    w.check("dee", Command::Leave, ok("participant_left"));
    w.check("dee", invite(InviteRole::Customer), err("not_in_session"));
}

// ---- rule 3: the controller makes any customer primary; the previous one becomes secondary ----

#[test]
fn rule_03_make_primary() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("cy", JoinCustomer, ok("participant_joined"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let (bo, cy, dee) = (w.id("bo"), w.id("cy"), w.id("dee"));
    assert_eq!(
        (w.role("bo"), w.role("cy")),
        (Some(Role::PrimaryCustomer), Some(Role::Customer))
    );

    w.check("dee", make_primary(cy), err("controller_only"));
    w.check("bo", make_primary(cy), err("csr_only"));
    w.check("cy", make_primary(cy), err("csr_only"));
    w.check("ana", make_primary(bo), err("already_primary"));
    w.check("ana", make_primary(dee), err("not_a_customer"));
    w.check("ana", make_primary(GHOST), err("unknown_participant"));
    w.check("ana", make_primary(cy), ok("primary_changed"));
    assert_eq!(
        (w.role("bo"), w.role("cy")),
        (Some(Role::Customer), Some(Role::PrimaryCustomer))
    );
    assert_eq!(w.session.primary(), Some(cy));

    // Activities aimed at the previous primary stop with it.
    w.grant("ana", "cy", RemoteView);
    w.check("ana", start(ViewDesktop), ok("activity_started"));
    w.check("cy", start(CustomerShare), ok("activity_started"));
    let events = w.check(
        "ana",
        make_primary(bo),
        ok("activity_stopped activity_stopped primary_changed"),
    );
    assert_eq!(
        stop_reasons(&events),
        [
            (ViewDesktop, StopReason::PrimaryChanged),
            (CustomerShare, StopReason::PrimaryChanged)
        ]
    );
    assert_eq!(
        (w.role("bo"), w.role("cy")),
        (Some(Role::PrimaryCustomer), Some(Role::Customer))
    );
}

// ---- rule 4: only the primary customer shares, is viewed or is controlled ----

#[test]
fn rule_04_only_primary_is_viewed_or_shares() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("cy", JoinCustomer, ok("participant_joined"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let (bo, cy, dee) = (w.id("bo"), w.id("cy"), w.id("dee"));
    w.grant("ana", "bo", RemoteView);
    w.grant("ana", "cy", RemoteView);
    w.grant("ana", "cy", RemoteControl);

    w.check("ana", start_at(ViewDesktop, cy), err("not_primary"));
    w.check("ana", start_at(ViewApplication, cy), err("not_primary"));
    w.check("ana", start_at(ControlDesktop, cy), err("not_primary"));
    w.check("ana", start_at(ViewDesktop, dee), err("not_primary"));
    w.check(
        "ana",
        start_at(ViewDesktop, GHOST),
        err("unknown_participant"),
    );
    w.check("cy", start(CustomerShare), err("not_primary"));
    w.check("ana", start(CustomerShare), err("activity_not_allowed"));
    w.check("bo", start(CustomerShare), ok("activity_started"));
    w.check("bo", start(CustomerShare), err("activity_already_running"));
    w.check("ana", start_at(ViewDesktop, bo), ok("activity_started"));
    // A customer can't view or share as a CSR does.
    w.check("cy", start(ViewDesktop), err("csr_only"));
    w.check("cy", start(ShareDesktop), err("csr_only"));
}

// ---- rule 5: no video before a customer joined ----

#[test]
fn rule_05_video_needs_a_customer() {
    let mut w = World::new(ALL_ON);
    w.check("ana", start(Video), err("no_customer_yet"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    w.check("dee", start(Video), err("no_customer_yet"));
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("ana", start(Video), ok("activity_started"));
    w.check("bo", start(Video), ok("activity_started"));
    w.check("ana", stop(Video), ok("activity_stopped"));
    w.check("ana", stop(Video), err("activity_not_running"));
}

// ---- rule 6: remote control and sharing only once a customer joined ----

#[test]
fn rule_06_sharing_needs_a_customer() {
    let mut w = World::new(ALL_ON);
    for activity in [
        ShareDesktop,
        ShareApplication,
        ViewDesktop,
        ControlDesktop,
        Recording,
    ] {
        w.check("ana", start(activity), err("no_customer_yet"));
    }
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("ana", start(ShareDesktop), ok("activity_started"));
    w.check("ana", start(ShareApplication), ok("activity_started"));
    // Viewing now needs consent instead (rule 12).
    w.check("ana", start(ViewDesktop), err("consent_required"));
}

// ---- rule 7: transfer control; the former controller's support activity stops ----

#[test]
fn rule_07_transfer_control() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let (ana, bo, dee) = (w.id("ana"), w.id("bo"), w.id("dee"));
    w.grant("ana", "bo", RemoteView);
    w.grant("ana", "bo", RemoteControl);
    w.check("ana", start(ViewDesktop), ok("activity_started"));

    w.check("dee", transfer(dee), err("controller_only"));
    w.check("bo", transfer(dee), err("csr_only"));
    w.check("ana", transfer(ana), err("already_controller"));
    w.check("ana", transfer(bo), err("not_a_csr"));
    w.check("ana", transfer(GHOST), err("unknown_participant"));
    let events = w.check(
        "ana",
        transfer(dee),
        ok("activity_stopped control_transferred"),
    );
    assert_eq!(
        stop_reasons(&events),
        [(ViewDesktop, StopReason::ControlTransferred)]
    );
    assert_eq!(
        (w.role("ana"), w.role("dee")),
        (Some(Role::Csr), Some(Role::Controller))
    );
    assert!(w.session.is_relinquished(ana));

    // The former controller no longer views, controls, shares or transfers files, and can't end.
    let support = [
        ShareDesktop,
        ShareApplication,
        ViewDesktop,
        ViewApplication,
        ControlDesktop,
        ControlApplication,
        FileTransferBasic,
        FileTransferAdvanced,
        Recording,
    ];
    for activity in support {
        w.check("ana", start(activity), err("control_transferred_away"));
    }
    w.check(
        "ana",
        request(bo, RemoteView),
        err("control_transferred_away"),
    );
    w.check("ana", end("done"), err("controller_only"));
    w.check("ana", transfer(ana), err("controller_only"));
    // The new controller has all of it.
    w.check("dee", start(ControlDesktop), ok("activity_started"));

    // Control comes back: everything is allowed again, the controller's activity stops.
    let events = w.check(
        "dee",
        transfer(ana),
        ok("activity_stopped control_transferred"),
    );
    assert_eq!(
        stop_reasons(&events),
        [(ControlDesktop, StopReason::ControlTransferred)]
    );
    assert!(!w.session.is_relinquished(ana));
    assert!(w.session.is_relinquished(dee));
    w.check("ana", start(ViewDesktop), ok("activity_started"));
    w.check("dee", start(ViewDesktop), err("control_transferred_away"));
    w.check(
        "ana",
        end("done"),
        ok("activity_stopped participant_left participant_left participant_left session_ended"),
    );
}

#[test]
fn rule_07_csr_that_never_had_control_may_view_but_not_control() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("eve", JoinCsr, ok("participant_joined"));
    w.grant("eve", "bo", RemoteView);
    w.grant("ana", "bo", RemoteControl);
    w.grant("ana", "bo", FileTransfer);
    w.check("eve", start(ViewDesktop), ok("activity_started"));
    w.check("eve", start(ViewApplication), ok("activity_started"));
    w.check("eve", start(ShareDesktop), ok("activity_started"));
    w.check("eve", start(ControlDesktop), err("controller_only"));
    w.check("eve", start(ControlApplication), err("controller_only"));
    w.check("eve", start(FileTransferBasic), err("controller_only"));
    w.check("eve", start(FileTransferAdvanced), err("controller_only"));
    w.check("eve", start(Recording), err("controller_only"));
}

#[test]
fn rule_07_former_controller_may_leave() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let dee = w.id("dee");
    w.check("ana", transfer(dee), ok("control_transferred"));
    w.check("ana", Command::Leave, ok("participant_left"));
    assert!(w.session.is_live());
    assert_eq!(w.session.controller(), dee);
    w.check("ana", Command::Leave, err("not_in_session"));
}

#[test]
fn rule_07_sharing_of_a_former_controller() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let dee = w.id("dee");
    w.check("ana", start(ShareDesktop), ok("activity_started"));
    w.check("ana", start(ShareApplication), ok("activity_started"));
    w.check("ana", start(Video), ok("activity_started"));
    // Sharing its own desktop or application is a support activity (`Activity::is_support`):
    // a running share stops with the hand-over, just as starting a new one is refused after it.
    // Camera video is not support and goes on.
    let events = w.check(
        "ana",
        transfer(dee),
        ok("activity_stopped activity_stopped control_transferred"),
    );
    assert_eq!(
        stop_reasons(&events),
        [
            (ShareDesktop, StopReason::ControlTransferred),
            (ShareApplication, StopReason::ControlTransferred)
        ]
    );
    assert!(!w.session.is_running(ShareDesktop) && !w.session.is_running(ShareApplication));
    assert!(w.session.is_running(Video));
    w.check("ana", stop(ShareDesktop), err("activity_not_running"));
    w.check("ana", stop(ShareApplication), err("activity_not_running"));
    w.check("ana", start(ShareDesktop), err("control_transferred_away"));
    w.check(
        "ana",
        start(ShareApplication),
        err("control_transferred_away"),
    );
}

// ---- rule 8: only the controller ends; ending disconnects everyone ----

#[test]
fn rule_08_only_the_controller_ends() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("cy", JoinCustomer, ok("participant_joined"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    for name in ["ana", "bo", "dee"] {
        w.check(name, Connected(true), ok("connection_changed"));
    }
    w.check("ana", Connected(true), ok(""));
    w.grant("ana", "bo", RemoteView);
    w.check("dee", start(ViewDesktop), ok("activity_started"));

    w.check("dee", end("x"), err("controller_only"));
    w.check("bo", end("x"), err("customers_cannot_end"));
    w.check("ana", end("bad \u{7} bell"), err("invalid_field"));
    w.check("ana", save_notes("printer fixed"), ok("notes_saved"));
    let events = w.check(
        "ana",
        end(""),
        ok("activity_stopped participant_left participant_left participant_left participant_left session_ended"),
    );
    assert_eq!(
        stop_reasons(&events),
        [(ViewDesktop, StopReason::SessionEnded)]
    );
    // Everyone present is told that they left because the session ended, before it ends.
    let everyone = ["ana", "bo", "cy", "dee"].map(|name| (w.id(name), LeaveReason::SessionEnded));
    assert_eq!(left(&events), everyone);
    assert!(matches!(
        events.last(),
        Some(Event::SessionEnded { reason: EndReason::Ended, notes, .. }) if notes == "printer fixed"
    ));

    // Everyone is disconnected and gone.
    assert!(!w.session.is_live());
    assert_eq!(w.session.present_participants().count(), 0);
    assert!(
        w.session
            .participants()
            .iter()
            .all(|p| !p.connected && p.left_at.is_some())
    );
    let roster = w.session.roster();
    assert!(!roster.live);
    assert!(roster.participants.is_empty());
    assert!(roster.activities.is_empty());
    assert!(matches!(
        w.session.state,
        SessionState::Ended {
            by: Some(ParticipantId(1)),
            reason: EndReason::Ended,
            ..
        }
    ));
}

#[test]
fn ending_clears_the_primary() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("cy", JoinCustomer, ok("participant_joined"));
    let (ana, bo, cy) = (w.id("ana"), w.id("bo"), w.id("cy"));
    assert_eq!(w.session.primary(), Some(bo));
    // Ending disconnects everyone (rule 8), so nobody is primary any more; the controller stays
    // as the record of who had control. (`World::check` asserts the invariants hold.)
    let events = w.check(
        "ana",
        end(""),
        ok("participant_left participant_left participant_left session_ended"),
    );
    assert_eq!(
        left(&events),
        [
            (ana, LeaveReason::SessionEnded),
            (bo, LeaveReason::SessionEnded),
            (cy, LeaveReason::SessionEnded)
        ]
    );
    assert_eq!(w.session.primary(), None);
    assert_eq!(w.session.roster().primary, None);
    assert_eq!(w.role("bo"), Some(Role::Customer));
    assert_eq!(w.session.controller(), ana);
    assert_eq!(w.session.check_invariants(), Ok(()));
}

#[test]
fn rule_08_end_notes_replace_saved_notes() {
    let mut w = World::new(ALL_ON);
    w.check("ana", save_notes("draft"), ok("notes_saved"));
    w.check(
        "ana",
        end("  final  "),
        ok("participant_left session_ended"),
    );
    assert_eq!(w.session.notes(), "final");
}

/// The chat transcript joins the record through the controller (spec: session record).
#[test]
fn chat_transcript_is_recorded_by_the_controller() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let (ana, bo) = (w.id("ana"), w.id("bo"));
    let line = |from, to: Vec<ParticipantId>, text: &str| ChatRecord {
        from,
        to,
        text: text.into(),
        sent_at: 5,
    };
    let record = |lines| Command::RecordChat { lines };
    w.check(
        "ana",
        record(vec![line(ana, vec![bo], " hello "), line(bo, vec![], "hi")]),
        ok("chat_recorded"),
    );
    w.check(
        "dee",
        record(vec![line(ana, vec![], "x")]),
        err("controller_only"),
    );
    w.check("bo", record(vec![line(bo, vec![], "x")]), err("csr_only"));
    w.check("ana", record(vec![]), err("invalid_field"));
    w.check(
        "ana",
        record(vec![line(ana, vec![], "")]),
        err("invalid_field"),
    );
    w.check(
        "ana",
        record(vec![line(ParticipantId(42), vec![], "x")]),
        err("unknown_participant"),
    );
    let too_many = (0..=tether_protocol::MAX_RECORDED_CHAT_LINES)
        .map(|_| line(ana, vec![], "x"))
        .collect();
    w.check("ana", record(too_many), err("invalid_field"));
}

/// Recordings join the record through the controller of a live session whose policy allows
/// recording (spec: recording); a refusal changes nothing.
#[test]
fn recordings_are_attached_by_the_controller() {
    let digest = "AB".repeat(32);
    let attach = |w: &mut World, who: &str, sha256: &str| {
        let (id, before) = (w.id(who), w.session.clone());
        let result = w
            .session
            .attach_recording(id, "rec-1", 2048, sha256, Some(5_000));
        if result.is_err() {
            assert_eq!(w.session, before, "{who}: a refusal changes nothing");
        }
        result.map_err(|v| v.code())
    };
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let expected = Event::RecordingAttached {
        by: w.id("ana"),
        id: "rec-1".into(),
        size: 2048,
        sha256: digest.to_ascii_lowercase(),
        duration_ms: Some(5_000),
    };
    assert_eq!(attach(&mut w, "ana", &digest), Ok(vec![expected]));
    assert_eq!(attach(&mut w, "dee", &digest), Err("controller_only"));
    assert_eq!(attach(&mut w, "bo", &digest), Err("csr_only"));
    assert_eq!(attach(&mut w, "ana", "abc"), Err("invalid_field"));
    assert_eq!(attach(&mut w, "ana", &"g".repeat(64)), Err("invalid_field"));
    // The controller at the time: after a transfer, the new one.
    w.check(
        "ana",
        Command::TransferControl { to: w.id("dee") },
        ok("control_transferred"),
    );
    assert_eq!(attach(&mut w, "ana", &digest), Err("controller_only"));
    assert!(attach(&mut w, "dee", &digest).is_ok());
    w.check(
        "dee",
        end(""),
        ok("participant_left participant_left participant_left session_ended"),
    );
    assert_eq!(attach(&mut w, "dee", &digest), Err("session_ended"));

    let mut off = World::new(policy(FileTransferMode::Advanced, false));
    assert_eq!(attach(&mut off, "ana", &digest), Err("recording_disabled"));
}

// ---- rule 9: customers can't end; anyone can leave; the controller's leaving ----

#[test]
fn rule_09_leaving() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("cy", JoinCustomer, ok("participant_joined"));
    w.check("fay", JoinCustomer, ok("participant_joined"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    w.grant("ana", "bo", RemoteView);
    w.check("ana", start(ViewDesktop), ok("activity_started"));

    w.check("bo", end(""), err("customers_cannot_end"));
    w.check("cy", end(""), err("customers_cannot_end"));
    w.check("cy", Command::Leave, ok("participant_left"));
    assert_eq!(w.role("bo"), Some(Role::PrimaryCustomer));
    // The primary leaving: what aimed at it stops, the longest-present customer is next.
    let events = w.check(
        "bo",
        Command::Leave,
        ok("activity_stopped participant_left primary_changed"),
    );
    assert_eq!(
        stop_reasons(&events),
        [(ViewDesktop, StopReason::ParticipantLeft)]
    );
    assert_eq!(w.role("fay"), Some(Role::PrimaryCustomer));
    w.check("bo", Command::Leave, err("not_in_session"));

    w.check("ana", Command::Leave, err("must_transfer_control_first"));
    w.check("dee", Command::Leave, ok("participant_left"));
    // Alone among customers, the controller leaving ends the session; everyone leaves with it.
    let events = w.check(
        "ana",
        Command::Leave,
        ok("participant_left participant_left session_ended"),
    );
    assert_eq!(
        left(&events),
        [
            (w.id("ana"), LeaveReason::SessionEnded),
            (w.id("fay"), LeaveReason::SessionEnded)
        ]
    );
    assert_eq!(w.session.primary(), None);
    assert!(matches!(
        w.session.state,
        SessionState::Ended {
            reason: EndReason::ControllerLeft,
            ..
        }
    ));
    assert_eq!(w.session.present_participants().count(), 0);
}

// ---- rule 10: file transfer only as far as the admin enabled it ----

#[test]
fn rule_10_file_transfer_modes() {
    use FileTransferMode::{Advanced, Basic, Off};
    let table = [
        (Off, FileTransferBasic, err("file_transfer_disabled")),
        (Off, FileTransferAdvanced, err("file_transfer_disabled")),
        (Basic, FileTransferBasic, ok("activity_started")),
        (Basic, FileTransferAdvanced, err("file_transfer_disabled")),
        (Advanced, FileTransferBasic, ok("activity_started")),
        (Advanced, FileTransferAdvanced, ok("activity_started")),
    ];
    for (mode, activity, want) in table {
        let policy = policy(mode, false);
        let mut w = World::new(policy);
        w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
        w.check("dee", JoinCsr, ok("participant_joined"));
        w.grant("ana", "bo", FileTransfer);
        w.check("bo", start(activity), err("csr_only"));
        w.check("dee", start(activity), err("controller_only"));
        w.check("ana", start(activity), want);
    }
}

#[test]
fn rule_10_advanced_transfer_needs_consent() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("ana", start(FileTransferAdvanced), err("consent_required"));
    w.check("ana", start(FileTransferBasic), ok("activity_started"));
}

#[test]
fn rule_10_transfer_reports() {
    use FileTransferMode::{Advanced, Basic, Off};
    use TransferDirection::{FromCustomer, Published, ToCustomer};
    let table = [
        (Off, Published, err("file_transfer_disabled")),
        (Off, ToCustomer, err("file_transfer_disabled")),
        (Off, FromCustomer, err("file_transfer_disabled")),
        (Basic, Published, ok("file_transfer_recorded")),
        // Sending to or fetching from the customer's computer is advanced mode: a report of such
        // a transfer is refused under Basic.
        (Basic, ToCustomer, err("file_transfer_disabled")),
        (Basic, FromCustomer, err("file_transfer_disabled")),
        (Advanced, Published, ok("file_transfer_recorded")),
        (Advanced, ToCustomer, ok("file_transfer_recorded")),
        (Advanced, FromCustomer, ok("file_transfer_recorded")),
    ];
    for (mode, direction, want) in table {
        let mut w = World::new(policy(mode, false));
        w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
        let (ana, bo) = (w.id("ana"), w.id("bo"));
        if matches!(want, Want::Accepted(_)) {
            // The other end of a transfer is a customer who was in the session.
            w.check("ana", report(direction, ana), err("not_a_customer"));
            w.check("ana", report(direction, GHOST), err("unknown_participant"));
        }
        w.check("ana", report(direction, bo), want);
    }
}

// ---- rule 11: no file transfer while a customer application is viewed or controlled ----

#[test]
fn rule_11_no_file_transfer_during_application_sharing() {
    for (viewer, sharing) in [
        ("ana", ViewApplication),
        ("ana", ControlApplication),
        ("eve", ViewApplication),
    ] {
        let mut w = World::new(ALL_ON);
        w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
        w.check("eve", JoinCsr, ok("participant_joined"));
        for capability in [RemoteView, RemoteControl, FileTransfer] {
            w.grant("ana", "bo", capability);
        }
        w.check(viewer, start(sharing), ok("activity_started"));
        w.check(
            "ana",
            start(FileTransferBasic),
            err("application_sharing_active"),
        );
        w.check(
            "ana",
            start(FileTransferAdvanced),
            err("application_sharing_active"),
        );
        // Desktop viewing is not application sharing.
        w.check("ana", start(ViewDesktop), ok("activity_started"));
        w.check(viewer, stop(sharing), ok("activity_stopped"));
        w.check("ana", start(FileTransferBasic), ok("activity_started"));
        w.check("ana", start(FileTransferAdvanced), ok("activity_started"));
    }
}

#[test]
fn rule_11_no_application_sharing_during_file_transfer() {
    // Rule 11 holds both ways: while files are transferred, no CSR starts viewing or controlling
    // a customer application; the transfer must stop first.
    for (transfer, viewer, sharing) in [
        (FileTransferBasic, "ana", ViewApplication),
        (FileTransferBasic, "ana", ControlApplication),
        (FileTransferBasic, "eve", ViewApplication),
        (FileTransferAdvanced, "ana", ViewApplication),
        (FileTransferAdvanced, "ana", ControlApplication),
        (FileTransferAdvanced, "eve", ViewApplication),
    ] {
        let mut w = World::new(ALL_ON);
        w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
        w.check("eve", JoinCsr, ok("participant_joined"));
        for capability in [RemoteView, RemoteControl, FileTransfer] {
            w.grant("ana", "bo", capability);
        }
        w.check("ana", start(transfer), ok("activity_started"));
        w.check(viewer, start(sharing), err("file_transfer_active"));
        // Desktop viewing is not application sharing.
        w.check(viewer, start(ViewDesktop), ok("activity_started"));
        w.check("ana", stop(transfer), ok("activity_stopped"));
        w.check(viewer, start(sharing), ok("activity_started"));
        assert!(w.session.is_running(sharing) && !w.session.is_running(transfer));
    }
}

// ---- rule 12: consent for every intrusive action, revocable at any time ----

#[test]
fn rule_12_consent() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let (bo, dee) = (w.id("bo"), w.id("dee"));

    w.check("ana", start(ViewDesktop), err("consent_required"));
    w.check("bo", answer(RemoteView, true), err("no_pending_consent"));
    w.check("bo", revoke(RemoteView), err("consent_not_given"));
    w.check("bo", request(bo, RemoteView), err("csr_only"));
    w.check(
        "ana",
        request(dee, RemoteView),
        err("consent_is_for_customers"),
    );
    w.check(
        "ana",
        request(GHOST, RemoteView),
        err("unknown_participant"),
    );
    w.check("ana", request(bo, RemoteView), ok("consent_requested"));
    assert_eq!(
        w.session.consent(bo, RemoteView),
        Some(ConsentState::Pending)
    );
    w.check("ana", start(ViewDesktop), err("consent_required"));
    w.check(
        "ana",
        answer(RemoteView, true),
        err("consent_is_for_customers"),
    );
    w.check("bo", answer(RemoteView, false), ok("consent_answered"));
    assert_eq!(
        w.session.consent(bo, RemoteView),
        Some(ConsentState::Denied)
    );
    w.check("ana", start(ViewDesktop), err("consent_required"));
    w.check("bo", answer(RemoteView, true), err("no_pending_consent"));

    w.check("dee", request(bo, RemoteView), ok("consent_requested"));
    w.check("bo", answer(RemoteView, true), ok("consent_answered"));
    w.check("ana", start(ViewDesktop), ok("activity_started"));
    w.check("dee", start(ViewApplication), ok("activity_started"));
    // Remote view does not cover control.
    w.check("ana", start(ControlDesktop), err("consent_required"));

    w.check("ana", revoke(RemoteView), err("consent_is_for_customers"));
    let events = w.check(
        "bo",
        revoke(RemoteView),
        ok("consent_revoked activity_stopped activity_stopped"),
    );
    assert_eq!(
        stop_reasons(&events),
        [
            (ViewDesktop, StopReason::ConsentRevoked),
            (ViewApplication, StopReason::ConsentRevoked)
        ]
    );
    assert_eq!(
        w.session.consent(bo, RemoteView),
        Some(ConsentState::Revoked)
    );
    w.check("ana", start(ViewDesktop), err("consent_required"));
    w.check("bo", revoke(RemoteView), err("consent_not_given"));
}

#[test]
fn rule_12_recording() {
    let table = [
        // recording allowed by the organization, consent given, expected
        (false, true, err("recording_disabled")),
        (true, false, err("consent_required")),
        (true, true, ok("activity_started")),
    ];
    for (allowed, consent, want) in table {
        let policy = policy(FileTransferMode::Off, allowed);
        let mut w = World::new(policy);
        w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
        if consent {
            w.grant("ana", "bo", RecordingConsent);
        }
        w.check("ana", start(Recording), want);
        assert_eq!(w.session.roster().recording, allowed && consent);
    }
}

#[test]
fn rule_12_asking_again_for_a_granted_consent() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let bo = w.id("bo");
    w.grant("ana", "bo", RemoteView);
    w.grant("ana", "bo", RemoteControl);
    w.check("ana", start(ViewDesktop), ok("activity_started"));
    // A granted consent stays granted until the customer revokes it: asking again is refused,
    // by any CSR, whether an activity relies on it (remote view) or not (remote control).
    w.check("ana", request(bo, RemoteView), err("consent_already_given"));
    w.check("dee", request(bo, RemoteView), err("consent_already_given"));
    w.check(
        "ana",
        request(bo, RemoteControl),
        err("consent_already_given"),
    );
    assert_eq!(
        w.session.consent(bo, RemoteView),
        Some(ConsentState::Granted)
    );
    assert!(w.session.is_running(ViewDesktop));
    // The customer can still revoke it at any time, which stops what relied on it.
    let events = w.check(
        "bo",
        revoke(RemoteView),
        ok("consent_revoked activity_stopped"),
    );
    assert_eq!(
        stop_reasons(&events),
        [(ViewDesktop, StopReason::ConsentRevoked)]
    );
    // Once revoked (or while pending), it may be asked for again.
    w.check("ana", request(bo, RemoteView), ok("consent_requested"));
    w.check("dee", request(bo, RemoteView), ok("consent_requested"));
    assert_eq!(
        w.session.consent(bo, RemoteView),
        Some(ConsentState::Pending)
    );
    w.check("bo", answer(RemoteView, true), ok("consent_answered"));
    w.check("ana", request(bo, RemoteView), err("consent_already_given"));
}

// ---- time-outs ----

#[test]
fn time_out_of_the_controller_passes_control() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    w.check("eve", JoinCsr, ok("participant_joined"));
    w.check("eve", Connected(true), ok("connection_changed"));
    w.grant("ana", "bo", RemoteView);
    w.check("ana", start(ViewDesktop), ok("activity_started"));
    w.check("ana", start(ShareDesktop), ok("activity_started"));
    // Control goes to the longest-present *connected* CSR: eve, not the disconnected dee. The
    // view and the share are both support activities: they stop with the hand-over.
    let events = w.check(
        "ana",
        TimeOut,
        ok("activity_stopped activity_stopped control_transferred participant_left"),
    );
    assert_eq!(
        stop_reasons(&events),
        [
            (ViewDesktop, StopReason::ControlTransferred),
            (ShareDesktop, StopReason::ControlTransferred)
        ]
    );
    assert_eq!(left(&events), [(w.id("ana"), LeaveReason::TimedOut)]);
    assert_eq!(w.role("eve"), Some(Role::Controller));
    assert_eq!(w.role("dee"), Some(Role::Csr));
    assert!(w.session.is_live());
    w.check("ana", TimeOut, err("not_in_session"));
    w.check("ana", Connected(true), err("not_in_session"));
    // A customer timing out just leaves.
    w.check("bo", TimeOut, ok("participant_left primary_changed"));
    assert_eq!(w.session.primary(), None);
}

#[test]
fn time_out_of_a_lone_controller_ends_the_session() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    let events = w.check(
        "ana",
        TimeOut,
        ok("participant_left participant_left session_ended"),
    );
    assert_eq!(
        left(&events),
        [
            (w.id("ana"), LeaveReason::SessionEnded),
            (w.id("bo"), LeaveReason::SessionEnded)
        ]
    );
    assert_eq!(w.session.primary(), None);
    assert!(matches!(
        w.session.state,
        SessionState::Ended {
            reason: EndReason::ControllerTimedOut,
            ..
        }
    ));
    assert_eq!(w.session.present_participants().count(), 0);
}

// ---- joining, and nothing accepted after the end ----

#[test]
fn join_checks_the_name() {
    let mut w = World::new(ALL_ON);
    w.check("", JoinCustomer, err("invalid_field"));
    w.check(" \t ", JoinCsr, err("invalid_field"));
    w.check("a\u{0}b", JoinCustomer, err("invalid_field"));
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    w.check("cy", JoinCustomer, ok("participant_joined"));
    assert_eq!(
        [w.id("bo"), w.id("dee"), w.id("cy")],
        [ParticipantId(2), ParticipantId(3), ParticipantId(4)]
    );
}

#[test]
fn a_csr_account_joins_once_at_a_time() {
    let mut w = World::new(ALL_ON);
    w.check("ana again", JoinCsrAs(1), err("already_in_session"));
    w.check("dee", JoinCsrAs(7), ok("participant_joined"));
    w.check("dee again", JoinCsrAs(7), err("already_in_session"));
    w.check("dee", Command::Leave, ok("participant_left"));
    w.check("dee back", JoinCsrAs(7), ok("participant_joined"));
    assert_eq!(w.role("dee back"), Some(Role::Csr));
    assert_eq!(w.session.present_csr(AccountId(7)), Some(w.id("dee back")));
}

#[test]
fn nothing_is_accepted_after_the_end() {
    let mut w = World::new(ALL_ON);
    w.check("bo", JoinCustomer, ok("participant_joined primary_changed"));
    w.check("dee", JoinCsr, ok("participant_joined"));
    let bo = w.id("bo");
    w.check(
        "ana",
        end("bye"),
        ok("participant_left participant_left participant_left session_ended"),
    );
    w.check("cy", JoinCustomer, err("session_ended"));
    w.check("fin", JoinCsr, err("session_ended"));
    for name in ["ana", "bo", "dee"] {
        w.check(name, end(""), err("session_ended"));
        w.check(name, Command::Leave, err("session_ended"));
        w.check(name, invite(InviteRole::Customer), err("session_ended"));
        w.check(name, save_notes("late"), err("session_ended"));
        w.check(name, start(Video), err("session_ended"));
        w.check(name, Connected(true), err("session_ended"));
        w.check(name, TimeOut, err("session_ended"));
    }
    w.check("ana", make_primary(bo), err("session_ended"));
    w.check("bo", answer(RemoteView, true), err("session_ended"));
    assert_eq!(w.session.notes(), "bye");
}
