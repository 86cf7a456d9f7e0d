//! A headless Chromium driven over WebDriver for the end-to-end browser tests: starts
//! `chromedriver` on a free loopback port, opens one Chromium session with the flags WebRTC on
//! loopback needs (fake camera and microphone, no permission prompts, a fresh profile), and
//! speaks the few WebDriver calls the tests use over a minimal HTTP/1.1 client. Both processes
//! are ended when the [`Browser`] is dropped. Screenshots go to `target/screenshots/`.

use serde_json::{Value, json};
use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The key WebDriver wraps element references in.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long one WebDriver call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Chromium's command line (see the "Browser testing" notes of the project's stack).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--window-size=1100,850",
];

/// A failed WebDriver call or a browser that could not start, in words.
#[derive(Debug)]
pub struct BrowserError(pub String);

impl std::fmt::Display for BrowserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrowserError {}

type Result<T> = std::result::Result<T, BrowserError>;

fn err(what: impl Into<String>) -> BrowserError {
    BrowserError(what.into())
}

/// A found element (its WebDriver reference).
#[derive(Debug, Clone)]
pub struct Element(String);

/// One headless Chromium session behind its own chromedriver.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    profile: PathBuf,
}

/// The first executable among `names` on `PATH` (or the one named by the environment variable
/// `env`, when set).
fn executable(env: &str, names: &[&str]) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(err(format!(
        "none of {names:?} is on PATH (install the Debian packages chromium and chromium-driver, \
         see scripts/packages.sh, or set {env})"
    )))
}

/// Where screenshots are saved: `target/screenshots/` of the workspace.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}

impl Browser {
    /// Start chromedriver and a fresh headless Chromium.
    pub async fn start() -> Result<Browser> {
        Browser::start_with(&[]).await
    }

    /// Start chromedriver and a fresh headless Chromium with `extra_args` after the usual
    /// flags (e.g. `--use-file-for-fake-audio-capture=FILE` for a fake microphone that plays a
    /// WAV file).
    pub async fn start_with(extra_args: &[String]) -> Result<Browser> {
        let chromedriver = executable("TETHER_CHROMEDRIVER", &["chromedriver"])?;
        let chromium = executable(
            "TETHER_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        )?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| err(format!("no free port: {e}")))?
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| err(format!("starting {}: {e}", chromedriver.display())))?;
        let profile =
            std::env::temp_dir().join(format!("tether-chromium-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let mut browser = Browser {
            driver,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: String::new(),
            profile,
        };
        browser.wait_ready().await?;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
        args.extend(extra_args.iter().cloned());
        args.push(format!("--user-data-dir={}", browser.profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium.to_string_lossy(), "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = browser.call("POST", "/session", Some(caps)).await?;
        browser.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| err(format!("no session id in {created}")))?
            .to_owned();
        Ok(browser)
    }

    async fn wait_ready(&self) -> Result<()> {
        let start = Instant::now();
        loop {
            if let Ok(status) = self.call("GET", "/status", None).await
                && status["ready"] == true
            {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(15) {
                return Err(err("chromedriver did not become ready within 15 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One WebDriver call; the response's `value`, or its error in words.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let what = format!("{method} {path}");
        let call = http(self.addr, method, path, body);
        let (status, value) = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| err(format!("{what}: no answer within {CALL_TIMEOUT:?}")))?
            .map_err(|e| err(format!("{what}: {e}")))?;
        let value = value.get("value").cloned().unwrap_or(Value::Null);
        if status != 200 {
            let message = value["message"].as_str().unwrap_or_default();
            return Err(err(format!(
                "{what}: HTTP {status}: {} {message}",
                value["error"]
            )));
        }
        Ok(value)
    }

    async fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body).await
    }

    /// Load `url` and wait for it (WebDriver waits for the load event).
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.session_call("POST", "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    /// Resize the window (CSS pixels).
    pub async fn resize(&self, width: u32, height: u32) -> Result<()> {
        let rect = json!({"width": width, "height": height});
        self.session_call("POST", "/window/rect", Some(rect))
            .await
            .map(drop)
    }

    /// The first element matching the CSS `selector`.
    pub async fn find(&self, selector: &str) -> Result<Element> {
        let by = json!({"using": "css selector", "value": selector});
        let found = self.session_call("POST", "/element", Some(by)).await?;
        found[ELEMENT_KEY]
            .as_str()
            .map(|id| Element(id.to_owned()))
            .ok_or_else(|| err(format!("no element reference for {selector} in {found}")))
    }

    pub async fn click(&self, element: &Element) -> Result<()> {
        let path = format!("/element/{}/click", element.0);
        self.session_call("POST", &path, Some(json!({})))
            .await
            .map(drop)
    }

    /// Type `text` into the element (`"\u{E007}"` is Enter).
    pub async fn send_keys(&self, element: &Element, text: &str) -> Result<()> {
        let path = format!("/element/{}/value", element.0);
        self.session_call("POST", &path, Some(json!({ "text": text })))
            .await
            .map(drop)
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> Result<String> {
        let path = format!("/element/{}/text", element.0);
        let value = self.session_call("GET", &path, None).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Run `script` (a function body; `arguments` holds `args`) and return its value.
    pub async fn execute(&self, script: &str, args: Value) -> Result<Value> {
        let body = json!({"script": script, "args": args});
        self.session_call("POST", "/execute/sync", Some(body)).await
    }

    /// The visible text of the first element matching `selector` (empty when there is none).
    pub async fn text_of(&self, selector: &str) -> Result<String> {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';";
        let value = self.execute(script, json!([selector])).await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// Wait (at most `timeout`) until the text of `selector` contains `needle`; the error says
    /// what the text was instead.
    pub async fn wait_text(&self, selector: &str, needle: &str, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let last = self.text_of(selector).await?;
            if last.contains(needle) {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(err(format!(
                    "{selector} did not show {needle:?} within {timeout:?}; it shows {last:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait (at most `timeout`) until an element matching `selector` is displayed, and return it.
    pub async fn wait_visible(&self, selector: &str, timeout: Duration) -> Result<Element> {
        let script = "const e = document.querySelector(arguments[0]); \
                      return !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;";
        let shown = wait_for(timeout, || async {
            Ok(self.execute(script, json!([selector])).await? == true)
        })
        .await?;
        if !shown {
            return Err(err(format!("{selector} was not shown within {timeout:?}")));
        }
        self.find(selector).await
    }

    /// The page's console messages since the last call (for failure reports).
    pub async fn console_log(&self) -> Vec<String> {
        let Ok(entries) = self
            .session_call("POST", "/se/log", Some(json!({"type": "browser"})))
            .await
        else {
            return Vec::new();
        };
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                format!(
                    "{} {}",
                    e["level"].as_str().unwrap_or(""),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    /// Save a PNG screenshot of the window as `target/screenshots/NAME.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        use base64::Engine as _;
        let value = self.session_call("GET", "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap_or_default())
            .map_err(|e| err(format!("screenshot is not base64: {e}")))?;
        if !png.starts_with(b"\x89PNG") {
            return Err(err("screenshot is not a PNG"));
        }
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).map_err(|e| err(format!("{}: {e}", path.display())))?;
        Ok(path)
    }

    /// Save every download of this browser into `dir` without asking (the DevTools command
    /// `Browser.setDownloadBehavior`, through chromedriver's `goog/cdp/execute`; the older
    /// `Page.setDownloadBehavior` where the first is not available).
    pub async fn download_to(&self, dir: &Path) -> Result<()> {
        let path = dir.to_string_lossy();
        let params = json!({"behavior": "allow", "downloadPath": path});
        let body = json!({"cmd": "Browser.setDownloadBehavior", "params": params});
        if self
            .session_call("POST", "/goog/cdp/execute", Some(body))
            .await
            .is_ok()
        {
            return Ok(());
        }
        let body = json!({"cmd": "Page.setDownloadBehavior", "params": params});
        self.session_call("POST", "/goog/cdp/execute", Some(body))
            .await
            .map(drop)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver close Chromium; then end chromedriver itself.
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = blocking_delete(self.addr, &path);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Poll `check` every 100 ms until it is true or `timeout` passes; Ok(false) on timeout.
pub async fn wait_for<F, Fut>(timeout: Duration, mut check: F) -> Result<bool>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let start = Instant::now();
    loop {
        if check().await? {
            return Ok(true);
        }
        if start.elapsed() > timeout {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn request_bytes(method: &str, path: &str, addr: SocketAddr, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A request over a fresh connection (`Connection: close`); the status and the JSON body.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> std::io::Result<(u16, Value)> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(&request_bytes(method, path, addr, body.as_bytes()))
        .await?;
    // chromedriver may keep the connection open: read only what the head announces.
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
        if response_complete(&response) {
            break;
        }
    }
    parse_response(&response)
}

/// Whether `response` holds a whole response (its head and all the body the head announces).
fn response_complete(response: &[u8]) -> bool {
    let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let body = &response[split + 4..];
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == "content-length").then(|| value.trim().parse::<usize>().ok())?
    });
    match length {
        Some(length) => body.len() >= length,
        None => false,
    }
}

fn blocking_delete(addr: SocketAddr, path: &str) -> std::io::Result<()> {
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(&request_bytes("DELETE", path, addr, b""))?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(())
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

fn parse_response(response: &[u8]) -> std::io::Result<(u16, Value)> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of the response head"))?;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let mut body = response[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(&format!("body is not JSON: {e}")))?
    };
    Ok((status, value))
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"value\":1.5}";
        assert_eq!(
            parse_response(plain).ok(),
            Some((200, json!({"value": 1.5})))
        );
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n2\r\n2}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).ok(), Some((404, json!({"a": 2}))));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(response_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length:2\r\n\r\n{}"
        ));
        assert!(!response_complete(
            b"HTTP/1.1 200 OK\r\nContent-Length:3\r\n\r\n{}"
        ));
    }
}
