//! XTest injection under Xvfb: pointer moves and clicks land where sent, a window target keeps
//! the pointer inside the window, keys and typed text reach a focused test window with the
//! expected keysyms, `release_all` lets go of everything, and bad input is refused.

mod common;

use std::time::{Duration, Instant};
use tether_media::MediaError;
use tether_media::inject::{Injector, Target};
use tether_protocol::{Button, InputEvent};
use x11rb::connection::Connection;
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{
    ConfigureWindowAux, ConnectionExt as _, CreateWindowAux, EventMask, InputFocus, KeyButMask,
    Keycode, Keysym, Window, WindowClass,
};
use x11rb::rust_connection::RustConnection;

/// A test client: its own connection to the display, with the root window and screen size.
struct Client {
    conn: RustConnection,
    root: Window,
    width: u16,
    height: u16,
}

impl Client {
    /// Connect, trying again for a while: Xvfb resets itself when its last client leaves
    /// (unless started with `-noreset`) and refuses connections meanwhile.
    fn connect(display: &str) -> Client {
        let deadline = Instant::now() + Duration::from_secs(5);
        let (conn, screen) = loop {
            match x11rb::connect(Some(display)) {
                Ok(connected) => break connected,
                Err(e) if Instant::now() > deadline => panic!("connect to {display}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let s = &conn.setup().roots[screen];
        let (root, width, height) = (s.root, s.width_in_pixels, s.height_in_pixels);
        Client {
            conn,
            root,
            width,
            height,
        }
    }

    /// A mapped window at (x, y) selecting `events` (there is no window manager: it stays
    /// where it is put, above the windows mapped before it).
    fn window(&self, x: i16, y: i16, w: u16, h: u16, events: EventMask) -> Window {
        let id = self.conn.generate_id().expect("window id");
        let aux = CreateWindowAux::new()
            .event_mask(events)
            .override_redirect(1);
        self.conn
            .create_window(
                0,
                id,
                self.root,
                x,
                y,
                w,
                h,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &aux,
            )
            .expect("create window");
        self.conn.map_window(id).expect("map window");
        self.sync();
        id
    }

    /// A window that has the keyboard focus and receives key presses and releases.
    fn focused_window(&self) -> Window {
        let w = self.window(
            10,
            10,
            200,
            100,
            EventMask::KEY_PRESS | EventMask::KEY_RELEASE,
        );
        self.conn
            .set_input_focus(InputFocus::POINTER_ROOT, w, 0u32)
            .expect("focus");
        self.sync();
        w
    }

    fn sync(&self) {
        self.conn
            .get_input_focus()
            .expect("request")
            .reply()
            .expect("round trip");
    }

    /// Events received until `last` says one is the last wanted, or one second passes.
    fn events_until(&self, last: impl Fn(&Event) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut got = Vec::new();
        while Instant::now() < deadline {
            match self.conn.poll_for_event().expect("events") {
                Some(e) => {
                    let done = last(&e);
                    got.push(e);
                    if done {
                        break;
                    }
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        got
    }

    /// The events received so far. After the injector's `sync`, the server has sent every
    /// event the injection caused; our own round trip then brings them all in.
    fn drain(&self) -> Vec<Event> {
        self.sync();
        std::iter::from_fn(|| self.conn.poll_for_event().expect("events")).collect()
    }

    /// Where the pointer is: on the root, and relative to `window`.
    fn pointer(&self, window: Window) -> ((i16, i16), (i16, i16)) {
        let p = self
            .conn
            .query_pointer(window)
            .expect("request")
            .reply()
            .expect("query pointer");
        ((p.root_x, p.root_y), (p.win_x, p.win_y))
    }

    fn mask(&self) -> u16 {
        let p = self.conn.query_pointer(self.root).expect("request");
        u16::from(p.reply().expect("query pointer").mask)
    }

    /// The keysyms of `keycode` in the server's mapping now.
    fn row(&self, keycode: Keycode) -> Vec<Keysym> {
        let m = self
            .conn
            .get_keyboard_mapping(keycode, 1)
            .expect("request")
            .reply()
            .expect("keyboard mapping");
        m.keysyms
    }

    /// The first key code with `keysym` in any column.
    fn keycode_of(&self, keysym: Keysym) -> Option<Keycode> {
        let s = self.conn.setup();
        (s.min_keycode..=s.max_keycode).find(|&kc| self.row(kc).contains(&keysym))
    }

    /// The keysym a key event means: its key code's row, shifted column if Shift was down.
    fn keysym_of(&self, keycode: Keycode, state: KeyButMask) -> Keysym {
        let row = self.row(keycode);
        let shifted = u16::from(state) & u16::from(KeyButMask::SHIFT) != 0;
        match (shifted, row.as_slice()) {
            (true, [_, s, ..]) if *s != 0 => *s,
            (_, [s, ..]) => *s,
            _ => 0,
        }
    }

    fn is_down(&self, keycode: Keycode) -> bool {
        let keys = self.conn.query_keymap().expect("request");
        let keys = keys.reply().expect("query keymap").keys;
        keys[usize::from(keycode / 8)] & (1 << (keycode % 8)) != 0
    }

    /// The whole screen as a target.
    fn screen(&self) -> Target {
        Target::Area {
            x: 0,
            y: 0,
            width: u32::from(self.width),
            height: u32::from(self.height),
        }
    }

    /// The normalised coordinate of the middle of pixel `p` of `size`.
    fn at(p: i32, size: u16) -> f64 {
        (f64::from(p) + 0.5) / f64::from(size)
    }
}

fn send(injector: &mut Injector, event: InputEvent) {
    injector
        .inject(&event)
        .unwrap_or_else(|e| panic!("{event:?}: {e}"));
}

fn key(injector: &mut Injector, code: &str, down: bool) {
    let code = code.to_owned();
    let event = if down {
        InputEvent::KeyDown { code }
    } else {
        InputEvent::KeyUp { code }
    };
    send(injector, event);
}

fn presses(events: &[Event]) -> Vec<(Keycode, KeyButMask)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::KeyPress(k) => Some((k.detail, k.state)),
            _ => None,
        })
        .collect()
}

#[test]
fn pointer_moves_land_where_sent() {
    let (display, _turn) = common::shared();
    let client = Client::connect(&display);
    let (w, h) = (f64::from(client.width), f64::from(client.height));
    let mut whole = Injector::open(Some(&display), client.screen()).expect("injector");
    let table = [
        (0.0, 0.0, (0.0, 0.0)),
        (1.0, 1.0, (w - 1.0, h - 1.0)),
        (0.5, 0.5, (w / 2.0, h / 2.0)),
        (0.25, 0.75, (w / 4.0, h * 0.75)),
    ];
    for (x, y, (px, py)) in table {
        send(&mut whole, InputEvent::PointerMove { x, y });
        whole.sync().expect("sync");
        let want = (px.floor() as i16, py.floor() as i16);
        assert_eq!(client.pointer(client.root).0, want, "({x}, {y})");
    }
    // One monitor of the display: (0.5, 0.5) is its middle, 1 its last pixel.
    let monitor = Target::Area {
        x: 1000,
        y: 200,
        width: 640,
        height: 480,
    };
    let mut one = Injector::open(Some(&display), monitor).expect("injector");
    for (x, y, want) in [(0.5, 0.5, (1320, 440)), (1.0, 0.0, (1639, 200))] {
        send(&mut one, InputEvent::PointerMove { x, y });
        one.sync().expect("sync");
        assert_eq!(client.pointer(client.root).0, want, "({x}, {y})");
    }
}

#[test]
fn clicks_and_wheels_land_in_the_window_under_the_pointer() {
    let (display, _turn) = common::shared();
    let client = Client::connect(&display);
    let win = client.window(
        200,
        150,
        400,
        300,
        EventMask::BUTTON_PRESS | EventMask::BUTTON_RELEASE,
    );
    let mut injector = Injector::open(Some(&display), client.screen()).expect("injector");
    let (sw, sh) = (client.width, client.height);
    let table = [
        (Button::Left, 300, 250, 1),
        (Button::Middle, 201, 151, 2),
        (Button::Right, 599, 449, 3),
        (Button::Back, 400, 300, 8),
        (Button::Forward, 250, 400, 9),
    ];
    for (button, px, py, detail) in table {
        let (x, y) = (Client::at(px, sw), Client::at(py, sh));
        send(&mut injector, InputEvent::ButtonDown { button, x, y });
        send(&mut injector, InputEvent::ButtonUp { button, x, y });
        let events = client.events_until(|e| matches!(e, Event::ButtonRelease(_)));
        let got: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::ButtonPress(b) => Some(("press", b.detail, b.event, b.event_x, b.event_y)),
                Event::ButtonRelease(b) => {
                    Some(("release", b.detail, b.event, b.event_x, b.event_y))
                }
                _ => None,
            })
            .collect();
        let (wx, wy) = ((px - 200) as i16, (py - 150) as i16);
        assert_eq!(
            got,
            [
                ("press", detail, win, wx, wy),
                ("release", detail, win, wx, wy)
            ],
            "{button:?}"
        );
    }
    // Wheels: one press and release of button 4/5 (vertical) or 6/7 (horizontal) per notch.
    let (x, y) = (Client::at(400, sw), Client::at(300, sh));
    for (dx, dy, buttons) in [
        (0, 2, vec![5, 5]),
        (0, -1, vec![4]),
        (1, 0, vec![7]),
        (-3, 0, vec![6, 6, 6]),
        (2, -1, vec![4, 7, 7]),
    ] {
        send(&mut injector, InputEvent::Wheel { x, y, dx, dy });
        injector.sync().expect("sync");
        let events = client.drain();
        let pressed: Vec<u8> = events
            .iter()
            .filter_map(|e| match e {
                Event::ButtonPress(b) if b.event_x == 200 && b.event_y == 150 => Some(b.detail),
                _ => None,
            })
            .collect();
        let released = events
            .iter()
            .filter(|e| matches!(e, Event::ButtonRelease(_)))
            .count();
        assert_eq!(pressed, buttons, "dx {dx} dy {dy}");
        assert_eq!(released, buttons.len(), "dx {dx} dy {dy}");
    }
}

#[test]
fn a_window_target_keeps_the_pointer_inside_the_window_wherever_it_moves() {
    let (display, _turn) = common::shared();
    let client = Client::connect(&display);
    let win = client.window(500, 400, 300, 200, EventMask::BUTTON_PRESS);
    let mut injector = Injector::open(Some(&display), Target::Window(win)).expect("injector");
    let check = |injector: &mut Injector, x: f64, y: f64, want: (i16, i16)| {
        send(injector, InputEvent::PointerMove { x, y });
        injector.sync().expect("sync");
        assert_eq!(client.pointer(win).1, want, "({x}, {y})");
    };
    check(&mut injector, 0.0, 0.0, (0, 0));
    check(&mut injector, 1.0, 1.0, (299, 199));
    check(&mut injector, 0.5, 0.5, (150, 100));
    // Every position of a grid lands inside the window.
    for i in 0..=10 {
        for j in 0..=10 {
            let (x, y) = (f64::from(i) / 10.0, f64::from(j) / 10.0);
            send(&mut injector, InputEvent::PointerMove { x, y });
            injector.sync().expect("sync");
            let ((rx, ry), (wx, wy)) = client.pointer(win);
            assert!(
                (0..300).contains(&wx) && (0..200).contains(&wy),
                "({x}, {y})"
            );
            assert!(
                (500..800).contains(&rx) && (400..600).contains(&ry),
                "({x}, {y})"
            );
        }
    }
    // The window moves and shrinks: events follow it.
    let aux = ConfigureWindowAux::new().x(50).y(60).width(200).height(100);
    client.conn.configure_window(win, &aux).expect("configure");
    client.sync();
    check(&mut injector, 0.5, 0.5, (100, 50));
    assert_eq!(client.pointer(win).0, (150, 110));
    send(
        &mut injector,
        InputEvent::ButtonDown {
            button: Button::Left,
            x: 0.25,
            y: 0.75,
        },
    );
    let events = client.events_until(|e| matches!(e, Event::ButtonPress(_)));
    let click = events.iter().find_map(|e| match e {
        Event::ButtonPress(b) => Some((b.event, b.event_x, b.event_y)),
        _ => None,
    });
    assert_eq!(click, Some((win, 50, 75)));
    send(
        &mut injector,
        InputEvent::ButtonUp {
            button: Button::Left,
            x: 0.25,
            y: 0.75,
        },
    );
    // Partly off the screen: the pointer stays on the part of the window that is visible.
    let (sw, sh) = (i32::from(client.width), i32::from(client.height));
    let aux = ConfigureWindowAux::new().x(sw - 100).y(sh - 50);
    client.conn.configure_window(win, &aux).expect("configure");
    client.sync();
    check(&mut injector, 1.0, 1.0, (99, 49));
    assert_eq!(client.pointer(win).0, (sw as i16 - 1, sh as i16 - 1));
    // A window that is gone is an error, not a move somewhere else.
    client.conn.destroy_window(win).expect("destroy");
    client.sync();
    let gone = injector.inject(&InputEvent::PointerMove { x: 0.5, y: 0.5 });
    assert!(matches!(gone, Err(MediaError::Unavailable(_))), "{gone:?}");
}

#[test]
fn key_presses_arrive_with_the_expected_keysyms() {
    let (display, _turn) = common::shared();
    let client = Client::connect(&display);
    client.focused_window();
    let mut injector = Injector::open(Some(&display), client.screen()).expect("injector");
    let table: &[(&str, &[Keysym])] = &[
        ("KeyA", &[0x61]),
        ("KeyZ", &[0x7a]),
        ("Digit1", &[0x31]),
        ("Digit0", &[0x30]),
        ("Enter", &[0xff0d]),
        ("Escape", &[0xff1b]),
        ("Backspace", &[0xff08]),
        ("Tab", &[0xff09]),
        ("Space", &[0x20]),
        ("ShiftLeft", &[0xffe1]),
        ("ControlRight", &[0xffe4]),
        ("AltLeft", &[0xffe9]),
        ("MetaLeft", &[0xffeb]),
        ("ArrowUp", &[0xff52]),
        ("ArrowLeft", &[0xff51]),
        ("PageDown", &[0xff56]),
        ("Home", &[0xff50]),
        ("Delete", &[0xffff]),
        ("F1", &[0xffbe]),
        ("F5", &[0xffc2]),
        ("F12", &[0xffc9]),
        ("Minus", &[0x2d]),
        ("Backquote", &[0x60]),
        ("BracketLeft", &[0x5b]),
        ("Quote", &[0x27]),
        ("Slash", &[0x2f]),
        // NumLock is off: the key gives KP_Home; the key is the one that also gives KP_7.
        ("Numpad7", &[0xff95, 0xffb7]),
        ("NumpadEnter", &[0xff8d]),
        ("NumpadAdd", &[0xffab]),
    ];
    for (code, want) in table {
        key(&mut injector, code, true);
        key(&mut injector, code, false);
        let events = client.events_until(|e| matches!(e, Event::KeyRelease(_)));
        let got: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::KeyPress(k) => Some(("press", k.detail)),
                Event::KeyRelease(k) => Some(("release", k.detail)),
                _ => None,
            })
            .collect();
        let kc = got.first().map(|g| g.1).unwrap_or(0);
        assert_eq!(got, [("press", kc), ("release", kc)], "{code}");
        let row = client.row(kc);
        assert_eq!(row.first(), want.first(), "{code}: row {row:x?}");
        assert!(want.iter().all(|s| row.contains(s)), "{code}: row {row:x?}");
    }
    // A key already down is not pressed again; a key not down is not released.
    key(&mut injector, "KeyB", true);
    key(&mut injector, "KeyB", true);
    key(&mut injector, "KeyB", false);
    key(&mut injector, "KeyB", false);
    injector.sync().expect("sync");
    let events = client.drain();
    let kinds: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::KeyPress(k) => Some(("press", client.keysym_of(k.detail, k.state))),
            Event::KeyRelease(k) => Some(("release", client.keysym_of(k.detail, k.state))),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [("press", 0x62), ("release", 0x62)]);
    // Shift held by the CSR: KeyA gives 'A'.
    key(&mut injector, "ShiftLeft", true);
    key(&mut injector, "KeyA", true);
    key(&mut injector, "KeyA", false);
    key(&mut injector, "ShiftLeft", false);
    let events = client.events_until(
        |e| matches!(e, Event::KeyRelease(k) if client.row(k.detail).first() == Some(&0xffe1)),
    );
    let typed: Vec<Keysym> = presses(&events)
        .into_iter()
        .map(|(kc, state)| client.keysym_of(kc, state))
        .collect();
    assert_eq!(typed, [0xffe1, 0x41]);
}

#[test]
fn keys_missing_from_the_mapping_are_bound_while_needed() {
    let (display, _turn) = common::shared();
    let client = Client::connect(&display);
    client.focused_window();
    // F24 is known but (on Xvfb's and most keyboards' mapping) on no key.
    let f24 = 0xffd5;
    let before = client.keycode_of(f24);
    let mut injector = Injector::open(Some(&display), client.screen()).expect("injector");
    key(&mut injector, "F24", true);
    injector.sync().expect("sync");
    let events = client.events_until(|e| matches!(e, Event::KeyPress(_)));
    let pressed = presses(&events);
    let [(kc, state)] = pressed.as_slice() else {
        panic!("one key press, got {events:?}")
    };
    assert_eq!(client.keysym_of(*kc, *state), f24);
    assert!(client.is_down(*kc));
    key(&mut injector, "F24", false);
    injector.sync().expect("sync");
    assert!(!client.is_down(*kc));
    injector.release_all().expect("release all");
    injector.sync().expect("sync");
    assert_eq!(client.keycode_of(f24), before, "the binding is undone");
}

#[test]
fn text_types_the_expected_keysyms_even_without_a_key_for_them() {
    let (display, _turn) = common::shared();
    let client = Client::connect(&display);
    client.focused_window();
    let (eacute, euro) = (0xe9, 0x0100_20ac);
    assert_eq!(
        client.keycode_of(eacute),
        None,
        "é has no key in the default mapping"
    );
    assert_eq!(
        client.keycode_of(euro),
        None,
        "€ has no key in the default mapping"
    );
    let mut injector = Injector::open(Some(&display), client.screen()).expect("injector");
    let typed = |events: &[Event]| -> Vec<Keysym> {
        presses(events)
            .into_iter()
            .map(|(kc, state)| client.keysym_of(kc, state))
            .filter(|&s| s != 0xffe1)
            .collect()
    };
    send(
        &mut injector,
        InputEvent::Text {
            text: "aZ1! é€\n\té".into(),
        },
    );
    injector.sync().expect("sync");
    let events = client.drain();
    let want = [
        0x61, 0x5a, 0x31, 0x21, 0x20, eacute, euro, 0xff0d, 0xff09, eacute,
    ];
    assert_eq!(typed(&events), want, "{events:?}");
    let bound = [client.keycode_of(eacute), client.keycode_of(euro)];
    assert!(bound.iter().all(Option::is_some), "{bound:?}");
    // With Shift held, text still types what it says.
    key(&mut injector, "ShiftLeft", true);
    send(
        &mut injector,
        InputEvent::Text {
            text: "a1Bé".into(),
        },
    );
    key(&mut injector, "ShiftLeft", false);
    injector.sync().expect("sync");
    let events = client.drain();
    assert_eq!(typed(&events), [0x61, 0x31, 0x42, eacute], "{events:?}");
    // Bindings are undone when control ends.
    injector.release_all().expect("release all");
    injector.sync().expect("sync");
    for kc in bound.into_iter().flatten() {
        assert!(client.row(kc).iter().all(|&s| s == 0), "key code {kc}");
    }
    assert_eq!(client.keycode_of(eacute), None);
    assert_eq!(client.keycode_of(euro), None);
}

#[test]
fn release_all_lets_go_of_held_keys_and_buttons() {
    let (display, _turn) = common::shared();
    let client = Client::connect(&display);
    client.focused_window();
    let shift = client.keycode_of(0xffe1).expect("a Shift_L key");
    let a = client.keycode_of(0x61).expect("an a key");
    let mut injector = Injector::open(Some(&display), client.screen()).expect("injector");
    key(&mut injector, "ShiftLeft", true);
    key(&mut injector, "KeyA", true);
    let (x, y) = (0.9, 0.9);
    send(
        &mut injector,
        InputEvent::ButtonDown {
            button: Button::Left,
            x,
            y,
        },
    );
    injector.sync().expect("sync");
    let button1 = u16::from(KeyButMask::BUTTON1);
    assert!(client.is_down(shift) && client.is_down(a));
    assert_ne!(client.mask() & button1, 0);
    injector.release_all().expect("release all");
    injector.sync().expect("sync");
    assert!(!client.is_down(shift) && !client.is_down(a));
    assert_eq!(client.mask() & button1, 0);
    // Releasing again, or a key-up for a key not held, changes nothing and is no error.
    injector.release_all().expect("release all again");
    key(&mut injector, "KeyA", false);
    // Dropping an injector releases what it holds, too.
    key(&mut injector, "KeyA", true);
    injector.sync().expect("sync");
    assert!(client.is_down(a));
    drop(injector);
    client.sync();
    let deadline = Instant::now() + Duration::from_secs(1);
    while client.is_down(a) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!client.is_down(a), "dropping the injector released the key");
}

#[test]
fn unknown_codes_and_bad_targets_are_refused() {
    let (display, _turn) = common::shared();
    let client = Client::connect(&display);
    let mut injector = Injector::open(Some(&display), client.screen()).expect("injector");
    for event in [
        InputEvent::KeyDown {
            code: "NoSuchKey".into(),
        },
        InputEvent::KeyUp {
            code: "NoSuchKey".into(),
        },
    ] {
        match injector.inject(&event) {
            Err(MediaError::Invalid(e)) => assert!(e.contains("\"NoSuchKey\""), "{e}"),
            other => panic!("{event:?}: {other:?}"),
        }
    }
    for (event, says) in [
        (
            InputEvent::PointerMove {
                x: f64::NAN,
                y: 0.5,
            },
            "x: expected a number from 0 to 1",
        ),
        (
            InputEvent::PointerMove { x: 0.5, y: 1.5 },
            "y: 1.5 is outside",
        ),
        (
            InputEvent::KeyDown {
                code: "Key A".into(),
            },
            "is not a KeyboardEvent.code",
        ),
        (
            InputEvent::Text {
                text: String::new(),
            },
            "text: must not be empty",
        ),
    ] {
        match injector.inject(&event) {
            Err(MediaError::Invalid(e)) => assert!(e.contains(says), "{e}"),
            other => panic!("{event:?}: {other:?}"),
        }
    }
    // The injector still works after refusing.
    send(&mut injector, InputEvent::PointerMove { x: 0.0, y: 0.0 });
    injector.sync().expect("sync");
    assert_eq!(client.pointer(client.root).0, (0, 0));

    let no_window = Injector::open(Some(&display), Target::Window(0x7ff_fff0));
    assert!(
        matches!(no_window, Err(MediaError::Unavailable(_))),
        "{no_window:?}"
    );
    let off_screen = Target::Area {
        x: i32::from(client.width),
        y: 0,
        width: 100,
        height: 100,
    };
    let off = Injector::open(Some(&display), off_screen);
    assert!(matches!(off, Err(MediaError::Invalid(_))), "{off:?}");
    let empty = Target::Area {
        x: 0,
        y: 0,
        width: 0,
        height: 100,
    };
    let empty = Injector::open(Some(&display), empty);
    assert!(matches!(empty, Err(MediaError::Invalid(_))), "{empty:?}");
    let nowhere = Injector::open(Some(":9999"), client.screen());
    assert!(
        matches!(nowhere, Err(MediaError::Unavailable(_))),
        "{nowhere:?}"
    );
}

#[test]
fn one_inject_takes_well_under_a_millisecond() {
    // Measures and prints; the assertion is only that the last event landed.
    let (display, _turn) = common::shared();
    let client = Client::connect(&display);
    let win = client.window(100, 100, 640, 480, EventMask::NO_EVENT);
    let measure = |target: Target, what: &str| {
        let mut injector = Injector::open(Some(&display), target).expect("injector");
        let n = 500;
        let started = Instant::now();
        for i in 0..n {
            let x = f64::from(i) / f64::from(n);
            send(&mut injector, InputEvent::PointerMove { x, y: 0.5 });
        }
        let sent = started.elapsed();
        injector.sync().expect("sync");
        let handled = started.elapsed();
        println!(
            "{what}: inject() {:.1} µs per pointer move; {:.1} µs each until the server handled all {n}",
            sent.as_secs_f64() * 1e6 / f64::from(n),
            handled.as_secs_f64() * 1e6 / f64::from(n),
        );
        injector
    };
    let mut injector = measure(client.screen(), "display target");
    let w = f64::from(client.width);
    let last = ((f64::from(499) / 500.0 * w).floor()) as i16;
    assert_eq!(client.pointer(client.root).0.0, last);
    let started = Instant::now();
    for _ in 0..100 {
        key(&mut injector, "ShiftLeft", true);
        key(&mut injector, "ShiftLeft", false);
    }
    println!(
        "key down or up: {:.1} µs per inject()",
        started.elapsed().as_secs_f64() * 1e6 / 200.0
    );
    let started = Instant::now();
    send(
        &mut injector,
        InputEvent::Text {
            text: "The quick brown fox jumps over the lazy dog. ".repeat(4),
        },
    );
    println!(
        "text of 180 characters: {:.0} µs per inject()",
        started.elapsed().as_secs_f64() * 1e6
    );
    drop(injector);
    measure(Target::Window(win), "window target");
    assert_eq!(client.pointer(win).1, (638, 240));
}

#[test]
fn a_left_handed_pointer_mapping_still_gets_main_button_clicks() {
    // A private server: the test changes the pointer mapping, which no other test should see.
    let server = common::Xvfb::start(&["-screen", "0", "800x600x24"]);
    let client = Client::connect(&server.name);
    let win = client.window(0, 0, 800, 600, EventMask::BUTTON_PRESS);
    // The injector is open before the mapping changes: it must notice the change.
    let mut injector = Injector::open(Some(&server.name), client.screen()).expect("injector");
    let reply = client.conn.get_pointer_mapping().expect("request");
    let mut map = reply.reply().expect("pointer mapping").map;
    map.swap(0, 2);
    let status = client.conn.set_pointer_mapping(&map).expect("request");
    status.reply().expect("set pointer mapping");
    let mut pressed = Vec::new();
    for button in [Button::Left, Button::Right, Button::Middle] {
        let (x, y) = (0.5, 0.5);
        send(&mut injector, InputEvent::ButtonDown { button, x, y });
        send(&mut injector, InputEvent::ButtonUp { button, x, y });
        injector.sync().expect("sync");
        pressed.extend(client.drain().iter().filter_map(|e| match e {
            Event::ButtonPress(b) if b.event == win => Some(b.detail),
            _ => None,
        }));
    }
    assert_eq!(
        pressed,
        [1, 3, 2],
        "logical buttons as the CSR pressed them"
    );
}
