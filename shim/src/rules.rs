//! What a page knows of its session, rebuilt into the protocol's [`Session`], so that the model
//! itself answers "would the service accept this command from me now?".
//!
//! A page knows the roster the service pushes (who is present with which role, the running
//! activities, the consents). The service's `Session` holds a little more, which the page passes
//! when it knows it and which otherwise takes the value that refuses nothing:
//!
//! - the session's policy (file-transfer mode, recording allowed): CSRs read the organization's
//!   policy from `GET /api/v1/session-types`; absent, the most permissive policy is assumed;
//! - the CSRs that handed control away and have not got it back (rule 7): a page follows
//!   `control_transferred` events; absent, none;
//! - the participants who left (their last roster entries): only `record_chat` and
//!   `report_transfer` name them; absent, none.
//!
//! CSR account ids, join times, names of departed participants and notes don't change whether a
//! command is accepted; they are filled in from participant ids. So the answer is the service's
//! answer whenever the page's knowledge is current; the service stays the authority either way.

use serde_json::{Map, Value};
use tether_protocol::{
    FileTransferMode, ParticipantId, Role, Roster, RosterEntry, Session, SessionPolicy,
};

/// The policy assumed when a page doesn't know it: everything allowed.
pub const PERMISSIVE_POLICY: SessionPolicy = SessionPolicy {
    file_transfer: FileTransferMode::Advanced,
    recording_allowed: true,
};

/// Everything a page knows of its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub roster: Roster,
    pub policy: SessionPolicy,
    pub relinquished: Vec<ParticipantId>,
    pub departed: Vec<RosterEntry>,
}

/// The `Session` the service could hold for what the page knows, or why the roster is not one
/// the service could have sent.
pub fn rebuild(known: &Known) -> Result<Session, String> {
    let roster = &known.roster;
    let mut people: Vec<(&RosterEntry, bool)> = roster
        .participants
        .iter()
        .map(|e| (e, true))
        .chain(known.departed.iter().map(|e| (e, false)))
        .collect();
    people.sort_by_key(|(e, _)| e.id);
    let twice = people.windows(2).find_map(|pair| match pair {
        [(a, _), (b, _)] if a.id == b.id => Some(a.id),
        _ => None,
    });
    if let Some(id) = twice {
        return Err(format!("{id} is listed twice"));
    }
    let participants: Vec<Value> = people
        .iter()
        .map(|(e, present)| participant(e, *present))
        .collect();
    let state = if roster.live {
        object([("state", "live".into())])
    } else {
        object([
            ("state", "ended".into()),
            ("at", 0.into()),
            ("by", Value::Null),
            ("reason", "ended".into()),
        ])
    };
    let value =
        |what: &str, v: Result<Value, serde_json::Error>| v.map_err(|e| format!("{what}: {e}"));
    let session = object([
        ("session_type", "".into()),
        ("tracking_code", Value::Null),
        (
            "policy",
            value("policy", serde_json::to_value(known.policy))?,
        ),
        ("started_at", 0.into()),
        ("state", state),
        ("participants", Value::Array(participants)),
        ("controller", roster.controller.0.into()),
        ("primary", roster.primary.map(|p| p.0).into()),
        (
            "relinquished",
            known
                .relinquished
                .iter()
                .map(|p| p.0)
                .collect::<Vec<_>>()
                .into(),
        ),
        (
            "activities",
            value("activities", serde_json::to_value(&roster.activities))?,
        ),
        (
            "consents",
            value("consents", serde_json::to_value(&roster.consents))?,
        ),
        ("notes", "".into()),
    ]);
    let session: Session = serde_json::from_value(session).map_err(|e| e.to_string())?;
    session.check_invariants()?;
    if !same_roster(&session.roster(), roster) {
        return Err(
            "the roles, the controller, the primary customer or the recording flag disagree".into(),
        );
    }
    Ok(session)
}

/// The CSRs of `session` that handed control away and have not got it back, for the page to pass
/// with its next question.
pub fn relinquished(session: &Session) -> Vec<ParticipantId> {
    session
        .participants()
        .iter()
        .map(|p| p.id)
        .filter(|&id| session.is_relinquished(id))
        .collect()
}

/// One participant as `Session` stores it. A CSR's account id is its participant id: only its
/// uniqueness matters to the rules.
fn participant(e: &RosterEntry, present: bool) -> Value {
    let mut fields = vec![
        ("id", e.id.0.into()),
        ("name", e.name.clone().into()),
        ("joined_at", e.id.0.into()),
        ("left_at", if present { Value::Null } else { e.id.0.into() }),
        ("connected", (present && e.connected).into()),
    ];
    match e.role {
        Role::Controller | Role::Csr => {
            fields.push(("kind", "csr".into()));
            fields.push(("account", e.id.0.into()));
        }
        Role::PrimaryCustomer | Role::Customer => fields.push(("kind", "customer".into())),
    }
    object(fields)
}

/// Rosters equal up to the order of participants.
fn same_roster(a: &Roster, b: &Roster) -> bool {
    let sorted = |r: &Roster| {
        let mut r = r.clone();
        r.participants.sort_by_key(|p| p.id);
        r
    };
    sorted(a) == sorted(b)
}

/// A JSON object of these fields.
pub fn object<'a>(fields: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<_, _>>(),
    )
}
