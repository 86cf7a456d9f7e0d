//! Table-driven tests of the calls, natively: each input with the result it must give.
#![allow(clippy::panic, clippy::indexing_slicing, clippy::unwrap_used)]

use crate::calls::{self, *};
use serde_json::{Value, json};
use tether_protocol::{
    AccountId, Activity, Capability, Command, FileTransferMode, ParticipantId, ParticipantKind,
    Roster, RosterEntry, Session, SessionPolicy, SessionType,
};

type Call = fn(&str) -> String;

/// The parsed result of a call, which must be exactly `{"ok": …}` or an error with a code.
fn result(call: Call, input: &str) -> Result<Value, Value> {
    let text = call(input);
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let object = value.as_object().unwrap_or_else(|| panic!("{text}"));
    if let Some(ok) = object.get("ok") {
        assert_eq!(object.len(), 1, "{text}");
        Ok(ok.clone())
    } else {
        assert!(object.get("error").is_some_and(Value::is_string), "{text}");
        assert!(object.get("code").is_some_and(Value::is_string), "{text}");
        Err(value)
    }
}

fn ok(call: Call, input: &str) -> Value {
    result(call, input).unwrap_or_else(|e| panic!("{input}: expected ok, got {e}"))
}

/// The error's code.
fn code(call: Call, input: &str) -> String {
    match result(call, input) {
        Ok(v) => panic!("{input}: expected an error, got ok {v}"),
        Err(e) => e["code"].as_str().unwrap_or_default().to_owned(),
    }
}

/// A table row: the input and either the ok value or the error code.
enum Want {
    Ok(Value),
    Code(&'static str),
}

fn check_table(call: Call, table: &[(&str, Want)]) {
    for (input, want) in table {
        match want {
            Want::Ok(v) => assert_eq!(&ok(call, input), v, "{input}"),
            Want::Code(c) => assert_eq!(code(call, input), *c, "{input}"),
        }
    }
}

use Want::{Code, Ok as Is};

#[test]
fn input_must_be_utf8() {
    let text = run_bytes(check_client, b"{\"type\":\"ping\"}");
    assert_eq!(text, r#"{"ok":{"type":"ping","id":0}}"#);
    let bad = run_bytes(check_client, b"\xff\xfe");
    assert!(bad.contains(r#""code":"not_utf8""#), "{bad}");
}

#[test]
fn client_messages_are_checked_as_the_service_checks_them() {
    let big = format!(r#"{{"type":"ping","pad":"{}"}}"#, "x".repeat(64 * 1024));
    check_table(
        check_client,
        &[
            (r#"{"type":"ping"}"#, Is(json!({"type":"ping","id":0}))),
            (
                r#"{"type":"hello","version":1,"token":"t","extra":true}"#,
                Is(json!({"type":"hello","version":1,"token":"t"})),
            ),
            (
                r#"{"type":"start_activity","activity":"view_desktop"}"#,
                Is(json!({"type":"start_activity","activity":"view_desktop","target":null})),
            ),
            (r#"{"type":"end"}"#, Is(json!({"type":"end","notes":""}))),
            (
                r#"{"type":"signal","to":2,"data":{"kind":"restart"}}"#,
                Is(json!({"type":"signal","to":2,"data":{"kind":"restart"}})),
            ),
            (
                r#"{"type":"invite","role":"customer"}"#,
                Code("unknown_type"),
            ),
            (r#"{"type":"fly"}"#, Code("unknown_type")),
            ("not json", Code("malformed")),
            ("[]", Code("malformed")),
            (
                r#"{"type":"make_primary","customer":"two"}"#,
                Code("malformed"),
            ),
            (&big, Code("too_large")),
        ],
    );
    // The error names the request and the field, as the service's does.
    let e = result(
        check_client,
        r#"{"type":"signal","to":2,"data":{"kind":"offer"}}"#,
    )
    .unwrap_err();
    assert_eq!(e["request"], "signal");
    assert!(
        e["error"].as_str().is_some_and(|m| m.contains("data")),
        "{e}"
    );
    let e = result(check_client, r#"{"type":"fly"}"#).unwrap_err();
    assert_eq!(e["request"], "fly");
}

#[test]
fn server_messages_decode_and_normalise() {
    let roster = json!({"live":true,"controller":1,"primary":null,
        "participants":[{"id":1,"name":"Ana","role":"controller","connected":true}],
        "activities":[],"consents":[],"recording":false});
    let welcome = json!({"type":"welcome","version":1,"session":"s1","you":1,"role":"controller",
        "heartbeat_ms":15000,"roster":roster});
    check_table(
        decode_server,
        &[
            (&welcome.to_string(), Is(welcome.clone())),
            (
                r#"{"type":"pong","id":3}"#,
                Is(json!({"type":"pong","id":3})),
            ),
            (
                r#"{"type":"error","code":"csr_only","message":"no","request":null}"#,
                Is(json!({"type":"error","code":"csr_only","message":"no"})),
            ),
            (
                r#"{"type":"event","event":{"type":"consent_requested","customer":2,"capability":"remote_view","by":1}}"#,
                Is(
                    json!({"type":"event","event":{"type":"consent_requested","customer":2,"capability":"remote_view","by":1}}),
                ),
            ),
            (
                r#"{"type":"ended","reason":"controller_left","notes":""}"#,
                Is(json!({"type":"ended","reason":"controller_left","notes":""})),
            ),
            (
                r#"{"type":"event","event":{"type":"nope"}}"#,
                Code("malformed"),
            ),
            (r#"{"type":"pong"}"#, Code("malformed")),
            (r#"{"type":"ping","id":1}"#, Code("malformed")),
            ("[]", Code("malformed")),
            ("", Code("malformed")),
        ],
    );
}

#[test]
fn peer_messages_decode_as_their_receiver_decodes_them() {
    let peer = |me: u32, message: Value| json!({"me": me, "text": message.to_string()}).to_string();
    let chat = json!({"type":"chat","id":1,"text":"hi","to":[2],"sent_at":5});
    let offer = |name: &str| json!({"type":"file_offer","id":1,"name":name,"size":3,"sha256":"ab".repeat(32)});
    let too_big = json!({"me":1,"text":" ".repeat(16 * 1024 + 1)}).to_string();
    check_table(
        decode_peer,
        &[
            (&peer(2, chat.clone()), Is(chat.clone())),
            (&peer(3, chat), Code("not_for_us")),
            (
                &peer(3, json!({"type":"chat","id":1,"text":"all","sent_at":5})),
                Is(json!({"type":"chat","id":1,"text":"all","to":[],"sent_at":5})),
            ),
            (
                &peer(2, json!({"type":"chat","id":1,"text":"  ","sent_at":5})),
                Code("malformed"),
            ),
            (&peer(2, offer("a.txt")), Is(offer("a.txt"))),
            (&peer(2, offer("../a.txt")), Code("malformed")),
            (
                &peer(2, json!({"type":"file_accept","id":7})),
                Is(json!({"type":"file_accept","id":7,"offset":0})),
            ),
            (
                &peer(
                    2,
                    json!({"type":"input","event":{"type":"pointer_move","x":2.0,"y":0}}),
                ),
                Code("malformed"),
            ),
            (&peer(2, json!({"type":"teleport"})), Code("malformed")),
            (&too_big, Code("too_large")),
            (r#"{"text":"{}"}"#, Code("bad_input")),
            (r#"{"me":1}"#, Code("bad_input")),
            ("[1]", Code("bad_input")),
        ],
    );
}

#[test]
fn peer_messages_encode_only_when_their_receiver_would_accept_them() {
    // Ok: the text to send, which the receiver decodes back to the same message.
    let sent = |message: Value| -> Value {
        let text = ok(encode_peer, &message.to_string());
        let text = text.as_str().unwrap_or_else(|| panic!("{text}"));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    };
    let chat = json!({"type":"chat","id":1,"text":"hi","to":[3, 4],"sent_at":5});
    assert_eq!(sent(chat.clone()), chat);
    assert_eq!(
        sent(json!({"type":"file_accept","id":7})),
        json!({"type":"file_accept","id":7,"offset":0})
    );
    assert_eq!(
        sent(json!({"type":"audio_invite"})),
        json!({"type":"audio_invite"})
    );
    let long = json!({"type":"chat","id":1,"text":"x".repeat(4001),"sent_at":5}).to_string();
    let huge = json!({"type":"refused","id":1,"reason":"x".repeat(16 * 1024)}).to_string();
    check_table(
        encode_peer,
        &[
            (
                r#"{"type":"chat","id":1,"text":"","to":[2],"sent_at":5}"#,
                Code("malformed"),
            ),
            (&long, Code("malformed")),
            (&huge, Code("too_large")),
            (
                r#"{"type":"file_fetch","id":1,"name":"a/b"}"#,
                Code("malformed"),
            ),
            (
                r#"{"type":"input","event":{"type":"wheel","x":0,"y":0,"dy":21}}"#,
                Code("malformed"),
            ),
            (r#"{"type":"chat"}"#, Code("malformed")),
            ("nonsense", Code("malformed")),
        ],
    );
}

#[test]
fn input_events_are_validated() {
    check_table(
        validate_input,
        &[
            (
                r#"{"type":"pointer_move","x":0.5,"y":1}"#,
                Is(json!({"type":"pointer_move","x":0.5,"y":1.0})),
            ),
            (
                r#"{"type":"wheel","x":0,"y":0,"dy":-20}"#,
                Is(json!({"type":"wheel","x":0.0,"y":0.0,"dx":0,"dy":-20})),
            ),
            (
                r#"{"type":"key_down","code":"KeyA"}"#,
                Is(json!({"type":"key_down","code":"KeyA"})),
            ),
            (
                r#"{"type":"button_up","button":"right","x":0,"y":0}"#,
                Is(json!({"type":"button_up","button":"right","x":0.0,"y":0.0})),
            ),
            (r#"{"type":"wheel","x":0,"y":0,"dx":21}"#, Code("malformed")),
            (
                r#"{"type":"pointer_move","x":-0.1,"y":0}"#,
                Code("malformed"),
            ),
            (r#"{"type":"pointer_move","x":0.5}"#, Code("malformed")),
            (r#"{"type":"key_down","code":"Key-A"}"#, Code("malformed")),
            (r#"{"type":"text","text":""}"#, Code("malformed")),
            (r#"{"type":"text","text":"a\u0007"}"#, Code("malformed")),
            (
                r#"{"type":"chat","id":1,"text":"hi","sent_at":5}"#,
                Code("malformed"),
            ),
            // Only one JSON value: nothing can be smuggled into the wrapping peer message.
            (
                r#"{"type":"text","text":"a"},"type":"audio_invite""#,
                Code("malformed"),
            ),
        ],
    );
    let e = result(validate_input, r#"{"type":"pointer_move","x":0.5,"y":7}"#).unwrap_err();
    assert!(
        e["error"].as_str().is_some_and(|m| m.contains("event.y")),
        "{e}"
    );
}

#[test]
fn file_names_chat_text_and_short_codes() {
    check_table(
        calls::check_file_name,
        &[
            (r#""report.pdf""#, Is(json!("report.pdf"))),
            (r#"".bashrc""#, Is(json!(".bashrc"))),
            (r#""../etc/passwd""#, Code("invalid_field")),
            (r#""a\\b""#, Code("invalid_field")),
            (r#""..""#, Code("invalid_field")),
            (r#""""#, Code("invalid_field")),
            ("5", Code("bad_input")),
        ],
    );
    let e = result(calls::check_file_name, r#""a/b""#).unwrap_err();
    assert_eq!(e["field"], "name");
    let long = Value::from("x".repeat(4001)).to_string();
    let longest = Value::from("x".repeat(4000)).to_string();
    check_table(
        check_chat_text,
        &[
            (r#""  hello  ""#, Is(json!("hello"))),
            (r#""two\nlines""#, Is(json!("two\nlines"))),
            (&longest, Is(Value::from("x".repeat(4000)))),
            (r#""   ""#, Code("invalid_field")),
            (r#""bell\u0007""#, Code("invalid_field")),
            (&long, Code("invalid_field")),
            ("null", Code("bad_input")),
        ],
    );
    check_table(
        parse_short_code,
        &[
            (
                r#""1234-56789""#,
                Is(json!({"session_number":1234,"secret":56789,"code":"1234-56789"})),
            ),
            (
                r#""1234 00001""#,
                Is(json!({"session_number":1234,"secret":1,"code":"1234-00001"})),
            ),
            (
                r#""123456789""#,
                Is(json!({"session_number":1234,"secret":56789,"code":"1234-56789"})),
            ),
            (r#""0999-12345""#, Code("invalid_short_code")),
            (r#""1234-5678""#, Code("invalid_short_code")),
            (r#""1234-5678x""#, Code("invalid_short_code")),
            (r#""""#, Code("invalid_short_code")),
            ("123456789", Code("bad_input")),
        ],
    );
}

#[test]
fn chat_goes_to_the_present_recipients() {
    check_table(
        chat_recipients,
        &[
            (r#"{"present":[1,2,3,4],"me":1}"#, Is(json!([2, 3, 4]))),
            (
                r#"{"present":[1,2,3,4],"me":1,"to":[]}"#,
                Is(json!([2, 3, 4])),
            ),
            (r#"{"present":[1,2,3,4],"me":1,"to":[3]}"#, Is(json!([3]))),
            (
                r#"{"present":[1,2,3,4],"me":1,"to":[3,1,9]}"#,
                Is(json!([3])),
            ),
            (r#"{"present":[1,2],"me":1,"to":[1]}"#, Is(json!([]))),
            (r#"{"me":1}"#, Code("bad_input")),
            (r#"{"present":[1],"me":-1}"#, Code("bad_input")),
        ],
    );
}

#[test]
fn protocol_info_names_the_constants() {
    let info = ok(protocol_info, "null");
    assert_eq!(info["version"], tether_protocol::PROTOCOL_VERSION);
    assert_eq!(info["control_channel"], "tether");
    assert_eq!(info["max_chat_chars"], 4000);
    assert_eq!(info["activities"].as_array().map(Vec::len), Some(11));
    let recording = &info["activities"][9];
    assert_eq!(recording["name"], "recording");
    assert_eq!(recording["required_consent"], "recording");
    assert_eq!(recording["controller_only"], true);
    assert_eq!(
        info["client_message_types"].as_array().map(Vec::len),
        Some(tether_protocol::CLIENT_MESSAGE_TYPES.len())
    );
}

// ---- role-rule pre-checks against the model itself ----

const P: fn(u32) -> ParticipantId = ParticipantId;

/// A real session (the service's view) beside what a page knows of it, stepped together: each
/// command is asked of the shim first (on the page's knowledge), then applied to the session,
/// and both answers must agree.
struct Pair {
    session: Session,
    policy: Option<SessionPolicy>,
    relinquished: Vec<ParticipantId>,
    departed: Vec<RosterEntry>,
    now: u64,
}

impl Pair {
    fn new(policy: SessionPolicy) -> Pair {
        let kind = SessionType {
            name: "General".into(),
            requires_tracking_code: false,
        };
        let (session, _) = Session::start(AccountId(10), "Ana", &kind, None, policy, 0)
            .unwrap_or_else(|e| panic!("{e}"));
        Pair {
            session,
            policy: Some(policy),
            relinquished: Vec::new(),
            departed: Vec::new(),
            now: 0,
        }
    }

    fn join(&mut self, kind: ParticipantKind, name: &str) -> ParticipantId {
        self.now += 10;
        self.session
            .join(kind, name, self.now)
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    fn known(&self, me: ParticipantId) -> Value {
        json!({
            "roster": self.session.roster(),
            "policy": self.policy,
            "relinquished": self.relinquished,
            "departed": self.departed,
            "me": me,
        })
    }

    /// Ask the shim, then apply to the session; assert they agree. Returns the code of a refusal.
    fn step(&mut self, me: ParticipantId, command: Command) -> Option<String> {
        self.now += 10;
        let mut input = self.known(me);
        input["command"] = serde_json::to_value(&command).unwrap_or_default();
        input["now"] = self.now.into();
        let before = self.session.roster();
        let predicted = result(check_command, &input.to_string());
        let actual = self.session.handle(me, command.clone(), self.now);
        match (predicted, actual) {
            (Ok(p), Ok(events)) => {
                assert_eq!(p["events"], json!(events), "{command:?}");
                assert_eq!(p["roster"], json!(self.session.roster()), "{command:?}");
                let relinquished: Vec<ParticipantId> =
                    serde_json::from_value(p["relinquished"].clone()).unwrap_or_default();
                for id in self.session.participants().iter().map(|p| p.id) {
                    assert_eq!(
                        relinquished.contains(&id),
                        self.session.is_relinquished(id),
                        "{id} after {command:?}"
                    );
                }
                self.relinquished = relinquished;
                // A page keeps the last roster entries of those who left.
                let now_present = self.session.roster().participants;
                self.departed.extend(
                    before
                        .participants
                        .into_iter()
                        .filter(|e| !now_present.iter().any(|n| n.id == e.id)),
                );
                None
            }
            (Err(p), Err(v)) => {
                assert_eq!(p["code"], v.code(), "{command:?}");
                assert_eq!(p["error"], v.to_string(), "{command:?}");
                assert_eq!(self.session.roster(), before, "refused, so unchanged");
                Some(v.code().to_owned())
            }
            (p, a) => panic!("{command:?}: the shim said {p:?}, the session {a:?}"),
        }
    }

    fn startable(&self, me: ParticipantId) -> Vec<(String, bool, String)> {
        let list = ok(startable_activities, &self.known(me).to_string());
        list.as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["activity"].as_str().unwrap_or_default().to_owned(),
                    e["allowed"] == true,
                    e["code"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

fn start(activity: Activity) -> Command {
    Command::StartActivity {
        activity,
        target: None,
    }
}

#[test]
fn pre_checks_agree_with_the_session_through_a_whole_session() {
    let policy = SessionPolicy {
        file_transfer: FileTransferMode::Basic,
        recording_allowed: false,
    };
    let mut pair = Pair::new(policy);
    let ana = P(1);
    assert_eq!(
        pair.step(ana, start(Activity::ViewDesktop)).as_deref(),
        Some("no_customer_yet")
    );
    let bo = pair.join(ParticipantKind::Customer, "Bo");
    let cy = pair.join(
        ParticipantKind::Csr {
            account: AccountId(11),
        },
        "Cy",
    );
    let di = pair.join(ParticipantKind::Customer, "Di");
    let request = |capability| Command::RequestConsent {
        customer: bo,
        capability,
    };
    let answer = |capability, granted| Command::AnswerConsent {
        capability,
        granted,
    };
    let steps: Vec<(ParticipantId, Command, Option<&str>)> = vec![
        (ana, start(Activity::ViewDesktop), Some("consent_required")),
        (bo, request(Capability::RemoteView), Some("csr_only")),
        (ana, request(Capability::RemoteView), None),
        (bo, answer(Capability::RemoteView, true), None),
        (ana, start(Activity::ViewDesktop), None),
        (
            ana,
            start(Activity::ViewDesktop),
            Some("activity_already_running"),
        ),
        (cy, start(Activity::ControlDesktop), Some("controller_only")),
        (cy, start(Activity::ViewDesktop), None),
        (
            ana,
            start(Activity::FileTransferAdvanced),
            Some("file_transfer_disabled"),
        ),
        (ana, start(Activity::Recording), Some("recording_disabled")),
        (ana, start(Activity::FileTransferBasic), None),
        (
            ana,
            start(Activity::ViewApplication),
            Some("file_transfer_active"),
        ),
        (di, start(Activity::CustomerShare), Some("not_primary")),
        (bo, start(Activity::CustomerShare), None),
        (
            bo,
            Command::End {
                notes: String::new(),
            },
            Some("customers_cannot_end"),
        ),
        (ana, Command::Leave, Some("must_transfer_control_first")),
        (ana, Command::TransferControl { to: bo }, Some("not_a_csr")),
        (ana, Command::TransferControl { to: cy }, None),
        // Ana handed control away: the page passes the shim's `relinquished` on.
        (
            ana,
            start(Activity::ViewDesktop),
            Some("control_transferred_away"),
        ),
        (
            ana,
            request(Capability::RemoteControl),
            Some("control_transferred_away"),
        ),
        (cy, Command::MakePrimary { customer: di }, None),
        (
            bo,
            Command::RevokeConsent {
                capability: Capability::RemoteControl,
            },
            Some("consent_not_given"),
        ),
        (bo, Command::Leave, None),
        (cy, Command::TransferControl { to: ana }, None),
        (ana, start(Activity::ShareDesktop), None),
        (
            ana,
            Command::RecordChat {
                lines: vec![tether_protocol::ChatRecord {
                    from: bo,
                    to: vec![],
                    text: "bye".into(),
                    sent_at: 5,
                }],
            },
            None,
        ),
        (
            ana,
            Command::SaveNotes {
                notes: "fixed".into(),
            },
            None,
        ),
        (
            cy,
            Command::End {
                notes: String::new(),
            },
            Some("controller_only"),
        ),
        (
            ana,
            Command::End {
                notes: "done".into(),
            },
            None,
        ),
        (ana, start(Activity::Video), Some("session_ended")),
    ];
    for (me, command, want) in steps {
        let got = pair.step(me, command.clone());
        assert_eq!(got.as_deref(), want, "{me} {command:?}");
    }
}

#[test]
fn startable_activities_list_what_the_model_allows() {
    let mut pair = Pair::new(SessionPolicy {
        file_transfer: FileTransferMode::Off,
        recording_allowed: true,
    });
    let bo = pair.join(ParticipantKind::Customer, "Bo");
    for capability in [Capability::RemoteView, Capability::Recording] {
        pair.step(
            P(1),
            Command::RequestConsent {
                customer: bo,
                capability,
            },
        );
        pair.step(
            bo,
            Command::AnswerConsent {
                capability,
                granted: true,
            },
        );
    }
    let got = pair.startable(P(1));
    let want = [
        ("view_desktop", true, ""),
        ("control_desktop", false, "consent_required"),
        ("view_application", true, ""),
        ("control_application", false, "consent_required"),
        ("share_desktop", true, ""),
        ("share_application", true, ""),
        ("customer_share", false, "activity_not_allowed"),
        ("file_transfer_basic", false, "file_transfer_disabled"),
        ("file_transfer_advanced", false, "file_transfer_disabled"),
        ("recording", true, ""),
        ("video", true, ""),
    ];
    let got: Vec<(&str, bool, &str)> = got
        .iter()
        .map(|(a, allowed, c)| (a.as_str(), *allowed, c.as_str()))
        .collect();
    assert_eq!(got, want);
    let customer: Vec<String> = pair
        .startable(bo)
        .into_iter()
        .filter(|(_, allowed, _)| *allowed)
        .map(|(a, _, _)| a)
        .collect();
    assert_eq!(customer, ["customer_share", "video"]);
}

#[test]
fn without_the_policy_only_what_is_known_is_refused() {
    let mut pair = Pair::new(SessionPolicy::default());
    pair.join(ParticipantKind::Customer, "Bo");
    pair.policy = None;
    let input = pair.known(P(1));
    let mut ask = input.clone();
    ask["command"] = json!({"type":"start_activity","activity":"file_transfer_basic"});
    // The service would refuse (its policy has file transfer off); the page can't know.
    assert!(ok(check_command, &ask.to_string())["events"].is_array());
    ask["command"] = json!({"type":"start_activity","activity":"control_desktop"});
    assert_eq!(code(check_command, &ask.to_string()), "consent_required");
}

#[test]
fn rosters_the_service_could_not_have_sent_are_refused() {
    let mut pair = Pair::new(SessionPolicy::default());
    let bo = pair.join(ParticipantKind::Customer, "Bo");
    let good = pair.known(P(1));
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut bad = good.clone();
    bad["roster"]["primary"] = json!(1);
    cases.push(("a CSR as primary", bad));
    let mut bad = good.clone();
    bad["roster"]["primary"] = Value::Null;
    cases.push(("a customer but no primary", bad));
    let mut bad = good.clone();
    bad["roster"]["controller"] = json!(bo.0);
    cases.push(("a customer in control", bad));
    let mut bad = good.clone();
    bad["roster"]["participants"][1]["role"] = json!("customer");
    cases.push(("the primary's role says customer", bad));
    let mut bad = good.clone();
    bad["departed"] = json!([{"id":2,"name":"Bo","role":"customer","connected":false}]);
    cases.push(("present and departed", bad));
    let mut bad = good.clone();
    bad["roster"]["recording"] = json!(true);
    cases.push(("recording flag without the activity", bad));
    let mut bad = good.clone();
    bad["relinquished"] = json!([1]);
    cases.push(("the controller relinquished", bad));
    for (what, mut input) in cases {
        input["command"] = json!({"type":"leave"});
        assert_eq!(
            code(check_command, &input.to_string()),
            "inconsistent_roster",
            "{what}"
        );
        assert_eq!(
            code(startable_activities, &input.to_string()),
            "inconsistent_roster",
            "{what}"
        );
    }
    let roster: Roster =
        serde_json::from_value(good["roster"].clone()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(roster, pair.session.roster());
    for (input, want) in [
        (json!({"me":1,"command":{"type":"leave"}}), "bad_input"),
        (
            json!({"roster":good["roster"],"command":{"type":"leave"}}),
            "bad_input",
        ),
        (
            json!({"roster":good["roster"],"me":1,"command":{"type":"fly"}}),
            "bad_input",
        ),
        (
            json!({"roster":good["roster"],"me":1,"command":{"type":"leave"},"policy":"all"}),
            "bad_input",
        ),
        (
            json!({"roster":good["roster"],"me":7,"command":{"type":"leave"}}),
            "not_in_session",
        ),
    ] {
        assert_eq!(code(check_command, &input.to_string()), want, "{input}");
    }
    // The refusal carries the violation's fields.
    let mut ask = good;
    ask["command"] = json!({"type":"make_primary","customer":1});
    let e = result(check_command, &ask.to_string()).unwrap_err();
    assert_eq!(e["code"], "not_a_customer");
    assert_eq!(e["participant"], 1);
}
