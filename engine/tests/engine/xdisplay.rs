//! The test command's X display (Xvfb) as the engine tests see it: where the pointer is, a
//! window that hears keys, coloured windows to share, and a lock so tests that draw or inject
//! take turns.

use std::time::Duration;
use x11rb::connection::Connection;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, CreateWindowAux, EventMask, InputFocus, PropMode, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

pub struct Display {
    conn: RustConnection,
    root: u32,
    size: (u16, u16),
}

impl Display {
    pub fn open() -> Display {
        std::env::var("DISPLAY").expect(
            "no DISPLAY: run the tests with ./scripts/test.sh, which starts Xvfb, or set DISPLAY",
        );
        let (conn, screen) = x11rb::connect(None).expect("connect to the X display");
        let s = &conn.setup().roots[screen];
        let (root, size) = (s.root, (s.width_in_pixels, s.height_in_pixels));
        Display { conn, root, size }
    }

    pub fn pointer(&self) -> (i16, i16) {
        let p = self
            .conn
            .query_pointer(self.root)
            .expect("query")
            .reply()
            .expect("pointer");
        (p.root_x, p.root_y)
    }

    pub fn warp(&self, x: i16, y: i16) {
        self.conn
            .warp_pointer(x11rb::NONE, self.root, 0, 0, 0, 0, x, y)
            .expect("warp");
        self.conn.sync().expect("sync");
    }

    /// Where normalised (x, y) of the whole screen (monitor 0 on the test display) lands.
    pub fn at(&self, x: f64, y: f64) -> (i16, i16) {
        (
            (x * f64::from(self.size.0)) as i16,
            (y * f64::from(self.size.1)) as i16,
        )
    }

    /// Wait (at most 10 s) until the pointer is at `want`.
    pub async fn pointer_reaches(&self, want: (i16, i16)) {
        for _ in 0..200 {
            if self.pointer() == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the pointer is at {:?}, not {want:?}", self.pointer());
    }

    /// A focused window that hears key presses: a small test client.
    pub fn key_listener(&self) -> u32 {
        let w = self.conn.generate_id().expect("id");
        let aux = CreateWindowAux::new()
            .event_mask(EventMask::KEY_PRESS | EventMask::KEY_RELEASE)
            .override_redirect(1);
        self.conn
            .create_window(
                0,
                w,
                self.root,
                0,
                0,
                200,
                100,
                0,
                WindowClass::INPUT_OUTPUT,
                0,
                &aux,
            )
            .expect("window");
        self.conn.map_window(w).expect("map");
        self.conn
            .set_input_focus(InputFocus::POINTER_ROOT, w, x11rb::CURRENT_TIME)
            .expect("focus");
        self.conn.sync().expect("sync");
        w
    }

    /// The key codes pressed in the listener within `wait`.
    pub async fn pressed(&self, wait: Duration) -> Vec<u8> {
        let mut keys = Vec::new();
        let end = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < end {
            while let Some(event) = self.conn.poll_for_event().expect("event") {
                if let x11rb::protocol::Event::KeyPress(k) = event {
                    keys.push(k.detail);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        keys
    }

    pub fn keycode_of(&self, keysym: u32) -> u8 {
        let setup = self.conn.setup();
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let map = self
            .conn
            .get_keyboard_mapping(min, max - min + 1)
            .expect("mapping")
            .reply()
            .expect("mapping");
        let per = map.keysyms_per_keycode as usize;
        let index = map
            .keysyms
            .chunks(per)
            .position(|row| row.contains(&keysym))
            .expect("the keysym is mapped");
        min + index as u8
    }

    /// Tests that draw on or inject into the display hold this meanwhile.
    pub async fn turn(&self) -> tokio::sync::MutexGuard<'static, ()> {
        static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        TURN.lock().await
    }

    /// The screen size in pixels.
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    /// A window of one colour at `rect`; with a title (a shareable application window) or
    /// without (override-redirect, placed exactly). Destroyed with the display handle's
    /// `destroy`.
    pub fn window(&self, rect: (i16, i16, u16, u16), rgb: [u8; 3], title: Option<&str>) -> u32 {
        let id = self.conn.generate_id().expect("id");
        let pixel = (u32::from(rgb[0]) << 16) | (u32::from(rgb[1]) << 8) | u32::from(rgb[2]);
        let aux = CreateWindowAux::new()
            .background_pixel(pixel)
            .override_redirect(u32::from(title.is_none()));
        let (x, y, w, h) = rect;
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
            .expect("window");
        if let Some(title) = title {
            self.conn
                .change_property8(
                    PropMode::REPLACE,
                    id,
                    AtomEnum::WM_NAME,
                    AtomEnum::STRING,
                    title.as_bytes(),
                )
                .expect("title");
        }
        self.conn.map_window(id).expect("map");
        self.conn.sync().expect("sync");
        id
    }

    pub fn destroy(&self, id: u32) {
        self.conn.destroy_window(id).expect("destroy");
        self.conn.sync().expect("sync");
    }
}
