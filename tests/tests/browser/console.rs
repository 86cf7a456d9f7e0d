//! The CSR console in a real browser against the native customer helper on the test command's
//! X display: sign-in with the forced password change, a session started with defaults, an
//! invitation by code, the helper joining, chat both ways, viewing the customer's screen (its
//! pixels checked), controlling its pointer, system information, notes, and the end dialog,
//! with the session record checked afterwards.

use crate::common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tether_signaling::Service;
use tether_signaling::config::Config;
use tether_tests::browser::{Browser, wait_for};
use tether_tests::{http, login_with, temp_dir};
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{ConnectionExt as _, CreateWindowAux, WindowClass};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

/// The four quadrants of the display, left to right, top to bottom.
const QUADRANTS: [[u8; 3]; 4] = [[220, 40, 40], [40, 200, 60], [40, 60, 220], [230, 220, 40]];
/// How far a colour seen in the browser may be from the one drawn (video coding loses a little).
const COLOUR_TOLERANCE: i64 = 20;
/// The admin's password after the forced change.
const NEW_PASSWORD: &str = "console test password 42";

/// The test command's X display, with the quadrant pattern drawn on it while this lives.
struct Screen {
    conn: RustConnection,
    root: u32,
    size: (u16, u16),
}

impl Screen {
    fn open() -> Screen {
        if std::env::var_os("DISPLAY").is_none() {
            panic!(
                "no DISPLAY: this test draws on and injects into an X display; run it with \
                 ./scripts/test.sh, which starts Xvfb, or start Xvfb and set DISPLAY"
            );
        }
        let (conn, n) = x11rb::connect(None).expect("connect to the X display");
        let s = &conn.setup().roots[n];
        let (root, size) = (s.root, (s.width_in_pixels, s.height_in_pixels));
        Screen { conn, root, size }
    }

    /// Cover the display with four override-redirect windows of the quadrant colours.
    fn draw_quadrants(&self) {
        let (hw, hh) = (self.size.0 / 2, self.size.1 / 2);
        let corners = [(0, 0), (hw, 0), (0, hh), (hw, hh)];
        for ((x, y), rgb) in corners.into_iter().zip(QUADRANTS) {
            let id = self.conn.generate_id().expect("window id");
            let pixel = (u32::from(rgb[0]) << 16) | (u32::from(rgb[1]) << 8) | u32::from(rgb[2]);
            let aux = CreateWindowAux::new()
                .background_pixel(pixel)
                .override_redirect(1);
            self.conn
                .create_window(
                    0,
                    id,
                    self.root,
                    x as i16,
                    y as i16,
                    hw,
                    hh,
                    0,
                    WindowClass::INPUT_OUTPUT,
                    0,
                    &aux,
                )
                .expect("create a quadrant window");
            self.conn.map_window(id).expect("map");
        }
        self.conn.sync().expect("sync");
    }

    fn pointer(&self) -> (i16, i16) {
        let p = self
            .conn
            .query_pointer(self.root)
            .expect("query the pointer")
            .reply()
            .expect("pointer");
        (p.root_x, p.root_y)
    }

    fn warp(&self, x: i16, y: i16) {
        self.conn
            .warp_pointer(x11rb::NONE, self.root, 0, 0, 0, 0, x, y)
            .expect("warp");
        self.conn.sync().expect("sync");
    }
}

/// Open the remote-control menu and choose the item labelled `label`.
async fn remote_control(browser: &Browser, label: &str) {
    click(browser, "#rc-btn").await;
    let script = "const items = [...document.querySelectorAll('#rc-menu button')]; \
                  const i = items.findIndex((b) => b.querySelector('.mi-label').textContent === arguments[0]); \
                  return i < 0 ? null : [i + 1, items[i].disabled];";
    let found = check(
        browser,
        label,
        browser.execute(script, json!([label])).await,
    )
    .await;
    assert_eq!(
        found[1], false,
        "the remote-control menu has no usable {label:?} item: {found}"
    );
    let n = found[0].as_u64().expect("the item's position");
    click(browser, &format!("#rc-menu button:nth-child({n})")).await;
}

/// The colours of the video's current frame at the middles of its four quadrants.
const GRAB_FRAME: &str = "const v = document.getElementById('screen'); \
    if (!v || v.hidden || v.readyState < 2 || !v.videoWidth) return null; \
    const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight; \
    const g = c.getContext('2d'); g.drawImage(v, 0, 0); \
    const spots = [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]; \
    return { size: [c.width, c.height], colours: spots.map(([x, y]) => \
      Array.from(g.getImageData(Math.floor(x * c.width), Math.floor(y * c.height), 1, 1).data.slice(0, 3))) };";

fn matches_quadrants(frame: &Value) -> bool {
    let Some(colours) = frame["colours"].as_array() else {
        return false;
    };
    colours.len() == 4
        && colours.iter().zip(QUADRANTS).all(|(seen, want)| {
            (0..3).all(|i| {
                seen[i]
                    .as_i64()
                    .is_some_and(|c| (c - i64::from(want[i])).abs() <= COLOUR_TOLERANCE)
            })
        })
}

#[test]
fn console_against_the_native_helper() {
    // The display first: without one there is nothing to test, and the panic says why.
    let screen = Screen::open();
    let helper = helper_binary();
    // A larger stack, as in the join test: the service's and the page's futures nest deeply.
    crate::common::run("console", move || scenario(screen, helper));
}

async fn scenario(screen: Screen, helper_bin: PathBuf) {
    let started = Instant::now();
    let phase = |what: &str| eprintln!("console test: {what} at {:.1?}", started.elapsed());
    screen.draw_quadrants();

    // A real service serving web/, with its one-time admin password.
    let mut config = Config::for_tests(temp_dir("browser-console").join("t.db"));
    config.web_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let service = Service::start(config).await.expect("service starts");
    let once = service
        .admin_password
        .clone()
        .expect("a fresh service has a one-time admin password");

    phase("Sign in through the console");
    // Sign in through the console; it forces the password change.
    let browser = Browser::start().await.expect("browser starts");
    check(&browser, "resize", browser.resize(1280, 1100).await).await;
    check(
        &browser,
        "open console",
        browser.goto(&format!("{}/", service.url)).await,
    )
    .await;
    type_into(&browser, "#signin-user", "admin").await;
    type_into(&browser, "#signin-pass", &once).await;
    click(&browser, "#signin-form button[type=submit]").await;
    check(
        &browser,
        "forced password change",
        browser.wait_visible("#view-password", WAIT).await,
    )
    .await;
    type_into(&browser, "#pw-current", &once).await;
    type_into(&browser, "#pw-new", NEW_PASSWORD).await;
    type_into(&browser, "#pw-repeat", NEW_PASSWORD).await;
    click(&browser, "#password-form button[type=submit]").await;

    phase("Start a session with defaults");
    // Start a session with defaults and invite a customer by code.
    click(&browser, "#quick-start").await;
    shows(&browser, "#ws-state", "Connected").await;
    shows(&browser, "#s-role", "controller").await;
    click(&browser, "#invite-btn").await;
    click(&browser, "#invite-customer").await;
    check(
        &browser,
        "invitation code",
        browser.wait_visible(".invitation output.code", WAIT).await,
    )
    .await;
    let code = browser
        .text_of(".invitation output.code")
        .await
        .expect("the code");
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    assert!(
        digits.len() == 9
            && code
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == ' '),
        "the invitation code is {code:?}"
    );
    let session_id = browser
        .execute(
            "return JSON.parse(sessionStorage.getItem('tether.console.session')).session.id;",
            json!([]),
        )
        .await
        .expect("session id");
    let session_id = session_id.as_str().expect("a session id").to_owned();

    phase("The helper joins by the code");
    // The helper joins by the code; the participants panel shows Carl, connected directly.
    let mut carl = Helper::start(&helper_bin, &service.url, &code, "Carl", &[]);
    carl.expect("Joined the support session as Carl").await;
    shows(&browser, "#people", "Carl").await;
    shows(&browser, "#people", "Primary customer").await;
    shows(&browser, "#people", "connected").await;

    phase("Chat both ways.");
    // Chat both ways.
    type_into(
        &browser,
        "#chat-text",
        "Hello Carl, this is support\u{E007}",
    )
    .await;
    let line = carl.expect("Hello Carl, this is support").await;
    assert!(line.contains("-> "), "a chat line names its sender: {line}");
    carl.type_line("my screen is very colourful").await;
    shows(&browser, "#chat-log", "my screen is very colourful").await;

    phase("View desktop:");
    click(&browser, "#invite-close").await;

    // View desktop: the helper asks, Carl allows, the video shows the quadrants.
    remote_control(&browser, "View desktop").await;
    shows(&browser, "#pending", "Waiting for Carl").await;
    carl.expect("asks to see your screen").await;
    carl.type_line("y").await;
    carl.expect("Your screen").await;
    let mut last = Value::Null;
    let grabbing = Instant::now();
    while !matches_quadrants(&last) {
        if grabbing.elapsed() > WAIT {
            let _ = browser.screenshot("failed-console-video").await;
            panic!(
                "the console's video did not show the quadrants {QUADRANTS:?} (±{COLOUR_TOLERANCE}) \
                 within {WAIT:?}; the last frame was {last}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        last = check(
            &browser,
            "grab a video frame",
            browser.execute(GRAB_FRAME, json!([])).await,
        )
        .await;
    }
    let (w, h) = screen.size;
    assert_eq!(
        last["size"],
        json!([w, h]),
        "the video has the size of the customer's display"
    );
    let shot = browser
        .screenshot("console-viewing")
        .await
        .expect("screenshot");
    assert!(shot.is_file(), "no screenshot at {}", shot.display());

    phase("Control desktop:");
    // Control desktop: Carl allows; a click on the video moves his pointer there.
    remote_control(&browser, "Control desktop").await;
    carl.expect("asks to control your mouse").await;
    carl.type_line("y").await;
    let controlling = wait_for(WAIT, || async {
        Ok(browser
            .execute(
                "return document.getElementById('screen').classList.contains('controlling');",
                json!([]),
            )
            .await?
            == true)
    })
    .await;
    assert!(
        check(&browser, "controlling", controlling).await,
        "the console did not start controlling within {WAIT:?}"
    );
    screen.warp(10, 10);
    let (fx, fy) = (0.3, 0.7);
    let want = (
        (fx * f64::from(w)).round() as i16,
        (fy * f64::from(h)).round() as i16,
    );
    let press = "const v = document.getElementById('screen'); const r = v.getBoundingClientRect(); \
        const at = { clientX: r.left + arguments[0] * r.width, clientY: r.top + arguments[1] * r.height, \
          button: 0, bubbles: true, pointerType: 'mouse', isPrimary: true }; \
        v.dispatchEvent(new PointerEvent('pointermove', at)); \
        v.dispatchEvent(new PointerEvent('pointerdown', at)); \
        v.dispatchEvent(new PointerEvent('pointerup', at));";
    check(
        &browser,
        "click on the video",
        browser.execute(press, json!([fx, fy])).await,
    )
    .await;
    let moved = wait_for(WAIT, || async {
        let (x, y) = screen.pointer();
        Ok((x - want.0).abs() <= 3 && (y - want.1).abs() <= 3)
    })
    .await
    .expect("query the pointer");
    assert!(
        moved,
        "a click at ({fx}, {fy}) of the video did not bring Carl's pointer near {want:?} \
         within {WAIT:?}; it is at {:?}",
        screen.pointer()
    );
    // A real (WebDriver) click lands in the middle of the video's visible part: the same place
    // of Carl's display.
    let visible = "const v = document.getElementById('screen'); v.scrollIntoView({ block: 'center' }); \
        const r = v.getBoundingClientRect(); \
        const top = Math.max(r.top, 0), bottom = Math.min(r.bottom, window.innerHeight); \
        const left = Math.max(r.left, 0), right = Math.min(r.right, window.innerWidth); \
        return [((left + right) / 2 - r.left) / r.width, ((top + bottom) / 2 - r.top) / r.height];";
    let centre = check(
        &browser,
        "video in view",
        browser.execute(visible, json!([])).await,
    )
    .await;
    let (cx, cy) = (
        centre[0].as_f64().expect("x fraction"),
        centre[1].as_f64().expect("y fraction"),
    );
    let want = (
        (cx * f64::from(w)).round() as i16,
        (cy * f64::from(h)).round() as i16,
    );
    let video = browser.find("#screen").await.expect("the video");
    check(
        &browser,
        "WebDriver click on the video",
        browser.click(&video).await,
    )
    .await;
    let moved = wait_for(WAIT, || async {
        let (x, y) = screen.pointer();
        Ok((x - want.0).abs() <= 6 && (y - want.1).abs() <= 6)
    })
    .await
    .expect("query the pointer");
    assert!(
        moved,
        "a click at ({cx:.3}, {cy:.3}) of the video did not bring Carl's pointer near {want:?}; \
         it is at {:?}",
        screen.pointer()
    );

    phase("System information");
    // System information: Carl allows; the panel shows his host name.
    click(&browser, "#sysinfo-btn").await;
    carl.expect("asks to read system information").await;
    carl.type_line("y").await;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    shows(&browser, "#sysinfo-body", "Host name").await;
    if !hostname.is_empty() {
        shows(&browser, "#sysinfo-body", &hostname).await;
    }
    let scroll = "document.querySelector('.session-head').scrollIntoView({ block: 'start' });";
    check(&browser, "scroll", browser.execute(scroll, json!([])).await).await;
    let shot = browser
        .screenshot("console-in-session")
        .await
        .expect("screenshot");
    assert!(shot.is_file(), "no screenshot at {}", shot.display());

    // A narrow window: one column, nothing wider than the window.
    check(&browser, "narrow", browser.resize(480, 900).await).await;
    let overflow = "return document.documentElement.scrollWidth - window.innerWidth;";
    let overflow = check(
        &browser,
        "overflow",
        browser.execute(overflow, json!([])).await,
    )
    .await;
    assert!(
        overflow.as_f64().is_some_and(|px| px <= 0.0),
        "the console is wider than a narrow window by {overflow} px"
    );
    check(&browser, "scroll", browser.execute(scroll, json!([])).await).await;
    browser
        .screenshot("console-narrow")
        .await
        .expect("screenshot");
    check(&browser, "wide", browser.resize(1280, 1100).await).await;

    phase("Notes, saved;");
    // Notes, saved; then the end dialog ends the session for everyone.
    type_into(&browser, "#notes-text", "Carl's display shows four colours").await;
    click(&browser, "#notes-save").await;
    shows(&browser, "#notes-state", "Saved at").await;
    click(&browser, "#end-btn").await;
    let end_notes = browser
        .execute(
            "return document.getElementById('end-notes').value;",
            json!([]),
        )
        .await
        .expect("end notes");
    assert_eq!(
        end_notes, "Carl's display shows four colours",
        "the end dialog starts from the notes"
    );
    type_into(&browser, "#end-notes", "; fixed").await;
    click(&browser, "#end-confirm").await;
    shows(&browser, "#ended-why", "ended").await;
    carl.expect("The session has ended").await;
    let status = tokio::time::timeout(WAIT, carl.child.wait())
        .await
        .expect("the helper exits after the end")
        .expect("the helper's status");
    assert!(status.success(), "the helper exited with {status}");
    browser
        .screenshot("console-ended")
        .await
        .expect("screenshot");

    phase("The record holds");
    // The record holds the transcript, the consents and the notes.
    let token = login_with(service.addr, "admin", NEW_PASSWORD).await;
    let path = format!("/api/v1/sessions/{session_id}");
    let (status, record) = http(service.addr, "GET", &path, Some(&token), None).await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["notes"], "Carl's display shows four colours; fixed");
    let events: Vec<&Value> = record["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in the record {record}"))
        .iter()
        .map(|e| &e["event"])
        .collect();
    let recorded: Vec<(&Value, &Value)> = events
        .iter()
        .filter(|e| e["type"] == "chat_recorded")
        .flat_map(|e| e["lines"].as_array().into_iter().flatten())
        .map(|l| (&l["from"], &l["text"]))
        .collect();
    assert_eq!(
        recorded,
        [
            (&json!(1), &json!("Hello Carl, this is support")),
            (&json!(2), &json!("my screen is very colourful")),
        ],
        "the chat transcript in the record"
    );
    for capability in ["remote_view", "remote_control", "system_info"] {
        assert!(
            events.iter().any(|e| e["type"] == "consent_answered"
                && e["capability"] == capability
                && e["customer"] == 2
                && e["granted"] == true),
            "the record has no granted {capability} consent: {events:#?}"
        );
    }
    assert!(
        events.iter().any(
            |e| e["type"] == "notes_saved" && e["notes"] == "Carl's display shows four colours"
        ),
        "the record has no saved notes: {events:#?}"
    );
    let ended = events.last().expect("events");
    assert_eq!(
        (&ended["type"], &ended["notes"]),
        (
            &json!("session_ended"),
            &json!("Carl's display shows four colours; fixed")
        ),
        "the last event of the record"
    );

    drop(browser);
    service.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the scenario took {:?}",
        started.elapsed()
    );
}
