//! What the browser tests share: bounded page steps that panic with the page's console and a
//! screenshot, a scenario runner with room for the deeply nested futures, the native CSR engine
//! inviting a customer by code, and the native customer helper driven through its terminal.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tether_engine::service::ServiceUrl;
use tether_engine::{Engine, EngineConfig, EngineEvent};
use tether_signaling::Service;
use tether_tests::browser::Browser;
use tether_tests::{ADMIN_PASSWORD, TestService, http, temp_dir};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc::{self, Receiver};

/// Every wait on an engine, the page or the helper is bounded by this.
pub const WAIT: Duration = Duration::from_secs(30);

/// Run the future `scenario` makes on its own thread and runtime with a larger stack: polling
/// the engine's and the service's nested futures overflows a test thread's stack in debug
/// builds. (The future is made on that thread, so it need not be `Send`.)
pub fn run<S, F>(name: &str, scenario: S)
where
    S: FnOnce() -> F + Send + 'static,
    F: Future<Output = ()>,
{
    let thread = std::thread::Builder::new()
        .name(format!("browser-{name}"))
        .stack_size(16 * 1024 * 1024)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(8 * 1024 * 1024)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(scenario());
        })
        .expect("scenario thread");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// The value of a browser step, or a panic with the page's console (and a screenshot).
pub async fn check<T>(
    browser: &Browser,
    step: &str,
    result: Result<T, impl std::fmt::Display>,
) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            let _ = browser
                .screenshot(&format!("failed-{}", step.replace([' ', '#', '.'], "-")))
                .await;
            let console = browser.console_log().await;
            panic!("{step}: {e}\nbrowser console:\n{}", console.join("\n"));
        }
    }
}

/// Click the first element matching `selector` once it is shown.
pub async fn click(browser: &Browser, selector: &str) {
    let element = check(
        browser,
        selector,
        browser.wait_visible(selector, WAIT).await,
    )
    .await;
    check(browser, selector, browser.click(&element).await).await;
}

/// Type `text` into the element matching `selector` once it is shown.
pub async fn type_into(browser: &Browser, selector: &str, text: &str) {
    let element = check(
        browser,
        selector,
        browser.wait_visible(selector, WAIT).await,
    )
    .await;
    check(browser, selector, browser.send_keys(&element, text).await).await;
}

/// Wait until the element matching `selector` shows `needle`.
pub async fn shows(browser: &Browser, selector: &str, needle: &str) {
    let step = format!("{selector} shows {needle}");
    let result = browser.wait_text(selector, needle, WAIT).await;
    check(browser, &step, result).await;
}

/// The next engine event `pred` accepts; panics with what came instead after [`WAIT`]
/// (decoded pictures are counted rather than listed).
pub async fn until(
    events: &mut Receiver<EngineEvent>,
    what: &str,
    pred: impl Fn(&EngineEvent) -> bool,
) -> EngineEvent {
    let mut seen = Vec::new();
    let mut pictures = 0usize;
    let found = tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if pred(&e) {
                return Some(e);
            }
            match e {
                EngineEvent::Screen { .. } | EngineEvent::Camera { .. } => pictures += 1,
                other => seen.push(other),
            }
        }
        None
    })
    .await;
    match found {
        Ok(Some(e)) => e,
        _ => panic!(
            "the CSR engine saw no {what} within {WAIT:?}; it saw {pictures} pictures and {seen:#?}"
        ),
    }
}

/// A service serving this repository's `web/`, the admin's native engine as the controlling
/// CSR of a new session, and a customer invitation's short code.
pub struct Invited {
    pub svc: TestService,
    pub code: String,
    pub csr: Engine,
    pub events: Receiver<EngineEvent>,
}

pub async fn csr_invites_a_customer(tag: &str) -> Invited {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let helper = helper_binary();
    let svc = TestService::start(temp_dir(tag).join("t.db"), |c| {
        c.web_dir = web.clone();
        c.helper_binary = Some(helper);
    })
    .await;
    let url = ServiceUrl::parse(&svc.service.url).expect("service url");
    let seat = url
        .start_session(&svc.admin, None, None)
        .await
        .expect("start session");
    let invitation = url
        .invite(&svc.admin, &seat.session_id, "customer")
        .await
        .expect("invite");
    let code = invitation["code"]
        .as_str()
        .expect("a short code")
        .to_owned();
    let config = EngineConfig {
        bind: vec!["127.0.0.1:0".into()],
        ..Default::default()
    };
    let (csr, events) = Engine::connect(&url, &seat, config)
        .await
        .expect("CSR connects");
    Invited {
        svc,
        code,
        csr,
        events,
    }
}

/// The native helper as a customer runs it: its stdin and every line it printed.
pub struct Helper {
    pub child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    seen: Vec<String>,
}

impl Helper {
    /// Start the helper as `name` with the short `code`, and any `extra` flags.
    pub fn start(binary: &Path, service: &str, code: &str, name: &str, extra: &[&str]) -> Helper {
        let mut child = Command::new(binary)
            .args(["--service", service, "--name", name])
            .args(extra)
            .args(["--bind", "127.0.0.1:0", code])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stdin = child.stdin.take().expect("helper stdin");
        let mut out = BufReader::new(child.stdout.take().expect("helper stdout")).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Helper {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line that contains `words`, within [`WAIT`].
    pub async fn expect(&mut self, words: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.lines.recv()).await {
                Ok(Some(line)) => {
                    self.seen.push(line.clone());
                    if line.contains(words) {
                        return line;
                    }
                }
                _ => panic!(
                    "the helper did not print {words:?} within {WAIT:?}; it printed {:#?}",
                    self.seen
                ),
            }
        }
    }

    pub async fn type_line(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("type into the helper");
    }
}

/// Panic with how to get one when there is no X display: the helper opens it.
pub fn require_display() {
    if std::env::var_os("DISPLAY").is_none() {
        panic!(
            "no DISPLAY: the helper opens the X display; run this test with ./scripts/test.sh, \
             which starts Xvfb, or start Xvfb and set DISPLAY"
        );
    }
}

/// The helper binary of the engine crate. The workspace's test run builds it (the engine's own
/// tests need it); when it is absent, as after `cargo test -p tether-tests` on a clean tree, it
/// is built here once.
pub fn helper_binary() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let binary = target.join("debug").join("tether-helper");
    if !binary.is_file() {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = std::process::Command::new(&cargo)
            .args([
                "build",
                "-p",
                "tether-engine",
                "--bin",
                "tether-helper",
                "--quiet",
            ])
            .current_dir(&workspace)
            .status()
            .expect("run cargo build for the helper");
        assert!(status.success(), "building tether-helper failed: {status}");
    }
    assert!(binary.is_file(), "no helper at {}", binary.display());
    binary
}

/// A service on `db` serving this repository's `web/`, its admin's password changed to
/// `ADMIN_PASSWORD`, with the organization's `settings` saved: the service and the admin's
/// token.
pub async fn web_service(db: PathBuf, settings: serde_json::Value) -> (Service, String) {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let TestService { service, admin, .. } = TestService::start(db, |c| c.web_dir = web).await;
    let path = "/api/v1/admin/settings";
    let (status, body) = http(service.addr, "PUT", path, Some(&admin), Some(settings)).await;
    assert_eq!(status, 200, "settings: {body}");
    (service, admin)
}

/// A new browser window of `size` with the console at `url` signed in as the admin, a session
/// started with the defaults and a customer invited by code: the browser and the code.
pub async fn console_invites_by_code(url: &str, (width, height): (u32, u32)) -> (Browser, String) {
    let browser = Browser::start().await.expect("console browser starts");
    check(&browser, "resize", browser.resize(width, height).await).await;
    let console = format!("{url}/");
    check(&browser, "open console", browser.goto(&console).await).await;
    type_into(&browser, "#signin-user", "admin").await;
    type_into(&browser, "#signin-pass", ADMIN_PASSWORD).await;
    click(&browser, "#signin-form button[type=submit]").await;
    click(&browser, "#quick-start").await;
    shows(&browser, "#ws-state", "Connected").await;
    click(&browser, "#invite-btn").await;
    click(&browser, "#invite-customer").await;
    let code = check(
        &browser,
        "invitation code",
        browser.wait_visible(".invitation output.code", WAIT).await,
    )
    .await;
    let code = check(&browser, "code text", browser.text(&code).await).await;
    click(&browser, "#invite-close").await;
    (browser, code)
}
