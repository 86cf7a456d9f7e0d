//! The calls the pages make, as safe functions: a JSON input in, a JSON result out.
//!
//! Every call answers `{"ok": …}` or `{"error": "a sentence", "code": "a_code", …}`. Codes are
//! the protocol's own where it has them (`too_large`, `malformed`, `unknown_type`, a
//! `RuleViolation`'s code with its fields); besides them, `bad_input` (the call's input is not
//! what the call takes), `not_utf8`, `not_for_us` (a chat addressed to others),
//! `invalid_short_code` and `inconsistent_roster` (see [`crate::rules`]).

use crate::rules::{self, Known, PERMISSIVE_POLICY, object};
use serde_json::{Map, Value};
use std::fmt::Display;
use tether_protocol::{
    Activity, CLIENT_MESSAGE_TYPES, CONTROL_CHANNEL, Capability, Command, DecodeError,
    FILE_CHUNK_BYTES, MAX_CHAT_CHARS, MAX_INPUT_TEXT_CHARS, MAX_KEY_CODE_CHARS, MAX_MESSAGE_BYTES,
    MAX_NAME_CHARS, MAX_NOTES_BYTES, MAX_PEER_MESSAGE_BYTES, MAX_TRACKING_CODE_CHARS,
    MAX_WHEEL_NOTCHES, PROTOCOL_VERSION, ParticipantId, PeerDecodeError, PeerMessage,
    RuleViolation, ServerMessage, ShortCode, check_text,
};

/// The ok value of a call as JSON text, or its whole error result.
type Answer = Result<String, String>;

/// Serialize a protocol value (which can't fail for the protocol's types; if it ever did, the
/// call answers `internal`).
macro_rules! to_json {
    ($value:expr) => {
        serde_json::to_string($value)
            .map_err(|e| error("internal", format!("encoding failed: {e}")))
    };
}

/// Take field `$name` out of the input object and deserialize it; `bad_input` naming the field
/// when it is missing or of the wrong shape.
macro_rules! field {
    ($object:expr, $name:literal) => {
        serde_json::from_value($object.remove($name).unwrap_or(Value::Null))
            .map_err(|e| bad_input(format!(concat!("`", $name, "`: {}"), e)))
    };
}

/// Like `field!`, but an absent or `null` field takes `$default`.
macro_rules! optional {
    ($object:expr, $name:literal, $default:expr) => {
        match $object.remove($name) {
            None | Some(Value::Null) => Ok($default),
            Some(v) => serde_json::from_value(v)
                .map_err(|e| bad_input(format!(concat!("`", $name, "`: {}"), e))),
        }
    };
}

/// Run a call on raw input bytes, which must be UTF-8.
pub fn run_bytes(call: fn(&str) -> String, input: &[u8]) -> String {
    match std::str::from_utf8(input) {
        Ok(text) => call(text),
        Err(e) => error("not_utf8", format!("the input is not UTF-8: {e}")),
    }
}

/// The result in place of one too large to describe with a 32-bit length.
pub fn too_large_result() -> String {
    error("too_large", "the result is larger than 4 GiB")
}

fn answer(a: Answer) -> String {
    match a {
        Ok(json) => format!(r#"{{"ok":{json}}}"#),
        Err(e) => e,
    }
}

/// `{"error": message, "code": code}`.
fn error(code: &str, message: impl Display) -> String {
    error_with(code, message, Map::new())
}

fn error_with(code: &str, message: impl Display, mut fields: Map<String, Value>) -> String {
    fields.insert("error".into(), message.to_string().into());
    fields.insert("code".into(), code.into());
    Value::Object(fields).to_string()
}

fn bad_input(message: impl Display) -> String {
    error("bad_input", message)
}

/// A rule violation with its sentence, its code and its fields (`participant`, `capability`...).
fn violation(v: &RuleViolation) -> String {
    Value::Object(violation_fields(v)).to_string()
}

fn violation_fields(v: &RuleViolation) -> Map<String, Value> {
    let mut fields = match serde_json::to_value(v) {
        Ok(Value::Object(fields)) => fields,
        _ => Map::new(),
    };
    fields.insert("error".into(), v.to_string().into());
    fields.insert("code".into(), v.code().into());
    fields
}

fn decode_error(e: &DecodeError) -> String {
    let mut fields = Map::new();
    if let Some(request) = e.request() {
        fields.insert("request".into(), request.into());
    }
    error_with(e.code(), e, fields)
}

fn peer_error(e: &PeerDecodeError) -> String {
    let code = match e {
        PeerDecodeError::TooLarge { .. } => "too_large",
        PeerDecodeError::Malformed(_) => "malformed",
        PeerDecodeError::NotForUs => "not_for_us",
    };
    error(code, e)
}

/// The input as a JSON object.
fn input_object(input: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(input) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(bad_input("expected a JSON object")),
        Err(e) => Err(bad_input(format!("not JSON: {e}"))),
    }
}

/// The input as a JSON string.
fn input_string(input: &str) -> Result<String, String> {
    serde_json::from_str(input).map_err(|e| bad_input(format!("expected a JSON string: {e}")))
}

/// The protocol's constants the pages need: version, limits, names. Takes any input.
pub fn protocol_info(_input: &str) -> String {
    let activities = Activity::ALL.iter().map(|a| {
        object([
            ("name", a.as_str().into()),
            ("targets_customer", a.targets_customer().into()),
            (
                "required_consent",
                a.required_consent().map(Capability::as_str).into(),
            ),
            ("controller_only", a.controller_only().into()),
            ("support", a.is_support().into()),
        ])
    });
    answer(Ok(object([
        ("version", PROTOCOL_VERSION.into()),
        ("max_message_bytes", MAX_MESSAGE_BYTES.into()),
        ("max_peer_message_bytes", MAX_PEER_MESSAGE_BYTES.into()),
        ("max_chat_chars", MAX_CHAT_CHARS.into()),
        ("max_name_chars", MAX_NAME_CHARS.into()),
        ("max_notes_bytes", MAX_NOTES_BYTES.into()),
        ("max_tracking_code_chars", MAX_TRACKING_CODE_CHARS.into()),
        ("max_input_text_chars", MAX_INPUT_TEXT_CHARS.into()),
        ("max_key_code_chars", MAX_KEY_CODE_CHARS.into()),
        ("max_wheel_notches", MAX_WHEEL_NOTCHES.into()),
        ("control_channel", CONTROL_CHANNEL.into()),
        ("file_chunk_bytes", FILE_CHUNK_BYTES.into()),
        ("client_message_types", CLIENT_MESSAGE_TYPES.to_vec().into()),
        ("activities", Value::Array(activities.collect())),
        (
            "capabilities",
            Capability::ALL.map(Capability::as_str).to_vec().into(),
        ),
    ])
    .to_string()))
}

/// A message a page is about to send to the service (the text of one WebSocket frame), checked
/// as the service checks it (`decode_client`: size, JSON, type, fields). Ok: the message as the
/// service reads it (defaults filled in, unknown fields dropped).
pub fn check_client(input: &str) -> String {
    answer(
        tether_protocol::decode_client(input)
            .map_err(|e| decode_error(&e))
            .and_then(|m| to_json!(&m)),
    )
}

/// A message from the service (the text of one WebSocket frame). Ok: the message, normalised.
pub fn decode_server(input: &str) -> String {
    answer(
        serde_json::from_str::<Value>(input)
            .and_then(serde_json::from_value::<ServerMessage>)
            .map_err(|e| error("malformed", format!("malformed service message: {e}")))
            .and_then(|m| to_json!(&m)),
    )
}

/// `{"me": <my participant id>, "text": <the text received on the control channel>}`: a peer's
/// message decoded and checked as the protocol's receiving side does (size, shape, text limits,
/// file names, input events, a chat addressed to `me`). Ok: the message.
pub fn decode_peer(input: &str) -> String {
    fn call(input: &str) -> Answer {
        let mut fields = input_object(input)?;
        let me: ParticipantId = field!(fields, "me")?;
        let text: String = field!(fields, "text")?;
        let message = PeerMessage::decode(text.as_bytes(), me).map_err(|e| peer_error(&e))?;
        to_json!(&message)
    }
    answer(call(input))
}

/// A peer message object to send on the control channel. Ok: the text to send (a JSON string),
/// after the checks its receiver will apply (`PeerMessage::decode`; a chat as its first
/// recipient checks it).
pub fn encode_peer(input: &str) -> String {
    fn call(input: &str) -> Answer {
        let message = decode_as_receiver(input.as_bytes())?;
        // What is sent is the normalised text: check it as the receiver will.
        let text = message.to_json();
        decode_as_receiver(text.as_bytes())?;
        Ok(Value::from(text).to_string())
    }
    answer(call(input))
}

/// A peer message checked as its receiver checks it; a chat's receiver is its first recipient.
fn decode_as_receiver(bytes: &[u8]) -> Result<PeerMessage, String> {
    let anyone = ParticipantId(0);
    match PeerMessage::decode(bytes, anyone) {
        Err(PeerDecodeError::NotForUs) => {
            let first = serde_json::from_slice::<Value>(bytes)
                .ok()
                .and_then(|v| v.get("to")?.get(0)?.as_u64())
                .and_then(|id| u32::try_from(id).ok())
                .map_or(anyone, ParticipantId);
            PeerMessage::decode(bytes, first)
        }
        decoded => decoded,
    }
    .map_err(|e| peer_error(&e))
}

/// A remote-control input event object, checked as the customer's endpoint checks it (inside an
/// `input` peer message: size, shape, `InputEvent::validate`). Ok: the event.
pub fn validate_input(input: &str) -> String {
    fn call(input: &str) -> Answer {
        // Going through the peer message's own decoding checks exactly what a receiver checks
        // (and keeps the module small: no second deserializer for input events).
        let event: Value = serde_json::from_str(input)
            .map_err(|e| error("malformed", format!("malformed input event: {e}")))?;
        let wrapped = format!(r#"{{"type":"input","event":{event}}}"#);
        match PeerMessage::decode(wrapped.as_bytes(), ParticipantId(0)) {
            Ok(PeerMessage::Input { event }) => to_json!(&event),
            Ok(_) => Err(error("malformed", "expected an input event")),
            Err(e) => Err(peer_error(&e)),
        }
    }
    answer(call(input))
}

/// A JSON string: a file name that must stay inside the chosen folder. Ok: the name.
pub fn check_file_name(input: &str) -> String {
    fn call(input: &str) -> Answer {
        let name = input_string(input)?;
        tether_protocol::check_file_name(&name).map_err(|reason| {
            violation(&RuleViolation::InvalidField {
                field: "name".into(),
                reason,
            })
        })?;
        Ok(Value::from(name).to_string())
    }
    answer(call(input))
}

/// A JSON string: a chat line's text, checked as a receiver checks it. Ok: the text trimmed, as
/// it should be sent.
pub fn check_chat_text(input: &str) -> String {
    fn call(input: &str) -> Answer {
        let text = input_string(input)?;
        let text = check_text("text", &text, MAX_CHAT_CHARS, false).map_err(|v| violation(&v))?;
        Ok(Value::from(text).to_string())
    }
    answer(call(input))
}

/// `{"present": [ids], "me": id, "to": [ids] (absent or empty: everyone)}`. Ok: the ids of the
/// peers a chat goes to.
pub fn chat_recipients(input: &str) -> String {
    fn call(input: &str) -> Answer {
        let mut fields = input_object(input)?;
        let present: Vec<ParticipantId> = field!(fields, "present")?;
        let me: ParticipantId = field!(fields, "me")?;
        let to: Vec<ParticipantId> = optional!(fields, "to", Vec::new())?;
        to_json!(&tether_protocol::chat_recipients(&present, me, &to))
    }
    answer(call(input))
}

/// A JSON string: a short code as a customer typed it (nine digits, any spaces or dashes). Ok:
/// `{"session_number", "secret", "code"}` with `code` in its canonical `1234-56789` form.
pub fn parse_short_code(input: &str) -> String {
    fn call(input: &str) -> Answer {
        let typed = input_string(input)?;
        let code = ShortCode::parse(&typed).ok_or_else(|| {
            error(
                "invalid_short_code",
                "expected the nine digits of a code such as 1234-56789",
            )
        })?;
        Ok(object([
            ("session_number", code.session_number.into()),
            ("secret", code.secret.into()),
            ("code", code.to_string().into()),
        ])
        .to_string())
    }
    answer(call(input))
}

/// What the page knows of its session (see [`crate::rules`]): `roster` (required), `policy`,
/// `relinquished`, `departed` (optional).
fn known(fields: &mut Map<String, Value>) -> Result<Known, String> {
    Ok(Known {
        roster: field!(fields, "roster")?,
        policy: optional!(fields, "policy", PERMISSIVE_POLICY)?,
        relinquished: optional!(fields, "relinquished", Vec::new())?,
        departed: optional!(fields, "departed", Vec::new())?,
    })
}

fn session(known: &Known) -> Result<tether_protocol::Session, String> {
    rules::rebuild(known).map_err(|reason| {
        error(
            "inconsistent_roster",
            format!("the roster is not one the service could have sent: {reason}"),
        )
    })
}

/// `{"roster", "me", "command", "policy"?, "relinquished"?, "departed"?, "now"?}`: would the
/// service accept `command` (a session command object with its `type`, as the page would send
/// it) from participant `me` now? The protocol's `Session::handle` answers, on the session
/// rebuilt from what the page knows. Ok: `{"events", "roster", "relinquished"}` after the
/// command; error: the `RuleViolation` the service would answer.
pub fn check_command(input: &str) -> String {
    fn call(input: &str) -> Answer {
        let mut fields = input_object(input)?;
        let known = known(&mut fields)?;
        let me: ParticipantId = field!(fields, "me")?;
        let command: Command = field!(fields, "command")?;
        let now: u64 = optional!(fields, "now", 0)?;
        let mut session = session(&known)?;
        let events = session
            .handle(me, command, now)
            .map_err(|v| violation(&v))?;
        Ok(format!(
            r#"{{"events":{},"roster":{},"relinquished":{}}}"#,
            to_json!(&events)?,
            to_json!(&session.roster())?,
            to_json!(&rules::relinquished(&session))?,
        ))
    }
    answer(call(input))
}

/// `{"roster", "me", "policy"?, "relinquished"?, "departed"?}`: which activities `me` may start
/// now (on the primary customer where the activity aims at one). Ok: one entry per activity,
/// `{"activity", "allowed": true}` or `{"activity", "allowed": false, "error", "code", …}`.
pub fn startable_activities(input: &str) -> String {
    fn call(input: &str) -> Answer {
        let mut fields = input_object(input)?;
        let known = known(&mut fields)?;
        let me: ParticipantId = field!(fields, "me")?;
        let session = session(&known)?;
        let entries = Activity::ALL.iter().map(|&activity| {
            let command = Command::StartActivity {
                activity,
                target: None,
            };
            let (allowed, mut entry) = match session.clone().handle(me, command, 0) {
                Ok(_) => (true, Map::new()),
                Err(v) => (false, violation_fields(&v)),
            };
            entry.insert("allowed".into(), allowed.into());
            entry.insert("activity".into(), activity.as_str().into());
            Value::Object(entry)
        });
        Ok(Value::Array(entries.collect()).to_string())
    }
    answer(call(input))
}
