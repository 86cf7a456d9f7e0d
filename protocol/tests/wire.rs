//! Wire-format tables: decoding every client message type and every way decoding fails,
//! server-message round trips, short codes and invitation validity.

use std::collections::BTreeSet;
use tether_protocol::{
    Activity, CLIENT_MESSAGE_TYPES, Capability, ClientMessage, Command, Consent, ConsentState,
    EndReason, Event, Hello, InvitationError, InvitationStatus, LeaveReason, MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION, ParticipantId, Ping, Role, Roster, RosterEntry, RunningActivity,
    ServerMessage, ShortCode, Signal, SignalData, StopReason, TransferDirection, TransferOutcome,
    TransferReport, check_invitation, decode_client,
};

const P2: ParticipantId = ParticipantId(2);
const P3: ParticipantId = ParticipantId(3);

fn transfer_report() -> TransferReport {
    TransferReport {
        name: "driver.zip".into(),
        size: 1_048_576,
        sha256: "0123456789abcdef".repeat(4),
        direction: TransferDirection::ToCustomer,
        outcome: TransferOutcome::Completed,
        customer: P2,
    }
}

// ---- decode_client: one example of each client message type ----

/// (type, JSON text, what it decodes to).
fn client_examples() -> Vec<(&'static str, &'static str, ClientMessage)> {
    use ClientMessage as M;
    vec![
        (
            "hello",
            r#"{"type":"hello","version":1,"token":"tok-abc"}"#,
            M::Hello(Hello {
                version: 1,
                token: "tok-abc".into(),
            }),
        ),
        (
            "signal",
            r#"{"type":"signal","to":3,"data":{"kind":"offer","sdp":"v=0"}}"#,
            M::Signal(Signal {
                to: P3,
                data: SignalData::Offer { sdp: "v=0".into() },
            }),
        ),
        ("ping", r#"{"type":"ping","id":7}"#, M::Ping(Ping { id: 7 })),
        (
            "make_primary",
            r#"{"type":"make_primary","customer":2}"#,
            M::Command(Command::MakePrimary { customer: P2 }),
        ),
        (
            "transfer_control",
            r#"{"type":"transfer_control","to":3}"#,
            M::Command(Command::TransferControl { to: P3 }),
        ),
        ("leave", r#"{"type":"leave"}"#, M::Command(Command::Leave)),
        (
            "end",
            r#"{"type":"end","notes":"fixed"}"#,
            M::Command(Command::End {
                notes: "fixed".into(),
            }),
        ),
        (
            "save_notes",
            r#"{"type":"save_notes","notes":"n"}"#,
            M::Command(Command::SaveNotes { notes: "n".into() }),
        ),
        (
            "start_activity",
            r#"{"type":"start_activity","activity":"view_desktop","target":2}"#,
            M::Command(Command::StartActivity {
                activity: Activity::ViewDesktop,
                target: Some(P2),
            }),
        ),
        (
            "stop_activity",
            r#"{"type":"stop_activity","activity":"file_transfer_basic"}"#,
            M::Command(Command::StopActivity {
                activity: Activity::FileTransferBasic,
            }),
        ),
        (
            "request_consent",
            r#"{"type":"request_consent","customer":2,"capability":"system_info"}"#,
            M::Command(Command::RequestConsent {
                customer: P2,
                capability: Capability::SystemInfo,
            }),
        ),
        (
            "answer_consent",
            r#"{"type":"answer_consent","capability":"remote_control","granted":true}"#,
            M::Command(Command::AnswerConsent {
                capability: Capability::RemoteControl,
                granted: true,
            }),
        ),
        (
            "revoke_consent",
            r#"{"type":"revoke_consent","capability":"recording"}"#,
            M::Command(Command::RevokeConsent {
                capability: Capability::Recording,
            }),
        ),
        (
            "report_transfer",
            r#"{"type":"report_transfer","transfer":{"name":"driver.zip","size":1048576,
                "sha256":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "direction":"to_customer","outcome":"completed","customer":2}}"#,
            M::Command(Command::ReportTransfer {
                transfer: transfer_report(),
            }),
        ),
        (
            "record_chat",
            r#"{"type":"record_chat","lines":[{"from":1,"to":[2],"text":"hello","sent_at":5}]}"#,
            M::Command(Command::RecordChat {
                lines: vec![tether_protocol::ChatRecord {
                    from: ParticipantId(1),
                    to: vec![ParticipantId(2)],
                    text: "hello".into(),
                    sent_at: 5,
                }],
            }),
        ),
    ]
}

#[test]
fn every_client_message_type_decodes() {
    let examples = client_examples();
    let covered: BTreeSet<&str> = examples.iter().map(|(t, ..)| *t).collect();
    let declared: BTreeSet<&str> = CLIENT_MESSAGE_TYPES.into_iter().collect();
    assert_eq!(
        covered, declared,
        "the table covers CLIENT_MESSAGE_TYPES exactly"
    );
    assert_eq!(
        examples.len(),
        CLIENT_MESSAGE_TYPES.len(),
        "one example per type"
    );
    for (name, text, want) in examples {
        let got = decode_client(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
        // Encoding the decoded message gives the same type and decodes to the same value.
        let again = serde_json::to_string(&got).expect("client messages serialize");
        let value: serde_json::Value = serde_json::from_str(&again).expect("valid JSON");
        assert_eq!(value["type"], name, "{name} re-encoded as {again}");
        assert_eq!(decode_client(&again), Ok(want), "{name} round trip");
    }
}

#[test]
fn optional_fields_take_their_defaults() {
    let table = [
        (r#"{"type":"ping"}"#, ClientMessage::Ping(Ping { id: 0 })),
        (
            r#"{"type":"end"}"#,
            ClientMessage::Command(Command::End {
                notes: String::new(),
            }),
        ),
        (
            r#"{"type":"start_activity","activity":"video"}"#,
            ClientMessage::Command(Command::StartActivity {
                activity: Activity::Video,
                target: None,
            }),
        ),
        (
            r#"{"type":"signal","to":2,"data":{"kind":"candidate","candidate":"c"}}"#,
            ClientMessage::Signal(Signal {
                to: P2,
                data: SignalData::Candidate {
                    candidate: "c".into(),
                    sdp_mid: None,
                    sdp_m_line_index: None,
                },
            }),
        ),
        (
            r#"{"type":"signal","to":2,"data":{"kind":"end_of_candidates"}}"#,
            ClientMessage::Signal(Signal {
                to: P2,
                data: SignalData::EndOfCandidates,
            }),
        ),
        (
            r#"{"type":"signal","to":2,"data":{"kind":"restart"}}"#,
            ClientMessage::Signal(Signal {
                to: P2,
                data: SignalData::Restart,
            }),
        ),
        // Unknown extra fields are ignored, for forward compatibility.
        (
            r#"{"type":"leave","extra":[1,2]}"#,
            ClientMessage::Command(Command::Leave),
        ),
    ];
    for (text, want) in table {
        assert_eq!(decode_client(text), Ok(want), "{text}");
    }
}

// ---- decode_client: failures ----

/// (input, code, text the message must contain, the request type the error names).
type Failure = (String, &'static str, &'static str, Option<&'static str>);

fn failures() -> Vec<Failure> {
    let s = |t: &str| t.to_owned();
    vec![
        // Not JSON.
        (s(""), "malformed", "not JSON", None),
        (s("{"), "malformed", "not JSON", None),
        (s("hello"), "malformed", "not JSON", None),
        (
            s(r#"{"type":"ping"} trailing"#),
            "malformed",
            "not JSON",
            None,
        ),
        (s(r#"{"type":"ping",}"#), "malformed", "not JSON", None),
        // No string type.
        (s("{}"), "malformed", r#"string field "type""#, None),
        (s("[]"), "malformed", r#"string field "type""#, None),
        (s("null"), "malformed", r#"string field "type""#, None),
        (s(r#""ping""#), "malformed", r#"string field "type""#, None),
        (
            s(r#"{"type":7}"#),
            "malformed",
            r#"string field "type""#,
            None,
        ),
        (
            s(r#"{"type":null}"#),
            "malformed",
            r#"string field "type""#,
            None,
        ),
        (
            s(r#"{"type":["ping"]}"#),
            "malformed",
            r#"string field "type""#,
            None,
        ),
        (
            s(r#"{"kind":"ping"}"#),
            "malformed",
            r#"string field "type""#,
            None,
        ),
        // Unknown type: the message names it and lists the known ones.
        (
            s(r#"{"type":"fly"}"#),
            "unknown_type",
            r#""fly""#,
            Some("fly"),
        ),
        (
            s(r#"{"type":"PING"}"#),
            "unknown_type",
            r#""PING""#,
            Some("PING"),
        ),
        (
            s(r#"{"type":""}"#),
            "unknown_type",
            "expected one of hello",
            Some(""),
        ),
        (
            s(r#"{"type":"welcome"}"#),
            "unknown_type",
            r#""welcome""#,
            Some("welcome"),
        ),
        // A command, but not a wire message: invitations are created over REST.
        (
            s(r#"{"type":"invite","role":"csr"}"#),
            "unknown_type",
            r#""invite""#,
            Some("invite"),
        ),
        // Bad fields: the message names the field (or the bad value) and the type.
        (
            s(r#"{"type":"make_primary"}"#),
            "malformed",
            "missing field `customer`",
            Some("make_primary"),
        ),
        (
            s(r#"{"type":"transfer_control"}"#),
            "malformed",
            "missing field `to`",
            Some("transfer_control"),
        ),
        (
            s(r#"{"type":"save_notes"}"#),
            "malformed",
            "missing field `notes`",
            Some("save_notes"),
        ),
        (
            s(r#"{"type":"answer_consent","capability":"remote_view"}"#),
            "malformed",
            "missing field `granted`",
            Some("answer_consent"),
        ),
        (
            s(r#"{"type":"report_transfer","transfer":{"name":"a","size":1}}"#),
            "malformed",
            "missing field `direction`",
            Some("report_transfer"),
        ),
        (
            s(r#"{"type":"start_activity","activity":"fly"}"#),
            "malformed",
            "unknown variant `fly`",
            Some("start_activity"),
        ),
        (
            s(r#"{"type":"stop_activity","activity":"VIEW_DESKTOP"}"#),
            "malformed",
            "unknown variant `VIEW_DESKTOP`",
            Some("stop_activity"),
        ),
        (
            s(r#"{"type":"request_consent","customer":2,"capability":"mind_reading"}"#),
            "malformed",
            "unknown variant `mind_reading`",
            Some("request_consent"),
        ),
        (
            s(r#"{"type":"make_primary","customer":-1}"#),
            "malformed",
            r#"bad fields for "make_primary": customer: invalid value"#,
            Some("make_primary"),
        ),
        // Too large, whatever the content.
        (
            " ".repeat(MAX_MESSAGE_BYTES + 1),
            "too_large",
            "larger than the limit of 65536",
            None,
        ),
        (
            format!(
                r#"{{"type":"save_notes","notes":"{}"}}"#,
                "n".repeat(MAX_MESSAGE_BYTES)
            ),
            "too_large",
            "larger than the limit",
            None,
        ),
    ]
}

#[test]
fn decoding_failures_name_the_problem() {
    for (text, code, says, request) in failures() {
        let shown: String = text.chars().take(60).collect();
        let e = decode_client(&text).expect_err(&shown);
        let message = e.to_string();
        assert_eq!(e.code(), code, "{shown}: {message}");
        assert!(
            message.contains(says),
            "{shown}: {message:?} should contain {says:?}"
        );
        assert_eq!(e.request(), request, "{shown}");
        // The error message the service sends carries the same code and request.
        match e.to_message() {
            ServerMessage::Error {
                code: c,
                message: m,
                request: r,
            } => {
                assert_eq!(
                    (c.as_str(), m, r.as_deref()),
                    (code, message, request),
                    "{shown}"
                );
            }
            other => panic!("{shown}: to_message gave {other:?}"),
        }
    }
}

#[test]
fn decoding_failures_name_the_field() {
    // SPEC "Bad input": "a clear error that names the problem". A missing or wrong-typed field
    // of any message type is refused with `malformed`, and the message names the message type
    // and the field at fault, with its path inside the message (`data.kind`) where it is nested.
    let table = [
        // (input, the field at fault, what the message must say about it)
        (
            r#"{"type":"hello","token":"t"}"#,
            "version",
            r#"bad fields for "hello": missing field `version`"#,
        ),
        (
            r#"{"type":"hello","version":"1","token":"t"}"#,
            "version",
            r#"bad fields for "hello": version: invalid type: string "1", expected u32"#,
        ),
        (
            r#"{"type":"hello","version":1,"token":7}"#,
            "token",
            r#"bad fields for "hello": token: invalid type: integer `7`"#,
        ),
        (
            r#"{"type":"signal","to":2}"#,
            "data",
            r#"bad fields for "signal": missing field `data`"#,
        ),
        (
            r#"{"type":"signal","to":"bo","data":{"kind":"offer","sdp":"v=0"}}"#,
            "to",
            r#"bad fields for "signal": to: invalid type: string "bo""#,
        ),
        (
            r#"{"type":"signal","to":2,"data":{"kind":"offer"}}"#,
            "sdp",
            r#"bad fields for "signal": data: missing field `sdp`"#,
        ),
        (
            r#"{"type":"signal","to":2,"data":{"kind":"shout"}}"#,
            "data.kind",
            r#"bad fields for "signal": data.kind: unknown variant `shout`"#,
        ),
        (
            r#"{"type":"ping","id":"x"}"#,
            "id",
            r#"bad fields for "ping": id: invalid type: string "x", expected u64"#,
        ),
        (
            r#"{"type":"ping","id":-1}"#,
            "id",
            r#"bad fields for "ping": id: invalid value: integer `-1`, expected u64"#,
        ),
        (
            r#"{"type":"make_primary"}"#,
            "customer",
            r#"bad fields for "make_primary": missing field `customer`"#,
        ),
        (
            r#"{"type":"make_primary","customer":"x"}"#,
            "customer",
            r#"bad fields for "make_primary": customer: invalid type: string "x", expected u32"#,
        ),
        (
            r#"{"type":"start_activity","activity":"video","target":"x"}"#,
            "target",
            r#"bad fields for "start_activity": target: invalid type: string "x""#,
        ),
        (
            r#"{"type":"start_activity","activity":"fly"}"#,
            "activity",
            r#"bad fields for "start_activity": activity: unknown variant `fly`"#,
        ),
        (
            r#"{"type":"end","notes":5}"#,
            "notes",
            r#"bad fields for "end": notes: invalid type: integer `5`, expected a string"#,
        ),
        (
            r#"{"type":"answer_consent","capability":"remote_view","granted":"yes"}"#,
            "granted",
            r#"bad fields for "answer_consent": granted: invalid type: string "yes""#,
        ),
        // A bad field nested in a command is named by the command's field that holds it.
        (
            r#"{"type":"report_transfer","transfer":{"name":"a","size":"big"}}"#,
            "transfer",
            r#"bad fields for "report_transfer": transfer: invalid type: string "big""#,
        ),
        (
            r#"{"type":"answer_consent","capability":"remote_view"}"#,
            "granted",
            r#"bad fields for "answer_consent": missing field `granted`"#,
        ),
    ];
    for (text, field, says) in table {
        assert!(
            says.contains(field),
            "{text}: the expectation names {field}"
        );
        let e = decode_client(text).expect_err(text);
        let message = e.to_string();
        assert_eq!(e.code(), "malformed", "{text}: {message}");
        assert!(
            message.contains(says),
            "{text}: {message:?} should contain {says:?}"
        );
        let name = serde_json::from_str::<serde_json::Value>(text).expect("valid JSON")["type"]
            .as_str()
            .map(str::to_owned);
        assert_eq!(e.request(), name.as_deref(), "{text}");
    }
}

#[test]
fn padded_messages_are_not_probed_for_the_bad_field() {
    // A wrong-typed command field behind thousands of ignored extra fields, just under the size
    // limit. Naming the field costs one re-decode per field, so `decode_client` only probes
    // messages with a handful of fields: this one is refused without the field named (and
    // without quadratic work, which any client could otherwise trigger).
    let mut text = String::from(r#"{"type":"make_primary""#);
    let mut i = 0;
    while text.len() < MAX_MESSAGE_BYTES - 40 {
        text.push_str(&format!(r#","{i:x}":0"#));
        i += 1;
    }
    text.push_str(r#","customer":"x"}"#);
    assert!(text.len() <= MAX_MESSAGE_BYTES);
    let e = decode_client(&text).expect_err("customer is not a number");
    assert_eq!(e.code(), "malformed");
    assert!(!e.to_string().contains("customer:"), "{e}");
    // The same fault without padding is named.
    let e = decode_client(r#"{"type":"make_primary","customer":"x"}"#).expect_err("bad");
    assert!(e.to_string().contains("customer:"), "{e}");
}

#[test]
fn size_limit_is_inclusive() {
    let ping = r#"{"type":"ping","id":1}"#;
    let exactly = format!("{ping}{}", " ".repeat(MAX_MESSAGE_BYTES - ping.len()));
    assert_eq!(exactly.len(), MAX_MESSAGE_BYTES);
    assert_eq!(
        decode_client(&exactly),
        Ok(ClientMessage::Ping(Ping { id: 1 }))
    );
    let over = format!("{exactly} ");
    let e = decode_client(&over).expect_err("one byte over");
    assert_eq!(e.code(), "too_large");
    assert_eq!(e.request(), None);
}

// ---- server messages ----

fn roster() -> Roster {
    Roster {
        live: true,
        controller: ParticipantId(1),
        primary: Some(P2),
        participants: vec![
            RosterEntry {
                id: ParticipantId(1),
                name: "Ana".into(),
                role: Role::Controller,
                connected: true,
            },
            RosterEntry {
                id: P2,
                name: "Bo \"the customer\"".into(),
                role: Role::PrimaryCustomer,
                connected: false,
            },
            RosterEntry {
                id: P3,
                name: "Dee ü".into(),
                role: Role::Csr,
                connected: true,
            },
        ],
        activities: vec![RunningActivity {
            activity: Activity::ViewDesktop,
            actor: ParticipantId(1),
            target: Some(P2),
            since: 1_700_000_000_000,
        }],
        consents: vec![Consent {
            customer: P2,
            capability: Capability::RemoteView,
            state: ConsentState::Granted,
        }],
        recording: false,
    }
}

/// (expected `type`, message).
fn server_examples() -> Vec<(&'static str, ServerMessage)> {
    use ServerMessage as S;
    let event = |event| S::Event { event };
    vec![
        (
            "welcome",
            S::Welcome {
                version: PROTOCOL_VERSION,
                session: "4f1c".into(),
                you: P2,
                role: Role::PrimaryCustomer,
                heartbeat_ms: 15_000,
                roster: roster(),
            },
        ),
        ("roster", S::Roster { roster: roster() }),
        (
            "event",
            event(Event::SessionStarted {
                by: ParticipantId(1),
                session_type: "General".into(),
                tracking_code: None,
            }),
        ),
        (
            "event",
            event(Event::ParticipantJoined {
                participant: P2,
                name: "Bo".into(),
                role: Role::PrimaryCustomer,
            }),
        ),
        (
            "event",
            event(Event::ParticipantLeft {
                participant: P3,
                reason: LeaveReason::TimedOut,
            }),
        ),
        (
            "event",
            event(Event::PrimaryChanged {
                previous: Some(P2),
                primary: None,
            }),
        ),
        (
            "event",
            event(Event::ControlTransferred {
                from: ParticipantId(1),
                to: P3,
            }),
        ),
        (
            "event",
            event(Event::ActivityStopped {
                activity: Activity::ControlApplication,
                actor: ParticipantId(1),
                target: Some(P2),
                reason: StopReason::ConsentRevoked,
            }),
        ),
        (
            "event",
            event(Event::FileTransferRecorded {
                by: ParticipantId(1),
                transfer: transfer_report(),
            }),
        ),
        (
            "event",
            event(Event::SessionEnded {
                by: None,
                reason: EndReason::ControllerTimedOut,
                notes: "n\nn".into(),
            }),
        ),
        (
            "signal",
            S::Signal {
                from: P3,
                data: SignalData::Answer {
                    sdp: "v=0\r\n".into(),
                },
            },
        ),
        (
            "signal",
            S::Signal {
                from: P3,
                data: SignalData::Candidate {
                    candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                },
            },
        ),
        (
            "signal",
            S::Signal {
                from: P2,
                data: SignalData::EndOfCandidates,
            },
        ),
        ("pong", S::Pong { id: u64::MAX }),
        (
            "error",
            ServerMessage::error("controller_only", "only the controller", Some("end")),
        ),
        ("error", ServerMessage::error("too_large", "too big", None)),
        (
            "ended",
            S::Ended {
                reason: EndReason::Ended,
                notes: String::new(),
            },
        ),
    ]
}

#[test]
fn server_messages_round_trip() {
    for (name, message) in server_examples() {
        let json = message.to_json();
        let value: serde_json::Value = serde_json::from_str(&json).expect("to_json gives JSON");
        assert_eq!(value["type"], name, "{json}");
        let back: ServerMessage =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(back, message, "{json}");
    }
}

#[test]
fn error_without_request_omits_the_field() {
    let json = ServerMessage::error("too_large", "too big", None).to_json();
    assert_eq!(
        json,
        r#"{"type":"error","code":"too_large","message":"too big"}"#
    );
}

// ---- short codes ----

#[test]
fn short_code_parse() {
    let code = |session_number, secret| {
        Some(ShortCode {
            session_number,
            secret,
        })
    };
    let table = [
        ("1234-56789", code(1234, 56789)),
        ("1234 56789", code(1234, 56789)),
        ("123456789", code(1234, 56789)),
        (" 1234 - 56789 ", code(1234, 56789)),
        ("12-34-56-789", code(1234, 56789)),
        ("1000-00000", code(1000, 0)),
        ("9999-99999", code(9999, 99999)),
        ("1000-00042", code(1000, 42)),
        // Refused: wrong number of digits, other characters, session number out of range.
        ("", None),
        ("1234-5678", None),
        ("12345678", None),
        ("1234-567890", None),
        ("1234567890", None),
        ("0999-12345", None),
        ("0000-00000", None),
        ("abcd-efghi", None),
        ("1234-5678a", None),
        ("1234_56789", None),
        ("1234.56789", None),
        ("1234\t56789", None),
        ("+234-56789", None),
        ("１２３４-56789", None),
        ("1234-5678٩", None),
    ];
    for (input, want) in table {
        assert_eq!(ShortCode::parse(input), want, "{input:?}");
    }
}

#[test]
fn short_code_display() {
    let table = [
        (
            ShortCode {
                session_number: 1234,
                secret: 56789,
            },
            "1234-56789",
        ),
        (
            ShortCode {
                session_number: 1000,
                secret: 7,
            },
            "1000-00007",
        ),
        (
            ShortCode {
                session_number: 9999,
                secret: 0,
            },
            "9999-00000",
        ),
    ];
    for (code, shown) in table {
        assert_eq!(code.to_string(), shown);
        assert_eq!(ShortCode::parse(shown), Some(code), "{shown} parses back");
    }
}

// ---- invitations ----

#[test]
fn invitation_validity() {
    let valid = InvitationStatus {
        expires_at: 10_000,
        revoked: false,
        used: false,
        session_live: true,
    };
    let table = [
        (valid, 0, Ok(())),
        (valid, 9_999, Ok(())),
        (valid, 10_000, Err(InvitationError::Expired)),
        (valid, 10_001, Err(InvitationError::Expired)),
        (
            InvitationStatus {
                revoked: true,
                ..valid
            },
            5,
            Err(InvitationError::Revoked),
        ),
        (
            InvitationStatus {
                used: true,
                ..valid
            },
            5,
            Err(InvitationError::AlreadyUsed),
        ),
        (
            InvitationStatus {
                session_live: false,
                ..valid
            },
            5,
            Err(InvitationError::SessionEnded),
        ),
        // Which reason wins when several apply: ended, then revoked, then used, then expired.
        (
            InvitationStatus {
                expires_at: 0,
                revoked: true,
                used: true,
                session_live: false,
            },
            5,
            Err(InvitationError::SessionEnded),
        ),
        (
            InvitationStatus {
                expires_at: 0,
                revoked: true,
                used: true,
                ..valid
            },
            5,
            Err(InvitationError::Revoked),
        ),
        (
            InvitationStatus {
                expires_at: 0,
                used: true,
                ..valid
            },
            5,
            Err(InvitationError::AlreadyUsed),
        ),
    ];
    for (status, now, want) in table {
        assert_eq!(check_invitation(status, now), want, "{status:?} at {now}");
    }
}

#[test]
fn invitation_error_codes() {
    let table = [
        (InvitationError::Expired, "invitation_expired", "expired"),
        (InvitationError::Revoked, "invitation_revoked", "withdrawn"),
        (
            InvitationError::AlreadyUsed,
            "invitation_used",
            "already been used",
        ),
        (InvitationError::SessionEnded, "session_ended", "has ended"),
    ];
    for (error, code, says) in table {
        assert_eq!(error.code(), code);
        assert!(error.to_string().contains(says), "{error}");
    }
}
