//! Property tests of the session model: random transcripts of joins, commands, connection changes
//! and time-outs, with `check_invariants` and the spec's role properties asserted after each step.
//!
//! Actors are either raw participant ids in 1..=8 (present or not) or role selectors (the
//! controller, the primary, the k-th present CSR or customer) resolved against the state at the
//! time of the step, so that the random walk reaches interesting states (consents granted, views
//! running, control transferred) often enough. `generator_reaches_interesting_states` checks that.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tether_protocol::{
    AccountId, Activity, Capability, Command, ConsentState, Event, FileTransferMode, InviteRole,
    LeaveReason, Millis, ParticipantId, ParticipantKind, Role, RuleViolation, Session,
    SessionPolicy, SessionType, TransferDirection, TransferOutcome, TransferReport,
};

// ---- what the generator produces ----

/// Who acts or is aimed at, resolved when the step runs.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// A raw participant id, present or not.
    Id(u32),
    Controller,
    Primary,
    /// The k-th present CSR (modulo their number).
    Csr(usize),
    /// The k-th present customer (modulo their number).
    Customer(usize),
    /// A present CSR who handed control away (rule 7), if any.
    Relinquished,
}

/// A command with its participant references unresolved.
#[derive(Debug, Clone)]
enum Op {
    Invite(InviteRole),
    MakePrimary(Who),
    TransferControl(Who),
    Leave,
    End(String),
    SaveNotes(String),
    Start(Activity, Option<Who>),
    Stop(Activity),
    Request(Who, Capability),
    Answer(Capability, bool),
    Revoke(Capability),
    Report(Who, TransferDirection, bool),
}

#[derive(Debug, Clone)]
enum Step {
    JoinCustomer,
    JoinCsr(i64),
    Do(Who, Op),
    Connected(Who, bool),
    TimeOut(Who),
    /// `Who` asks the primary customer for a consent, the primary answers, and `Who` starts what
    /// the consent is for (the desktop or the application flavour): three steps.
    ConsentFlow(Who, Capability, bool, bool),
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => (1u32..=8).prop_map(Who::Id),
        4 => Just(Who::Controller),
        2 => Just(Who::Primary),
        2 => (0usize..4).prop_map(Who::Csr),
        2 => (0usize..4).prop_map(Who::Customer),
        2 => Just(Who::Relinquished),
    ]
}

/// Mostly a CSR: whom control is handed to.
fn heir() -> impl Strategy<Value = Who> {
    prop_oneof![3 => (0usize..4).prop_map(Who::Csr), 1 => who()]
}

fn activity() -> impl Strategy<Value = Activity> {
    prop::sample::select(Activity::ALL.to_vec())
}

fn capability() -> impl Strategy<Value = Capability> {
    prop::sample::select(Capability::ALL.to_vec())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(String::new()),
        4 => Just("customer's printer fixed".to_owned()),
        1 => Just("bad \u{1b} escape".to_owned()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        // Weights out of 70: ending (End, a lone controller's Leave) is rare on purpose, so
        // that most transcripts stay live long enough to get somewhere.
        2 => prop_oneof![Just(InviteRole::Customer), Just(InviteRole::Csr)].prop_map(Op::Invite),
        4 => who().prop_map(Op::MakePrimary),
        6 => heir().prop_map(Op::TransferControl),
        2 => Just(Op::Leave),
        1 => text().prop_map(Op::End),
        2 => text().prop_map(Op::SaveNotes),
        30 => (activity(), prop::option::weighted(0.2, who())).prop_map(|(a, t)| Op::Start(a, t)),
        8 => activity().prop_map(Op::Stop),
        4 => (who(), capability()).prop_map(|(w, c)| Op::Request(w, c)),
        4 => (capability(), prop::bool::weighted(0.8)).prop_map(|(c, g)| Op::Answer(c, g)),
        3 => capability().prop_map(Op::Revoke),
        3 => (
            who(),
            prop_oneof![
                Just(TransferDirection::Published),
                Just(TransferDirection::ToCustomer),
                Just(TransferDirection::FromCustomer),
            ],
            any::<bool>(),
        )
            .prop_map(|(w, d, hashed)| Op::Report(w, d, hashed)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::JoinCustomer),
        2 => (1i64..=5).prop_map(Step::JoinCsr),
        14 => (who(), op()).prop_map(|(w, o)| Step::Do(w, o)),
        4 => (who(), capability(), prop::bool::weighted(0.85), any::<bool>())
            .prop_map(|(w, c, g, app)| Step::ConsentFlow(w, c, g, app)),
        2 => (who(), any::<bool>()).prop_map(|(w, c)| Step::Connected(w, c)),
        1 => who().prop_map(Step::TimeOut),
    ]
}

fn policy() -> impl Strategy<Value = SessionPolicy> {
    (
        prop_oneof![
            Just(FileTransferMode::Off),
            Just(FileTransferMode::Basic),
            Just(FileTransferMode::Advanced),
        ],
        any::<bool>(),
    )
        .prop_map(|(file_transfer, recording_allowed)| SessionPolicy {
            file_transfer,
            recording_allowed,
        })
}

fn transcript() -> impl Strategy<Value = (SessionPolicy, Vec<Step>)> {
    (policy(), prop::collection::vec(step(), 0..=60))
}

// ---- resolving and applying steps ----

/// One call of the session API with every participant resolved.
#[derive(Debug, Clone)]
enum Action {
    Join(ParticipantKind),
    Handle(ParticipantId, Command),
    Connected(ParticipantId, bool),
    TimeOut(ParticipantId),
}

fn resolve(s: &Session, who: Who) -> ParticipantId {
    let nth = |csr: bool, k: usize| {
        let ids: Vec<_> = s
            .present_participants()
            .filter(|p| p.kind.is_csr() == csr)
            .map(|p| p.id)
            .collect();
        // Nobody of that kind: an id nobody has.
        ids.get(k % ids.len().max(1))
            .copied()
            .unwrap_or(ParticipantId(0))
    };
    match who {
        Who::Id(n) => ParticipantId(n),
        Who::Controller => s.controller(),
        Who::Primary => s.primary().unwrap_or(ParticipantId(0)),
        Who::Csr(k) => nth(true, k),
        Who::Customer(k) => nth(false, k),
        Who::Relinquished => s
            .present_participants()
            .find(|p| s.is_relinquished(p.id))
            .map_or(ParticipantId(0), |p| p.id),
    }
}

fn command(s: &Session, op: &Op) -> Command {
    let id = |w| resolve(s, w);
    match op.clone() {
        Op::Invite(role) => Command::Invite { role },
        Op::MakePrimary(w) => Command::MakePrimary { customer: id(w) },
        Op::TransferControl(w) => Command::TransferControl { to: id(w) },
        Op::Leave => Command::Leave,
        Op::End(notes) => Command::End { notes },
        Op::SaveNotes(notes) => Command::SaveNotes { notes },
        Op::Start(activity, target) => Command::StartActivity {
            activity,
            target: target.map(id),
        },
        Op::Stop(activity) => Command::StopActivity { activity },
        Op::Request(w, capability) => Command::RequestConsent {
            customer: id(w),
            capability,
        },
        Op::Answer(capability, granted) => Command::AnswerConsent {
            capability,
            granted,
        },
        Op::Revoke(capability) => Command::RevokeConsent { capability },
        Op::Report(w, direction, hashed) => Command::ReportTransfer {
            transfer: TransferReport {
                name: "log.txt".into(),
                size: 42,
                sha256: if hashed {
                    "0f".repeat(32)
                } else {
                    String::new()
                },
                direction,
                outcome: TransferOutcome::Completed,
                customer: id(w),
            },
        },
    }
}

/// The steps of a transcript as actions, each resolved just before it runs.
fn expand(steps: &[Step]) -> Vec<Step> {
    steps
        .iter()
        .flat_map(|step| match step {
            Step::ConsentFlow(who, capability, granted, app) => {
                let activity = match (capability, app) {
                    (Capability::RemoteView, false) => Activity::ViewDesktop,
                    (Capability::RemoteView, true) => Activity::ViewApplication,
                    (Capability::RemoteControl, false) => Activity::ControlDesktop,
                    (Capability::RemoteControl, true) => Activity::ControlApplication,
                    (Capability::FileTransfer, _) => Activity::FileTransferAdvanced,
                    (Capability::Recording, _) => Activity::Recording,
                    (Capability::SystemInfo, _) => Activity::FileTransferBasic,
                };
                vec![
                    Step::Do(*who, Op::Request(Who::Primary, *capability)),
                    Step::Do(Who::Primary, Op::Answer(*capability, *granted)),
                    Step::Do(*who, Op::Start(activity, None)),
                ]
            }
            other => vec![other.clone()],
        })
        .collect()
}

fn action(s: &Session, step: &Step) -> Action {
    match step {
        Step::JoinCustomer => Action::Join(ParticipantKind::Customer),
        Step::JoinCsr(account) => Action::Join(ParticipantKind::Csr {
            account: AccountId(*account),
        }),
        Step::Do(who, op) => Action::Handle(resolve(s, *who), command(s, op)),
        Step::Connected(who, up) => Action::Connected(resolve(s, *who), *up),
        Step::TimeOut(who) => Action::TimeOut(resolve(s, *who)),
        Step::ConsentFlow(..) => unreachable!("expanded before running"),
    }
}

fn apply(s: &mut Session, action: &Action, now: Millis) -> Result<Vec<Event>, RuleViolation> {
    match action {
        Action::Join(kind) => {
            let name = if kind.is_csr() { "Csr" } else { "Customer" };
            s.join(*kind, name, now).map(|(_, events)| events)
        }
        Action::Handle(actor, command) => s.handle(*actor, command.clone(), now),
        Action::Connected(id, up) => s.set_connected(*id, *up),
        Action::TimeOut(id) => s.time_out(*id, now),
    }
}

/// What happened in a run, to check that the generator reaches the states the properties are about.
#[derive(Debug, Default)]
struct Seen {
    consents_granted: usize,
    views_started: usize,
    controls_started: usize,
    transfers_started: usize,
    transfers_refused_for_app_sharing: usize,
    app_sharing_refused_for_transfer: usize,
    granted_consents_asked_again: usize,
    control_transferred: usize,
    refused_after_transfer_away: usize,
    ended_by_end: usize,
    ended_otherwise: usize,
    refused_after_end: usize,
}

fn roles(s: &Session, role: Role) -> usize {
    s.roster()
        .participants
        .iter()
        .filter(|p| p.role == role)
        .count()
}

/// Run one transcript, asserting the properties after every step.
fn run(policy: SessionPolicy, steps: &[Step], seen: &mut Seen) -> Result<(), TestCaseError> {
    let kind = SessionType {
        name: "General".into(),
        requires_tracking_code: false,
    };
    let (mut s, _) = Session::start(AccountId(1), "Ana", &kind, None, policy, 0)
        .map_err(|e| TestCaseError::fail(format!("start refused: {e}")))?;
    prop_assert_eq!(s.check_invariants(), Ok(()));
    for (i, step) in expand(steps).iter().enumerate() {
        let now = 1_000 + 10 * i as Millis;
        let action = action(&s, step);
        let before = s.clone();
        let result = apply(&mut s, &action, now);
        let at = format!("step {i}: {action:?} -> {result:?}");

        // Refusals change nothing; nothing is accepted after the end.
        if result.is_err() {
            prop_assert_eq!(&s, &before, "refusal changed the session at {}", at);
        }
        if !before.is_live() {
            prop_assert!(result.is_err(), "accepted after the end at {}", at);
            seen.refused_after_end += 1;
        }

        prop_assert_eq!(s.check_invariants(), Ok(()), "invariants at {}", at);
        prop_assert!(
            roles(&s, Role::PrimaryCustomer) <= 1,
            "two primaries at {}",
            at
        );
        if s.is_live() {
            prop_assert_eq!(roles(&s, Role::Controller), 1, "controllers at {}", at);
        } else {
            prop_assert!(
                s.roster().participants.is_empty(),
                "ended with a roster at {}",
                at
            );
        }
        if before.is_live() && !s.is_live() {
            // Rule 8: ending disconnects everyone: each participant still present is told it
            // left because the session ended, and then the session ends.
            let events = result.as_deref().unwrap_or_default();
            let left: Vec<ParticipantId> = events
                .iter()
                .filter_map(|e| match e {
                    Event::ParticipantLeft {
                        participant,
                        reason: LeaveReason::SessionEnded,
                    } => Some(*participant),
                    _ => None,
                })
                .collect();
            let present: Vec<ParticipantId> = before.present_participants().map(|p| p.id).collect();
            prop_assert_eq!(left, present, "left at the end at {}", at);
            prop_assert!(
                matches!(events.last(), Some(Event::SessionEnded { .. })),
                "last event of an end at {}",
                at
            );
            prop_assert_eq!(s.primary(), None, "primary after the end at {}", at);
            match &action {
                Action::Handle(_, Command::End { .. }) => seen.ended_by_end += 1,
                _ => seen.ended_otherwise += 1,
            }
        }

        let Action::Handle(actor, command) = &action else {
            continue;
        };
        let actor = *actor;
        match (command, &result) {
            (Command::End { .. }, Ok(_)) => {
                prop_assert_eq!(
                    actor,
                    before.controller(),
                    "ended by a non-controller at {}",
                    at
                );
            }
            (Command::TransferControl { .. }, Ok(_)) => seen.control_transferred += 1,
            (Command::AnswerConsent { granted: true, .. }, Ok(_)) => seen.consents_granted += 1,
            // Rule 12: a granted consent stays granted until the customer revokes it; asking
            // for it again is refused (and, as every refusal, changes nothing).
            (
                Command::RequestConsent {
                    customer,
                    capability,
                },
                _,
            ) if before.is_live()
                && before.consent(*customer, *capability) == Some(ConsentState::Granted) =>
            {
                prop_assert!(result.is_err(), "granted consent asked again at {}", at);
                if result
                    == Err(RuleViolation::ConsentAlreadyGiven {
                        capability: *capability,
                    })
                {
                    seen.granted_consents_asked_again += 1;
                }
            }
            (Command::StartActivity { .. }, Err(RuleViolation::ControlTransferredAway)) => {
                seen.refused_after_transfer_away += 1;
            }
            _ => {}
        }
        let Command::StartActivity { activity, .. } = command else {
            continue;
        };
        let activity = *activity;
        // Rule 11, both ways: no file transfer starts while an application is viewed or
        // controlled, and no application is viewed or controlled while files are transferred.
        let running = |f: fn(Activity) -> bool| before.activities().iter().any(|a| f(a.activity));
        if activity.is_file_transfer() {
            if running(Activity::is_application_sharing) {
                prop_assert!(
                    result.is_err(),
                    "file transfer during application sharing at {}",
                    at
                );
            }
            if result == Err(RuleViolation::ApplicationSharingActive) {
                seen.transfers_refused_for_app_sharing += 1;
            }
        }
        if activity.is_application_sharing() {
            if running(Activity::is_file_transfer) {
                prop_assert!(
                    result.is_err(),
                    "application sharing during file transfer at {}",
                    at
                );
            }
            if result == Err(RuleViolation::FileTransferActive) {
                seen.app_sharing_refused_for_transfer += 1;
            }
        }
        if result.is_err() {
            continue;
        }
        let is_controller = actor == before.controller();
        let relinquished = before.is_relinquished(actor);
        match activity {
            Activity::ViewDesktop | Activity::ViewApplication => {
                let assisting_csr = before.role(actor) == Some(Role::Csr) && !relinquished;
                prop_assert!(
                    is_controller || assisting_csr,
                    "view by {} at {}",
                    actor,
                    at
                );
                seen.views_started += 1;
            }
            Activity::ControlDesktop | Activity::ControlApplication => {
                prop_assert!(
                    is_controller && !relinquished,
                    "control by {} at {}",
                    actor,
                    at
                );
                seen.controls_started += 1;
            }
            Activity::FileTransferBasic | Activity::FileTransferAdvanced => {
                prop_assert!(
                    is_controller && !relinquished,
                    "transfer by {} at {}",
                    actor,
                    at
                );
                seen.transfers_started += 1;
            }
            _ => {}
        }
    }
    Ok(())
}

const CASES: u32 = 256;

proptest! {
    #![proptest_config(Config { cases: CASES, failure_persistence: None, ..Config::default() })]

    #[test]
    fn random_transcripts_keep_the_rules((policy, steps) in transcript()) {
        run(policy, &steps, &mut Seen::default())?;
    }
}

/// The properties above are only worth something if the walk gets there: generate as many
/// transcripts as the property test does, with a fixed seed, and count.
#[test]
fn generator_reaches_interesting_states() {
    let mut runner = TestRunner::deterministic();
    let mut seen = Seen::default();
    for _ in 0..CASES {
        let (policy, steps) = transcript()
            .new_tree(&mut runner)
            .expect("generates")
            .current();
        if let Err(e) = run(policy, &steps, &mut seen) {
            panic!("{e}");
        }
    }
    let counts = [
        ("consents granted", seen.consents_granted),
        ("views started", seen.views_started),
        ("controls started", seen.controls_started),
        ("transfers started", seen.transfers_started),
        (
            "transfers refused for app sharing",
            seen.transfers_refused_for_app_sharing,
        ),
        (
            "app sharing refused for transfer",
            seen.app_sharing_refused_for_transfer,
        ),
        (
            "granted consents asked again",
            seen.granted_consents_asked_again,
        ),
        ("control transferred", seen.control_transferred),
        (
            "refused after transfer away",
            seen.refused_after_transfer_away,
        ),
        ("ended by end", seen.ended_by_end),
        ("ended otherwise", seen.ended_otherwise),
        ("refused after end", seen.refused_after_end),
    ];
    for (what, count) in counts {
        assert!(
            count >= 3,
            "only {count} × {what} in {CASES} transcripts: {seen:?}"
        );
    }
}
