//! Decode tables for remote-control input events on the control channel: every event type as
//! JSON, and every way an event is refused (coordinates, wheel notches, key codes, text).

use tether_protocol::{
    Button, InputEvent, MAX_INPUT_TEXT_CHARS, MAX_PEER_MESSAGE_BYTES, ParticipantId,
    PeerDecodeError, PeerMessage,
};

const ME: ParticipantId = ParticipantId(2);

/// Decode `json` as a control-channel message and expect the input event `want`.
fn check_ok(json: &str, want: InputEvent) {
    let got = PeerMessage::decode(json.as_bytes(), ME);
    assert_eq!(
        got,
        Ok(PeerMessage::Input {
            event: want.clone()
        }),
        "{json}"
    );
    // What we send decodes to what we sent.
    let sent = PeerMessage::Input { event: want }.to_json();
    assert_eq!(PeerMessage::decode(sent.as_bytes(), ME), got, "{sent}");
}

/// Decode `json` and expect a malformed-message error whose text contains `says`.
fn check_refused(json: &str, says: &str) {
    match PeerMessage::decode(json.as_bytes(), ME) {
        Err(PeerDecodeError::Malformed(e)) => {
            assert!(e.contains(says), "{json}: {e:?} does not say {says:?}")
        }
        other => panic!("{json}: expected a malformed-message error, got {other:?}"),
    }
}

fn input(event: &str) -> String {
    format!(r#"{{"type":"input","event":{event}}}"#)
}

#[test]
fn every_event_type_decodes() {
    use InputEvent as E;
    let table = [
        (
            r#"{"type":"pointer_move","x":0.5,"y":0.25}"#,
            E::PointerMove { x: 0.5, y: 0.25 },
        ),
        (
            r#"{"type":"pointer_move","x":0,"y":1}"#,
            E::PointerMove { x: 0.0, y: 1.0 },
        ),
        (
            r#"{"type":"button_down","button":"left","x":0.1,"y":0.2}"#,
            E::ButtonDown {
                button: Button::Left,
                x: 0.1,
                y: 0.2,
            },
        ),
        (
            r#"{"type":"button_up","button":"right","x":1,"y":0}"#,
            E::ButtonUp {
                button: Button::Right,
                x: 1.0,
                y: 0.0,
            },
        ),
        (
            r#"{"type":"button_down","button":"middle","x":0.5,"y":0.5}"#,
            E::ButtonDown {
                button: Button::Middle,
                x: 0.5,
                y: 0.5,
            },
        ),
        (
            r#"{"type":"button_down","button":"back","x":0.5,"y":0.5}"#,
            E::ButtonDown {
                button: Button::Back,
                x: 0.5,
                y: 0.5,
            },
        ),
        (
            r#"{"type":"button_up","button":"forward","x":0.5,"y":0.5}"#,
            E::ButtonUp {
                button: Button::Forward,
                x: 0.5,
                y: 0.5,
            },
        ),
        (
            r#"{"type":"wheel","x":0.5,"y":0.5,"dx":0,"dy":3}"#,
            E::Wheel {
                x: 0.5,
                y: 0.5,
                dx: 0,
                dy: 3,
            },
        ),
        (
            r#"{"type":"wheel","x":0.5,"y":0.5,"dx":-20}"#,
            E::Wheel {
                x: 0.5,
                y: 0.5,
                dx: -20,
                dy: 0,
            },
        ),
        (
            r#"{"type":"key_down","code":"KeyA"}"#,
            E::KeyDown {
                code: "KeyA".into(),
            },
        ),
        (
            r#"{"type":"key_up","code":"ShiftLeft"}"#,
            E::KeyUp {
                code: "ShiftLeft".into(),
            },
        ),
        (
            r#"{"type":"key_down","code":"F24"}"#,
            E::KeyDown { code: "F24".into() },
        ),
        (
            r#"{"type":"text","text":"Olá, mundo! €\n\tok"}"#,
            E::Text {
                text: "Olá, mundo! €\n\tok".into(),
            },
        ),
    ];
    for (json, want) in table {
        check_ok(&input(json), want);
    }
}

#[test]
fn the_longest_text_fits_in_one_message() {
    // The worst case: every character written as a \u escape pair.
    let emoji = "😀".repeat(MAX_INPUT_TEXT_CHARS);
    let escaped: String = "\\ud83d\\ude00".repeat(MAX_INPUT_TEXT_CHARS);
    let json = input(&format!(r#"{{"type":"text","text":"{escaped}"}}"#));
    assert!(json.len() <= MAX_PEER_MESSAGE_BYTES, "{}", json.len());
    check_ok(&json, InputEvent::Text { text: emoji });
}

#[test]
fn bad_coordinates_are_refused() {
    let table = [
        (
            r#"{"type":"pointer_move","x":1.5,"y":0.5}"#,
            "x: 1.5 is outside the shared area",
        ),
        (
            r#"{"type":"pointer_move","x":0.5,"y":-0.01}"#,
            "y: -0.01 is outside the shared area",
        ),
        (
            r#"{"type":"button_down","button":"left","x":2,"y":0}"#,
            "x: 2 is outside",
        ),
        (
            r#"{"type":"wheel","x":0.5,"y":7,"dy":1}"#,
            "y: 7 is outside",
        ),
        // JSON has no NaN or infinity: such text is not JSON at all.
        (
            r#"{"type":"pointer_move","x":NaN,"y":0.5}"#,
            "expected value",
        ),
        (
            r#"{"type":"pointer_move","x":1e999,"y":0.5}"#,
            "number out of range",
        ),
        (
            r#"{"type":"pointer_move","x":"0.5","y":0.5}"#,
            "invalid type: string",
        ),
        (r#"{"type":"pointer_move","x":0.5}"#, "missing field `y`"),
        (
            r#"{"type":"button_down","button":"left"}"#,
            "missing field `x`",
        ),
    ];
    for (json, says) in table {
        check_refused(&input(json), says);
    }
}

#[test]
fn coordinates_that_json_cannot_carry_are_refused_by_validate() {
    for (x, says) in [
        (f64::NAN, "x: expected a number from 0 to 1, got NaN"),
        (f64::INFINITY, "x: expected a number from 0 to 1, got inf"),
        (
            f64::NEG_INFINITY,
            "x: expected a number from 0 to 1, got -inf",
        ),
        (-0.5, "x: -0.5 is outside the shared area (expected 0 to 1)"),
    ] {
        let event = InputEvent::PointerMove { x, y: 0.5 };
        assert_eq!(event.validate(), Err(says.to_owned()), "{x}");
    }
}

#[test]
fn bad_buttons_and_wheels_are_refused() {
    let table = [
        (
            r#"{"type":"button_down","button":"side","x":0,"y":0}"#,
            "unknown variant `side`",
        ),
        (
            r#"{"type":"button_down","button":0,"x":0,"y":0}"#,
            "invalid type",
        ),
        (
            r#"{"type":"wheel","x":0,"y":0,"dy":21}"#,
            "dy: 21 wheel notches is more than the limit of 20 either way",
        ),
        (
            r#"{"type":"wheel","x":0,"y":0,"dx":-21}"#,
            "dx: -21 wheel notches",
        ),
        (
            r#"{"type":"wheel","x":0,"y":0,"dy":1.5}"#,
            "invalid type: floating point",
        ),
        (
            r#"{"type":"wheel","x":0,"y":0,"dy":4294967296}"#,
            "invalid value",
        ),
    ];
    for (json, says) in table {
        check_refused(&input(json), says);
    }
}

#[test]
fn malformed_key_codes_are_refused() {
    let long = "K".repeat(33);
    let table = [
        (String::new(), "code: expected 1 to 32 characters, got 0"),
        (long, "code: expected 1 to 32 characters, got 33"),
        (
            "Key A".into(),
            r#"code: "Key A" is not a KeyboardEvent.code"#,
        ),
        ("Key-A".into(), "is not a KeyboardEvent.code"),
        ("1Key".into(), "is not a KeyboardEvent.code"),
        ("KeyÄ".into(), "is not a KeyboardEvent.code"),
        ("Key\\u0000".into(), "is not a KeyboardEvent.code"),
    ];
    for (code, says) in table {
        check_refused(
            &input(&format!(r#"{{"type":"key_down","code":"{code}"}}"#)),
            says,
        );
        check_refused(
            &input(&format!(r#"{{"type":"key_up","code":"{code}"}}"#)),
            says,
        );
    }
    check_refused(&input(r#"{"type":"key_down"}"#), "missing field `code`");
    check_refused(&input(r#"{"type":"key_down","code":65}"#), "invalid type");
}

#[test]
fn bad_text_is_refused() {
    let long = "a".repeat(MAX_INPUT_TEXT_CHARS + 1);
    let table = [
        (String::new(), "text: must not be empty".to_owned()),
        (
            long,
            "text: 1001 characters is longer than the limit of 1000".to_owned(),
        ),
        ("a\\u0007b".into(), "control character U+0007".to_owned()),
        ("line\\r\\n".into(), "control character U+000D".to_owned()),
    ];
    for (text, says) in table {
        check_refused(
            &input(&format!(r#"{{"type":"text","text":"{text}"}}"#)),
            &says,
        );
    }
}

#[test]
fn unknown_event_types_and_bad_envelopes_are_refused() {
    let table = [
        (
            input(r#"{"type":"touch","x":0,"y":0}"#),
            "unknown variant `touch`",
        ),
        (input(r#"{"x":0,"y":0}"#), "missing field `type`"),
        (input(r#""key_down""#), "invalid type"),
        (r#"{"type":"input"}"#.to_owned(), "missing field `event`"),
        (input("null"), "invalid type: null"),
    ];
    for (json, says) in table {
        check_refused(&json, says);
    }
}

#[test]
fn error_messages_name_the_event_field() {
    let json = input(r#"{"type":"pointer_move","x":0.5,"y":3}"#);
    let err = PeerMessage::decode(json.as_bytes(), ME).expect_err("y is out of range");
    assert_eq!(
        err.to_string(),
        "malformed peer message: event.y: 3 is outside the shared area (expected 0 to 1)"
    );
}
