//! Screen and window capture on an X11 display: the monitors and top-level windows of the
//! display named by `DISPLAY`, and a [`Capturer`] that grabs one monitor, or one window cropped
//! from its monitor, and tells whether anything changed since the previous grab.
//!
//! Monitors are grabbed with `scrap` (MIT-SHM); windows are found and measured with `x11rb`.
//! Both connect to the display named by the `DISPLAY` environment variable. scrap's types are
//! neither `Send` nor `Sync`, so a [`Capturer`] is created and used on one thread.

use x11rb::connection::Connection;
use x11rb::errors::{ConnectionError, ReplyError};
use x11rb::protocol::randr::ConnectionExt as _;
use x11rb::protocol::xproto::{Atom, AtomEnum, ConnectionExt as _, MapState, Window};
use x11rb::rust_connection::RustConnection;

use crate::MediaError;
use crate::frame::Bgra;

/// A rectangle in root-window (whole X screen) coordinates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    /// The part of this rectangle inside `other`, if any.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 = self.right().min(other.right());
        let y1 = self.bottom().min(other.bottom());
        (x1 > x0 && y1 > y0).then(|| Rect {
            x: x0,
            y: y0,
            width: (x1 - x0) as u32,
            height: (y1 - y0) as u32,
        })
    }

    /// Whether the point lies inside.
    pub fn contains(&self, x: i32, y: i32) -> bool {
        x >= self.x && y >= self.y && x < self.right() && y < self.bottom()
    }

    fn right(&self) -> i32 {
        self.x.saturating_add(self.width as i32)
    }

    fn bottom(&self) -> i32 {
        self.y.saturating_add(self.height as i32)
    }

    fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// One monitor of the X display (a RandR monitor), as it can be chosen for capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayInfo {
    /// Position in [`displays`], which is also the index to open a [`Capturer`] with.
    pub index: usize,
    /// The RandR monitor name, such as `HDMI-1` (empty if the server gives none).
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

impl DisplayInfo {
    /// The monitor's area in root coordinates.
    pub fn rect(&self) -> Rect {
        Rect {
            x: self.x,
            y: self.y,
            width: self.width,
            height: self.height,
        }
    }
}

/// A top-level window that can be shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowInfo {
    /// The X window id (of the client window, not its window-manager frame).
    pub id: u32,
    pub title: String,
    /// Its inside area (without frame or border) in root coordinates.
    pub rect: Rect,
}

/// How a window to capture is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowChoice {
    Id(u32),
    /// The window with exactly this title, else the first whose title contains it.
    Title(String),
}

/// The monitors of the X display, in the order [`Capturer::display`] numbers them.
pub fn displays() -> Result<Vec<DisplayInfo>, MediaError> {
    X11::connect()?.monitors()
}

/// The monitors of the X display named `display` (such as `:0`) rather than by `DISPLAY`.
pub fn displays_on(display: &str) -> Result<Vec<DisplayInfo>, MediaError> {
    X11::connect_to(Some(display))?.monitors()
}

/// The top-level windows with a title: the window manager's client list when it publishes one
/// (`_NET_CLIENT_LIST`), else the root window's mapped children.
pub fn windows() -> Result<Vec<WindowInfo>, MediaError> {
    X11::connect()?.windows()
}

/// The window named by `choice`, or `MediaError::Unavailable`.
pub fn find_window(choice: &WindowChoice) -> Result<WindowInfo, MediaError> {
    X11::connect()?.find(choice)
}

/// The current inside area of window `id` in root coordinates (remote control confines its
/// pointer to it), or `MediaError::Unavailable` when there is no such window.
pub fn window_rect(id: u32) -> Result<Rect, MediaError> {
    X11::connect()?.window_rect(id)
}

/// One grab: the picture and whether it differs from the previous grab's.
#[derive(Debug)]
pub struct Grab<'a> {
    pub frame: &'a Bgra,
    /// False when every pixel (and the size) is as in the previous grab.
    pub changed: bool,
    /// Where the picture was taken, in root coordinates.
    pub area: Rect,
}

/// Grabs one monitor or one window again and again. Not `Send`: use it on the thread that
/// created it.
pub struct Capturer {
    monitor: Monitor,
    window: Option<(X11, u32)>,
    frame: Bgra,
    area: Rect,
    grabbed: bool,
}

impl std::fmt::Debug for Capturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capturer")
            .field("monitor", &self.monitor.info)
            .field("window", &self.window.as_ref().map(|(_, id)| id))
            .field("area", &self.area)
            .finish_non_exhaustive()
    }
}

impl Capturer {
    /// Capture the monitor with this index in [`displays`].
    pub fn display(index: usize) -> Result<Capturer, MediaError> {
        let info = displays()?;
        let count = info.len();
        let info = info.into_iter().nth(index).ok_or_else(|| {
            MediaError::Unavailable(format!("no display {index}: the X display has {count}"))
        })?;
        let area = info.rect();
        Ok(Capturer {
            monitor: Monitor::open(info)?,
            window: None,
            frame: Bgra::default(),
            area,
            grabbed: false,
        })
    }

    /// Capture one window: the monitor holding most of it, cropped to the window's current
    /// area at each grab.
    pub fn window(choice: &WindowChoice) -> Result<Capturer, MediaError> {
        let x11 = X11::connect()?;
        let window = x11.find(choice)?;
        let monitors = x11.monitors()?;
        let info = best_monitor(&monitors, &window.rect).ok_or_else(|| {
            MediaError::Unavailable(format!("window {:#x} is on no monitor", window.id))
        })?;
        Ok(Capturer {
            monitor: Monitor::open(info)?,
            window: Some((x11, window.id)),
            frame: Bgra::default(),
            area: window.rect,
            grabbed: false,
        })
    }

    /// The monitor being grabbed.
    pub fn monitor(&self) -> &DisplayInfo {
        &self.monitor.info
    }

    /// The window being grabbed, if this captures a window.
    pub fn window_id(&self) -> Option<u32> {
        self.window.as_ref().map(|(_, id)| *id)
    }

    /// The area of the last grab (before the first: the monitor's or window's area).
    pub fn area(&self) -> Rect {
        self.area
    }

    /// Take a picture. For a window that is closed this is `MediaError::Unavailable`; for one
    /// that is hidden (unmapped, or off every monitor) it is the previous picture, unchanged.
    pub fn grab(&mut self) -> Result<Grab<'_>, MediaError> {
        let area = match self.window_area()? {
            Some(area) => area,
            None if self.grabbed => {
                return Ok(Grab {
                    frame: &self.frame,
                    changed: false,
                    area: self.area,
                });
            }
            None => return Err(MediaError::Unavailable("the window is not visible".into())),
        };
        let monitor = self.monitor.info.rect();
        let (x, y) = ((area.x - monitor.x) as usize, (area.y - monitor.y) as usize);
        let (width, height) = (area.width as usize, area.height as usize);
        let stride = monitor.width as usize * 4;
        let first = !self.grabbed;
        let frame = &mut self.frame;
        let changed = self.monitor.with_frame(|pixels| {
            if pixels.len() < monitor.height as usize * stride {
                return Err(MediaError::X11(format!(
                    "a grab of {}x{} gave {} bytes",
                    monitor.width,
                    monitor.height,
                    pixels.len()
                )));
            }
            let rows = (y..y + height)
                .map(|row| &pixels[row * stride + x * 4..row * stride + (x + width) * 4]);
            if frame.width == width && frame.height == height && !first {
                let mut changed = false;
                for (row, dst) in rows.zip(frame.data.chunks_exact_mut(width * 4)) {
                    if row != dst {
                        dst.copy_from_slice(row);
                        changed = true;
                    }
                }
                Ok(changed)
            } else {
                let mut data = Vec::with_capacity(width * height * 4);
                rows.for_each(|row| data.extend_from_slice(row));
                *frame = Bgra {
                    width,
                    height,
                    stride: width * 4,
                    data,
                };
                Ok(true)
            }
        })?;
        self.area = area;
        self.grabbed = true;
        Ok(Grab {
            frame: &self.frame,
            changed,
            area,
        })
    }

    /// The area to crop from the monitor: the whole monitor, or the window's visible part,
    /// switching monitor when the window has moved to another. None when the window is hidden.
    fn window_area(&mut self) -> Result<Option<Rect>, MediaError> {
        let Some((x11, id)) = &self.window else {
            return Ok(Some(self.monitor.info.rect()));
        };
        if !x11.is_viewable(*id)? {
            return Ok(None);
        }
        let rect = x11.window_rect(*id)?;
        if let Some(visible) = rect.intersect(&self.monitor.info.rect())
            && visible.area() * 2 >= rect.area()
        {
            return Ok(Some(visible));
        }
        let monitors = x11.monitors()?;
        let Some(best) = best_monitor(&monitors, &rect) else {
            return Ok(None);
        };
        if best != self.monitor.info {
            self.monitor = Monitor::open(best)?;
        }
        Ok(rect.intersect(&self.monitor.info.rect()))
    }
}

/// The monitor holding the largest part of `rect`.
fn best_monitor(monitors: &[DisplayInfo], rect: &Rect) -> Option<DisplayInfo> {
    monitors
        .iter()
        .filter_map(|m| Some((m.rect().intersect(rect)?.area(), m)))
        .max_by_key(|(area, m)| (*area, std::cmp::Reverse(m.index)))
        .map(|(_, m)| m.clone())
}

/// A scrap capturer of one monitor.
struct Monitor {
    info: DisplayInfo,
    capturer: scrap::Capturer,
}

impl Monitor {
    fn open(info: DisplayInfo) -> Result<Monitor, MediaError> {
        let all = retry_connect(scrap::Display::all)?;
        let count = all.len();
        let display = all.into_iter().nth(info.index).ok_or_else(|| {
            MediaError::Unavailable(format!(
                "no display {}: the X display has {count}",
                info.index
            ))
        })?;
        if (display.width(), display.height()) != (info.width as usize, info.height as usize) {
            return Err(MediaError::X11(format!(
                "the monitors changed while display {} was being opened",
                info.index
            )));
        }
        let capturer = scrap::Capturer::new(display)
            .map_err(|e| MediaError::X11(format!("cannot capture display {}: {e}", info.index)))?;
        Ok(Monitor { info, capturer })
    }

    /// Grab the monitor and hand its pixels (rows of `4 * width` bytes) to `use_pixels`.
    fn with_frame<R>(
        &mut self,
        use_pixels: impl FnOnce(&[u8]) -> Result<R, MediaError>,
    ) -> Result<R, MediaError> {
        let index = self.info.index;
        let frame = self
            .capturer
            .frame()
            .map_err(|e| MediaError::X11(format!("grabbing display {index} failed: {e}")))?;
        use_pixels(&frame)
    }
}

/// An x11rb connection to an X display (by default the one `DISPLAY` names), with the atoms
/// window listing uses.
struct X11 {
    conn: RustConnection,
    root: Window,
    client_list: Atom,
    net_wm_name: Atom,
    utf8_string: Atom,
}

impl X11 {
    fn connect() -> Result<X11, MediaError> {
        X11::connect_to(None)
    }

    /// Connect to the display with this name, or (None) the one `DISPLAY` names.
    fn connect_to(display: Option<&str>) -> Result<X11, MediaError> {
        let (conn, screen) = retry_connect(|| x11rb::connect(display))?;
        let root = conn
            .setup()
            .roots
            .get(screen)
            .map(|s| s.root)
            .ok_or_else(|| MediaError::X11(format!("the X server has no screen {screen}")))?;
        let atom = |name: &[u8]| -> Result<Atom, MediaError> {
            Ok(conn
                .intern_atom(false, name)
                .map_err(x11)?
                .reply()
                .map_err(x11)?
                .atom)
        };
        let client_list = atom(b"_NET_CLIENT_LIST")?;
        let net_wm_name = atom(b"_NET_WM_NAME")?;
        let utf8_string = atom(b"UTF8_STRING")?;
        Ok(X11 {
            conn,
            root,
            client_list,
            net_wm_name,
            utf8_string,
        })
    }

    fn monitors(&self) -> Result<Vec<DisplayInfo>, MediaError> {
        let mut out = Vec::new();
        for screen in &self.conn.setup().roots {
            let reply = self
                .conn
                .randr_get_monitors(screen.root, true)
                .map_err(x11)?
                .reply()
                .map_err(x11)?;
            for monitor in reply.monitors {
                out.push(DisplayInfo {
                    index: out.len(),
                    name: self.atom_name(monitor.name).unwrap_or_default(),
                    x: i32::from(monitor.x),
                    y: i32::from(monitor.y),
                    width: u32::from(monitor.width),
                    height: u32::from(monitor.height),
                    primary: monitor.primary,
                });
            }
        }
        if out.is_empty() {
            return Err(MediaError::Unavailable(
                "the X display reports no monitors".into(),
            ));
        }
        Ok(out)
    }

    fn atom_name(&self, atom: Atom) -> Option<String> {
        let reply = self.conn.get_atom_name(atom).ok()?.reply().ok()?;
        Some(String::from_utf8_lossy(&reply.name).into_owned())
    }

    fn windows(&self) -> Result<Vec<WindowInfo>, MediaError> {
        let listed = self.property32(self.root, self.client_list)?;
        let candidates = if listed.is_empty() {
            let tree = self
                .conn
                .query_tree(self.root)
                .map_err(x11)?
                .reply()
                .map_err(x11)?;
            let mut found = Vec::new();
            for child in tree.children {
                if self.is_viewable(child)? {
                    found.push(self.titled_client(child)?.unwrap_or(child));
                }
            }
            found
        } else {
            listed
        };
        let mut out = Vec::new();
        for id in candidates {
            let Some(title) = self.title(id)? else {
                continue;
            };
            // A window closed meanwhile is simply left out.
            if let Ok(rect) = self.window_rect(id) {
                out.push(WindowInfo { id, title, rect });
            }
        }
        Ok(out)
    }

    /// For a window manager's frame without a title: its first child with one.
    fn titled_client(&self, window: Window) -> Result<Option<Window>, MediaError> {
        if self.title(window)?.is_some() {
            return Ok(Some(window));
        }
        let Ok(tree) = self.conn.query_tree(window).map_err(x11)?.reply() else {
            return Ok(None);
        };
        for child in tree.children {
            if self.title(child)?.is_some() {
                return Ok(Some(child));
            }
        }
        Ok(None)
    }

    fn find(&self, choice: &WindowChoice) -> Result<WindowInfo, MediaError> {
        let windows = self.windows()?;
        let found = match choice {
            WindowChoice::Id(id) => windows.into_iter().find(|w| w.id == *id),
            WindowChoice::Title(title) => {
                let exact = windows.iter().position(|w| &w.title == title);
                let partial = || {
                    windows
                        .iter()
                        .position(|w| w.title.contains(title.as_str()))
                };
                exact.or_else(partial).map(|i| windows[i].clone())
            }
        };
        found.ok_or_else(|| MediaError::Unavailable(format!("no such window: {choice:?}")))
    }

    fn window_rect(&self, id: u32) -> Result<Rect, MediaError> {
        let geometry = self
            .conn
            .get_geometry(id)
            .map_err(x11)?
            .reply()
            .map_err(|e| no_window(id, e))?;
        let origin = self
            .conn
            .translate_coordinates(id, self.root, 0, 0)
            .map_err(x11)?
            .reply()
            .map_err(|e| no_window(id, e))?;
        Ok(Rect {
            x: i32::from(origin.dst_x),
            y: i32::from(origin.dst_y),
            width: u32::from(geometry.width),
            height: u32::from(geometry.height),
        })
    }

    fn is_viewable(&self, id: u32) -> Result<bool, MediaError> {
        let attributes = self
            .conn
            .get_window_attributes(id)
            .map_err(x11)?
            .reply()
            .map_err(|e| no_window(id, e))?;
        Ok(attributes.map_state == MapState::VIEWABLE)
    }

    /// `_NET_WM_NAME` (UTF-8), else `WM_NAME`; None when the window has neither or it is empty.
    fn title(&self, id: u32) -> Result<Option<String>, MediaError> {
        for (property, kind) in [
            (self.net_wm_name, self.utf8_string),
            (AtomEnum::WM_NAME.into(), AtomEnum::ANY.into()),
        ] {
            let Ok(reply) = self
                .conn
                .get_property(false, id, property, kind, 0, 1024)
                .map_err(x11)?
                .reply()
            else {
                return Ok(None);
            };
            if reply.format == 8 && !reply.value.is_empty() {
                return Ok(Some(if reply.type_ == self.utf8_string {
                    String::from_utf8_lossy(&reply.value).into_owned()
                } else {
                    reply.value.iter().map(|&b| char::from(b)).collect()
                }));
            }
        }
        Ok(None)
    }

    fn property32(&self, window: Window, property: Atom) -> Result<Vec<u32>, MediaError> {
        let reply = self
            .conn
            .get_property(false, window, property, AtomEnum::WINDOW, 0, u32::MAX / 4)
            .map_err(x11)?
            .reply()
            .map_err(x11)?;
        Ok(reply.value32().map(Iterator::collect).unwrap_or_default())
    }
}

/// Connect, trying again shortly when it fails: an X server that lost its last client resets,
/// and refuses connections meanwhile.
fn retry_connect<T, E: std::fmt::Display>(
    connect: impl Fn() -> Result<T, E>,
) -> Result<T, MediaError> {
    let mut attempt = 0;
    loop {
        match connect() {
            Ok(connected) => return Ok(connected),
            Err(e) if attempt == CONNECT_ATTEMPTS - 1 => return Err(no_display(&e.to_string())),
            Err(_) => {
                attempt += 1;
                std::thread::sleep(CONNECT_RETRY_PAUSE);
            }
        }
    }
}

const CONNECT_ATTEMPTS: u32 = 5;
const CONNECT_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

fn no_display(detail: &str) -> MediaError {
    MediaError::Unavailable(format!(
        "no X display (is DISPLAY set to a running X server?): {detail}"
    ))
}

fn no_window(id: u32, e: ReplyError) -> MediaError {
    match e {
        ReplyError::X11Error(_) => MediaError::Unavailable(format!("no such window: {id:#x}")),
        other => x11(other),
    }
}

fn x11(e: impl Into<X11Failure>) -> MediaError {
    MediaError::X11(e.into().0)
}

/// An x11rb error of any kind, as text.
struct X11Failure(String);

impl From<ConnectionError> for X11Failure {
    fn from(e: ConnectionError) -> Self {
        X11Failure(e.to_string())
    }
}

impl From<ReplyError> for X11Failure {
    fn from(e: ReplyError) -> Self {
        X11Failure(e.to_string())
    }
}
