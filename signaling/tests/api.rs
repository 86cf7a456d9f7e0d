//! Router-level tests of the signaling REST API: every route of `app(state)` with its
//! authentication, permission and validation failures, against a real SQLite file.
//!
//! Each test builds its own service (fresh temporary folder, `Db::open`, `bootstrap_admin`,
//! `AppState::new`, `app`). `request` is the only place JSON requests are built (`upload_request`
//! builds recording uploads) and `TestApp::send_raw` the only caller of the router; tests mostly
//! go through `TestApp::call` (method, path, bearer, JSON body → status, JSON) and `expect_error`
//! (status and `code` of an error body), so they read as tables. A bearer of `NOBODY` sends no
//! credentials.

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::header::{
    AUTHORIZATION, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HeaderName,
    RETRY_AFTER, SET_COOKIE,
};
use axum::http::{HeaderMap, Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use tether_protocol::{Command, ParticipantId};
use tether_signaling::config::Config;
use tether_signaling::db::Db;
use tether_signaling::secrets::turn_password;
use tether_signaling::state::{AppState, now_ms};
use tether_signaling::{app, bootstrap_admin};
use tokio::sync::watch;
use tower::ServiceExt;

const OK: StatusCode = StatusCode::OK;
const CREATED: StatusCode = StatusCode::CREATED;
const NO_CONTENT: StatusCode = StatusCode::NO_CONTENT;
const BAD_REQUEST: StatusCode = StatusCode::BAD_REQUEST;
const UNAUTHORIZED: StatusCode = StatusCode::UNAUTHORIZED;
const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const CONFLICT: StatusCode = StatusCode::CONFLICT;
const GONE: StatusCode = StatusCode::GONE;
const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
const TOO_LARGE: StatusCode = StatusCode::PAYLOAD_TOO_LARGE;
const TOO_MANY: StatusCode = StatusCode::TOO_MANY_REQUESTS;

const LOGIN: &str = "/api/v1/login";
const LOGOUT: &str = "/api/v1/logout";
const ME: &str = "/api/v1/me";
const MY_PASSWORD: &str = "/api/v1/me/password";
const SESSION_TYPES: &str = "/api/v1/session-types";
const CSRS: &str = "/api/v1/admin/csrs";
const SETTINGS: &str = "/api/v1/admin/settings";
const SESSIONS: &str = "/api/v1/sessions";
const JOIN: &str = "/api/v1/join";
const ICE: &str = "/api/v1/ice";

/// The bearer token of a request without credentials.
const NOBODY: &str = "";

/// The password of every account the tests create, and of the first admin after its change.
const PASSWORD: &str = "correct horse battery";

// ---- the harness ----

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// One service: its state, its router, and its SQLite file in a temporary folder of its own.
struct TestApp {
    state: AppState,
    router: Router,
    dir: PathBuf,
    db_path: PathBuf,
    /// The admin's sign-in token (empty from `TestApp::bare`, whose admin has not signed in).
    admin: String,
    _shutdown: watch::Sender<bool>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A response: status, headers, and the body as JSON (a JSON string holding the text when the
/// body is not JSON, `null` when it is empty).
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: HeaderName) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().expect("a text header"))
    }

    fn pair(self) -> (StatusCode, Value) {
        (self.status, self.body)
    }
}

/// A request with an optional bearer token (`NOBODY` for none) and an optional JSON body.
fn request(method: &str, path: &str, bearer: &str, body: Option<Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if !bearer.is_empty() {
        builder = builder.header(AUTHORIZATION, format!("Bearer {bearer}"));
    }
    let body = match body {
        Some(json) => {
            builder = builder.header(CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    builder.body(body).expect("a valid request")
}

/// A request with one more header.
fn with_header(mut req: Request<Body>, name: HeaderName, value: &str) -> Request<Body> {
    let value = value.parse().expect("a header value");
    req.headers_mut().insert(name, value);
    req
}

/// A request from a given client address (what `into_make_service_with_connect_info` adds;
/// without it every request counts as one unspecified address).
fn from_address(mut req: Request<Body>, addr: [u8; 4]) -> Request<Body> {
    let addr = SocketAddr::from((addr, 40_000));
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

/// Assert an error reply: its status, its `code`, and a message; returns the message.
#[track_caller]
fn expect_error(reply: &(StatusCode, Value), status: StatusCode, code: &str) -> String {
    let (got, body) = reply;
    let got = (*got, body["code"].as_str());
    assert_eq!(got, (status, Some(code)), "unexpected reply: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error names the problem: {body}");
    let fields = body.as_object().map(|o| o.len());
    assert_eq!(fields, Some(2), "errors are {{code, message}}: {body}");
    message.to_owned()
}

/// Assert that `actual` has every field of `expected`, with the same value.
#[track_caller]
fn assert_has(actual: &Value, expected: Value) {
    for (key, value) in expected.as_object().expect("a JSON object") {
        assert_eq!(&actual[key], value, "field {key} of {actual}");
    }
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

fn creds(username: &str, password: &str) -> Option<Value> {
    Some(json!({ "username": username, "password": password }))
}

fn session_path(session: &str, rest: &str) -> String {
    format!("{SESSIONS}/{session}{rest}")
}

/// `field` of each created invitation as `list` shows it, matched by id (the list is ordered by
/// creation time, and invitations created within one millisecond come in any order).
fn listed(list: &[Value], invitations: &[&Value], field: &str) -> Vec<Value> {
    assert_eq!(list.len(), invitations.len(), "{list:?}");
    let find = |id: &Value| list.iter().find(|i| i["id"] == *id).expect("listed");
    invitations
        .iter()
        .map(|i| find(&i["id"])[field].clone())
        .collect()
}

/// The sorted ids of a `GET /api/v1/sessions` answer.
fn ids(list: &Value) -> Vec<String> {
    let sessions = list["sessions"].as_array().expect("a session list");
    let mut ids: Vec<String> = sessions.iter().map(|s| text(&s["id"])).collect();
    ids.sort();
    ids
}

fn sorted<const N: usize>(ids: [&String; N]) -> Vec<String> {
    let mut v: Vec<String> = ids.into_iter().cloned().collect();
    v.sort();
    v
}

/// base64(HMAC-SHA1(secret, message)), computed here independently of the service.
fn hmac_sha1_base64(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(message.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The organization settings of a fresh service.
fn default_settings() -> Value {
    json!({
        "file_transfer": "basic",
        "recording_allowed": false,
        "session_types": [{ "name": "General", "requires_tracking_code": false }],
        "stun_urls": [],
        "turn_urls": [],
        "turn_secret": "",
        "turn_ttl_secs": 3600,
    })
}

/// `base` with the top-level fields of `patch` set; a `null` in `patch` removes the field.
fn merged(base: &Value, patch: Value) -> Value {
    let mut out = base.clone();
    let fields = out.as_object_mut().expect("a JSON object");
    for (key, value) in patch.as_object().expect("a JSON object") {
        if value.is_null() {
            fields.remove(key);
        } else {
            fields.insert(key.clone(), value.clone());
        }
    }
    out
}

/// A short code for the same session as `code` but a different secret.
fn wrong_code(code: &str) -> String {
    let (number, secret) = code.split_once('-').expect("a code like 1234-56789");
    let secret: u32 = secret.parse().expect("five digits");
    format!("{number}-{:05}", (secret + 1) % 100_000)
}

impl TestApp {
    /// A fresh service whose first admin still has its one-time password (returned too).
    async fn bare() -> (TestApp, String) {
        TestApp::bare_with(|_| {}).await
    }

    /// `bare`, with the test configuration adjusted by `tune`.
    async fn bare_with(tune: impl FnOnce(&mut Config)) -> (TestApp, String) {
        let dir = std::env::temp_dir().join(format!(
            "tether-api-test-{}-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed),
            now_ms()
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary folder");
        let db_path = dir.join("tether.db");
        let db = Db::open(&db_path).await.expect("open the database");
        let one_time = bootstrap_admin(&db)
            .await
            .expect("bootstrap the first admin");
        let one_time = one_time.expect("an empty database gets a first admin");
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut config = Config::for_tests(db_path.clone());
        tune(&mut config);
        let state = AppState::new(db, config, "http://test".into(), shutdown_rx);
        let router = app(state.clone());
        let admin = String::new();
        let app = TestApp {
            state,
            router,
            dir,
            db_path,
            admin,
            _shutdown: shutdown,
        };
        (app, one_time)
    }

    /// A fresh service whose admin replaced its one-time password with `PASSWORD` and is signed in.
    async fn new() -> TestApp {
        TestApp::new_with(|_| {}).await
    }

    /// `new`, with the test configuration adjusted by `tune`.
    async fn new_with(tune: impl FnOnce(&mut Config)) -> TestApp {
        let (mut app, one_time) = TestApp::bare_with(tune).await;
        let token = app.login("admin", &one_time).await;
        let change = json!({ "current": one_time, "new": PASSWORD });
        let (status, body) = app.call("POST", MY_PASSWORD, &token, Some(change)).await;
        assert_eq!(status, OK, "{body}");
        app.admin = token;
        app
    }

    /// The only caller of the router: status, headers and the body's bytes.
    async fn send_raw(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        let response = self
            .router
            .clone()
            .oneshot(req)
            .await
            .expect("the router never fails");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("read the body").to_bytes();
        (parts.status, parts.headers, bytes)
    }

    /// `send_raw`, with the body read as JSON.
    async fn send(&self, req: Request<Body>) -> Reply {
        let (status, headers, bytes) = self.send_raw(req).await;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Method, path, bearer token (`NOBODY` for none), JSON body → status and JSON.
    async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.send(request(method, path, bearer, body)).await.pair()
    }

    /// Sign in; the sign-in token.
    async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call("POST", LOGIN, NOBODY, creds(username, password))
            .await;
        assert_eq!(status, OK, "{body}");
        text(&body["token"])
    }

    /// A CSR account created by the admin (display name: `username` capitalized), signed in:
    /// its id and sign-in token.
    async fn csr(&self, username: &str, is_admin: bool) -> (i64, String) {
        let mut name = username.to_owned();
        name[..1].make_ascii_uppercase();
        let body = json!({
            "username": username, "display_name": name, "password": PASSWORD, "is_admin": is_admin,
        });
        let (status, body) = self.call("POST", CSRS, &self.admin, Some(body)).await;
        assert_eq!(status, CREATED, "{body}");
        let id = body["id"].as_i64().expect("an account id");
        (id, self.login(username, PASSWORD).await)
    }

    /// PATCH an account as the CSR `token`.
    async fn patch_csr(&self, token: &str, id: i64, body: Value) -> (StatusCode, Value) {
        self.call("PATCH", &format!("{CSRS}/{id}"), token, Some(body))
            .await
    }

    /// Replace the organization settings (as the admin).
    async fn set_settings(&self, settings: Value) {
        let (status, body) = self
            .call("PUT", SETTINGS, &self.admin, Some(settings))
            .await;
        assert_eq!(status, OK, "{body}");
    }

    /// Start a session as the CSR `token`: the whole answer.
    async fn start_with(&self, token: &str, body: Value) -> Value {
        let (status, body) = self.call("POST", SESSIONS, token, Some(body)).await;
        assert_eq!(status, CREATED, "{body}");
        body
    }

    /// One-click start: the session id and the starter's participant token.
    async fn start(&self, token: &str) -> (String, String) {
        let body = self.start_with(token, json!({})).await;
        (
            text(&body["session"]["id"]),
            text(&body["participant"]["token"]),
        )
    }

    /// Create an invitation as the CSR `token`: the whole answer.
    async fn invite(&self, token: &str, session: &str, body: Value) -> Value {
        let path = session_path(session, "/invitations");
        let (status, body) = self.call("POST", &path, token, Some(body)).await;
        assert_eq!(status, CREATED, "{body}");
        body
    }

    async fn join(&self, bearer: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", JOIN, bearer, Some(body)).await
    }

    /// Join from a given client address.
    async fn join_from(&self, addr: [u8; 4], body: Value) -> Reply {
        let req = request("POST", JOIN, NOBODY, Some(body));
        self.send(from_address(req, addr)).await
    }

    /// A customer joins with an invitation's token: its participant token.
    async fn join_customer(&self, invitation: &Value, name: &str) -> String {
        let body = json!({ "token": invitation["token"], "name": name });
        let (status, body) = self.join(NOBODY, body).await;
        assert_eq!(status, CREATED, "{body}");
        text(&body["participant"]["token"])
    }

    async fn record(&self, token: &str, session: &str) -> Value {
        let (status, body) = self
            .call("GET", &session_path(session, ""), token, None)
            .await;
        assert_eq!(status, OK, "{body}");
        body
    }

    async fn invitations(&self, token: &str, session: &str) -> Vec<Value> {
        let path = session_path(session, "/invitations");
        let (status, body) = self.call("GET", &path, token, None).await;
        assert_eq!(status, OK, "{body}");
        body["invitations"].as_array().expect("a list").clone()
    }

    /// Participant `id` of a live session issues `command`, as over its WebSocket.
    async fn command(&self, session: &str, id: u32, command: Command) {
        let hub = self.state.hubs.get(session).expect("a live session");
        let events = hub.command(&self.state, ParticipantId(id), command).await;
        events.expect("the command is allowed");
    }

    /// The controller (participant 1) ends the session.
    async fn end(&self, session: &str) {
        let end = Command::End {
            notes: "done".into(),
        };
        self.command(session, 1, end).await;
    }

    /// A second pool on the service's SQLite file, to inspect it and to set up test cases.
    async fn sql(&self) -> SqlitePool {
        let options = SqliteConnectOptions::new().filename(&self.db_path);
        SqlitePool::connect_with(options)
            .await
            .expect("open the database file")
    }

    /// A live session started by "bea" under settings that allow recording, with a customer
    /// (participant 2) and a second CSR, "dee" (participant 3), who joined it.
    async fn recorded_session(&self) -> Recorded {
        self.set_settings(merged(
            &default_settings(),
            json!({ "recording_allowed": true }),
        ))
        .await;
        let (_, bea) = self.csr("bea", false).await;
        let (_, dee) = self.csr("dee", false).await;
        let (session, controller) = self.start(&bea).await;
        let invitation = self
            .invite(&bea, &session, json!({ "role": "customer" }))
            .await;
        let customer = self.join_customer(&invitation, "Carol").await;
        let invitation = self.invite(&bea, &session, json!({ "role": "csr" })).await;
        let body = json!({ "token": invitation["token"], "name": "Dee" });
        let (status, joined) = self.join(&dee, body).await;
        assert_eq!(status, CREATED, "{joined}");
        assert_eq!(joined["participant"]["id"], 3);
        Recorded {
            session,
            bea,
            controller,
            customer,
            other_csr: text(&joined["participant"]["token"]),
        }
    }

    /// Upload `bytes` as a recording of `session` (with `Content-Length`, as the engine sends it).
    async fn upload(
        &self,
        session: &str,
        bearer: &str,
        query: &str,
        bytes: &[u8],
    ) -> (StatusCode, Value) {
        let req = upload_request(session, query, bearer, MATROSKA, vec![bytes.to_vec()]);
        let req = with_header(req, CONTENT_LENGTH, &bytes.len().to_string());
        self.send(req).await.pair()
    }

    /// Every file under the service's recordings folder (temporary files included).
    fn stored_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.dir.join("recordings"), &mut files);
        files.sort();
        files
    }

    /// How many recordings the database holds.
    async fn recording_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM recordings")
            .fetch_one(&self.sql().await)
            .await
            .expect("count the recordings")
    }

    /// The `recording_attached` events of a session's record.
    async fn attached(&self, token: &str, session: &str) -> Vec<Value> {
        let record = self.record(token, session).await;
        let events = record["events"].as_array().expect("events");
        events
            .iter()
            .map(|e| e["event"].clone())
            .filter(|e| e["type"] == "recording_attached")
            .collect()
    }
}

/// The media type of recordings.
const MATROSKA: &str = "video/x-matroska";

/// What `TestApp::recorded_session` set up: the session, the sign-in of its starter "bea", and
/// the participant tokens of the controller (bea), the customer and the other CSR (dee).
#[derive(Debug)]
struct Recorded {
    session: String,
    bea: String,
    controller: String,
    customer: String,
    other_csr: String,
}

/// A recording upload whose body is `chunks`, sent one by one without a `Content-Length`.
fn upload_request(
    session: &str,
    query: &str,
    bearer: &str,
    content_type: &str,
    chunks: Vec<Vec<u8>>,
) -> Request<Body> {
    let path = session_path(session, &format!("/recordings{query}"));
    let mut builder = Request::builder().method("POST").uri(path);
    if !bearer.is_empty() {
        builder = builder.header(AUTHORIZATION, format!("Bearer {bearer}"));
    }
    if !content_type.is_empty() {
        builder = builder.header(CONTENT_TYPE, content_type);
    }
    let stream = futures_util::stream::iter(
        chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c))),
    );
    builder
        .body(Body::from_stream(stream))
        .expect("a valid request")
}

/// `len` bytes that start like a Matroska file (the EBML magic) and then vary.
fn mkv(len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let magic = [0x1A, 0x45, 0xDF, 0xA3];
    let n = len.min(4);
    bytes[..n].copy_from_slice(&magic[..n]);
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---- the service around the API ----

#[tokio::test]
async fn health_web_pages_and_unknown_api_paths() {
    let (app, _) = TestApp::bare().await;
    assert_eq!(
        app.call("GET", "/healthz", NOBODY, None).await,
        (OK, json!("ok"))
    );

    let index = concat!(env!("CARGO_MANIFEST_DIR"), "/../web/index.html");
    let index = std::fs::read_to_string(index).expect("the repository's web/index.html");
    for path in ["/", "/index.html"] {
        let page = app.send(request("GET", path, NOBODY, None)).await;
        let content_type = page.header(CONTENT_TYPE);
        assert_eq!(page.status, OK, "{path}");
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert_eq!(page.body, Value::String(index.clone()), "{path}");
    }

    #[rustfmt::skip]
    let cases = [
        // Under /api/v1 the API answers, in JSON...
        ("GET", "/api/v1/nope", true),
        ("POST", "/api/v1/nope", true),
        ("GET", "/api/v1/sessions/x/nope", true),
        // ...elsewhere the web folder does, with an empty 404.
        ("GET", "/no-such-page.html", false),
        ("GET", "/api/v2/sessions", false),
    ];
    for (method, path, api) in cases {
        let reply = app.call(method, path, NOBODY, None).await;
        if api {
            expect_error(&reply, NOT_FOUND, "not_found");
        } else {
            assert_eq!(reply, (NOT_FOUND, Value::Null), "{path}");
        }
    }
}

// ---- sign-in ----

#[tokio::test]
async fn first_admin_must_replace_its_one_time_password() {
    let (app, one_time) = TestApp::bare().await;
    assert_eq!(one_time.chars().count(), 20);
    let again = bootstrap_admin(&app.state.db).await.expect("bootstrap");
    assert_eq!(again, None, "only an empty database gets a first admin");

    let (status, body) = app
        .call("POST", LOGIN, NOBODY, creds("admin", &one_time))
        .await;
    assert_eq!(status, OK, "{body}");
    assert_has(
        &body["csr"],
        json!({ "is_admin": true, "must_change_password": true }),
    );
    let token = text(&body["token"]);

    // It may read its account and sign out...
    let (status, me) = app.call("GET", ME, &token, None).await;
    assert_eq!(status, OK);
    assert_has(
        &me,
        json!({ "username": "admin", "must_change_password": true }),
    );
    let second = app.login("admin", &one_time).await;
    assert_eq!(app.call("POST", LOGOUT, &second, None).await.0, NO_CONTENT);
    // ...and nothing else until it changes its password.
    #[rustfmt::skip]
    let cases = [
        ("GET", SESSION_TYPES, None),
        ("GET", CSRS, None),
        ("GET", SETTINGS, None),
        ("GET", SESSIONS, None),
        ("POST", SESSIONS, Some(json!({}))),
    ];
    for (method, path, body) in cases {
        let reply = app.call(method, path, &token, body).await;
        expect_error(&reply, FORBIDDEN, "password_change_required");
    }

    let change = |current: &str, new: &str| Some(json!({ "current": current, "new": new }));
    let reply = app
        .call("POST", MY_PASSWORD, &token, change("wrong", PASSWORD))
        .await;
    expect_error(&reply, FORBIDDEN, "wrong_password");
    let too_short = change(&one_time, "too short");
    let reply = app.call("POST", MY_PASSWORD, &token, too_short).await;
    assert!(expect_error(&reply, INVALID, "invalid_field").contains("password"));

    let (status, me) = app
        .call("POST", MY_PASSWORD, &token, change(&one_time, PASSWORD))
        .await;
    assert_eq!(status, OK, "{me}");
    assert_eq!(me["must_change_password"], false);
    assert!(me.get("password_hash").is_none(), "{me}");
    // The same sign-in now works everywhere; the one-time password is gone.
    assert_eq!(app.call("GET", SESSION_TYPES, &token, None).await.0, OK);
    let reply = app
        .call("POST", LOGIN, NOBODY, creds("admin", &one_time))
        .await;
    expect_error(&reply, UNAUTHORIZED, "unauthorized");
    app.login("admin", PASSWORD).await;
}

#[tokio::test]
async fn login_right_wrong_unknown_disabled_and_malformed() {
    let app = TestApp::new().await;
    let (bea_id, _) = app.csr("bea", false).await;

    let before = now_ms();
    let reply = app
        .send(request("POST", LOGIN, NOBODY, creds("bea", PASSWORD)))
        .await;
    assert_eq!(reply.status, OK, "{}", reply.body);
    let token = text(&reply.body["token"]);
    let raw_token = URL_SAFE_NO_PAD.decode(&token).expect("URL-safe base64");
    assert_eq!(raw_token.len(), 32, "a 256-bit token");
    let csr = &reply.body["csr"];
    assert_has(
        csr,
        json!({ "id": bea_id, "username": "bea", "is_admin": false }),
    );
    assert!(csr.get("password_hash").is_none(), "{csr}");
    let twelve_hours = 12 * 3_600_000;
    let expires_at = reply.body["expires_at"].as_u64().expect("expires_at");
    assert!((before + twelve_hours..=now_ms() + twelve_hours).contains(&expires_at));
    let cookie = reply.header(SET_COOKIE);
    assert!(
        cookie.starts_with(&format!("tether_auth={token};")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(
            cookie.split("; ").any(|a| a == attribute),
            "{attribute}: {cookie}"
        );
    }

    // A wrong password and an unknown user get the same answer.
    let mut messages = Vec::new();
    for (username, password) in [("bea", "not it"), ("nobody", PASSWORD), ("", "")] {
        let reply = app
            .call("POST", LOGIN, NOBODY, creds(username, password))
            .await;
        messages.push(expect_error(&reply, UNAUTHORIZED, "unauthorized"));
    }
    assert!(messages.iter().all(|m| *m == messages[0]), "{messages:?}");

    // A disabled account: refused with the right password, "wrong" with a wrong one.
    let disable = json!({ "disabled": true });
    assert_eq!(app.patch_csr(&app.admin, bea_id, disable).await.0, OK);
    let reply = app
        .call("POST", LOGIN, NOBODY, creds("bea", PASSWORD))
        .await;
    expect_error(&reply, FORBIDDEN, "account_disabled");
    let reply = app
        .call("POST", LOGIN, NOBODY, creds("bea", "not it"))
        .await;
    expect_error(&reply, UNAUTHORIZED, "unauthorized");

    // Bodies that can't be read: 400, and the message names the problem.
    let json_type = "application/json";
    let good = r#"{"username":"admin","password":"x"}"#;
    #[rustfmt::skip]
    let cases = [
        (json_type, r#"{"username":"admin"}"#, "missing field `password`"),
        (json_type, r#"{"username":"admin","password":"x","otp":"1"}"#, "unknown field `otp`"),
        (json_type, r#"{"username":"admin","password":7}"#, "invalid type: integer `7`"),
        (json_type, r#"{"username":"admin","#, "EOF"),
        (json_type, "", "EOF"),
        ("text/plain", good, "Content-Type: application/json"),
        ("", good, "Content-Type: application/json"),
    ];
    for (content_type, body, named) in cases {
        let mut req = request("POST", LOGIN, NOBODY, None);
        if !content_type.is_empty() {
            req = with_header(req, CONTENT_TYPE, content_type);
        }
        *req.body_mut() = Body::from(body);
        let reply = app.send(req).await.pair();
        let message = expect_error(&reply, BAD_REQUEST, "bad_request");
        assert!(
            message.contains(named),
            "{body:?}: {message:?} lacks {named:?}"
        );
    }
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited_per_address() {
    let (app, one_time) = TestApp::bare().await; // a service of its own: a fresh limiter
    let login = |password: &str, addr: [u8; 4]| {
        let req = request("POST", LOGIN, NOBODY, creds("admin", password));
        app.send(from_address(req, addr))
    };
    let mallory = [10, 0, 0, 66];

    // Config::for_tests allows 20 failed sign-ins per address per 10 minutes.
    for attempt in 1..=20 {
        let reply = login("guess", mallory).await;
        assert_eq!(
            reply.status, UNAUTHORIZED,
            "attempt {attempt}: {}",
            reply.body
        );
    }
    let reply = login("guess", mallory).await;
    let retry_after: u64 = reply
        .header(RETRY_AFTER)
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (500..=600).contains(&retry_after),
        "about the window: {retry_after}"
    );
    let message = expect_error(&reply.pair(), TOO_MANY, "too_many_attempts");
    assert!(message.contains("your address"), "{message}");
    // Now even the right password is refused from that address, but not from another one.
    let reply = login(&one_time, mallory).await.pair();
    expect_error(&reply, TOO_MANY, "too_many_attempts");
    assert_eq!(login(&one_time, [10, 0, 0, 7]).await.status, OK);
}

#[tokio::test]
async fn sign_in_by_bearer_or_cookie_until_logout() {
    let app = TestApp::new().await;
    let (_, token) = app.csr("bea", false).await;
    let other_device = app.login("bea", PASSWORD).await;
    let me_with = |name, value: &str| with_header(request("GET", ME, NOBODY, None), name, value);

    assert_eq!(app.call("GET", ME, &token, None).await.1["username"], "bea");
    let cookies = [
        format!("tether_auth={token}"),
        format!("a=b; tether_auth={token}; c=d"),
    ];
    for cookie in cookies {
        let reply = app.send(me_with(COOKIE, &cookie)).await;
        assert_eq!(reply.status, OK, "{cookie}");
        assert_eq!(reply.body["username"], "bea", "{cookie}");
    }

    // Missing, unknown or misplaced credentials.
    #[rustfmt::skip]
    let refused = [
        request("GET", ME, NOBODY, None),
        request("GET", ME, "garbage", None),
        me_with(AUTHORIZATION, &format!("Basic {token}")),
        me_with(AUTHORIZATION, &token),
        me_with(COOKIE, "tether_auth=garbage"),
        me_with(COOKIE, &format!("other_auth={token}")),
    ];
    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    let reply = app
        .send(me_with(AUTHORIZATION, &format!("bearer {token}")))
        .await
        .pair();
    assert_eq!(reply.0, OK, "{:?}", reply.1);
    for req in refused {
        let headers = format!("{:?}", req.headers());
        let reply = app.send(req).await.pair();
        let message = expect_error(&reply, UNAUTHORIZED, "unauthorized");
        assert!(message.contains("sign in"), "{headers}: {message}");
    }

    let reply = app.send(request("POST", LOGOUT, &token, None)).await;
    assert_eq!((reply.status, &reply.body), (NO_CONTENT, &Value::Null));
    let cleared = reply.header(SET_COOKIE);
    assert!(cleared.starts_with("tether_auth=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // That sign-in is gone, by bearer and by cookie; the other device's is not.
    let by_cookie = app
        .send(me_with(COOKIE, &format!("tether_auth={token}")))
        .await;
    assert_eq!(by_cookie.status, UNAUTHORIZED);
    for (method, path) in [("GET", ME), ("POST", LOGOUT)] {
        for bearer in [token.as_str(), NOBODY] {
            let reply = app.call(method, path, bearer, None).await;
            expect_error(&reply, UNAUTHORIZED, "unauthorized");
        }
    }
    assert_eq!(app.call("GET", ME, &other_device, None).await.0, OK);
}

// ---- the caller's own account ----

#[tokio::test]
async fn me_and_password_change() {
    let app = TestApp::new().await;
    let (bea_id, token) = app.csr("bea", false).await;
    let other_device = app.login("bea", PASSWORD).await;

    let (status, me) = app.call("GET", ME, &token, None).await;
    assert_eq!(status, OK);
    assert!(me["created_at"].is_u64(), "{me}");
    let expected = json!({
        "id": bea_id, "username": "bea", "display_name": "Bea", "is_admin": false,
        "disabled": false, "must_change_password": false, "created_at": me["created_at"],
    });
    assert_eq!(me, expected, "exactly these fields: no password hash");

    #[rustfmt::skip]
    let cases = [
        (json!({ "current": "not it", "new": "a new password" }), FORBIDDEN, "wrong_password"),
        (json!({ "current": PASSWORD, "new": "nine char" }), INVALID, "invalid_field"),
        (json!({ "current": PASSWORD, "new": "x".repeat(1025) }), INVALID, "invalid_field"),
        (json!({ "current": PASSWORD }), BAD_REQUEST, "bad_request"),
        (json!({ "current": PASSWORD, "new": "a new password", "again": "a new password" }), BAD_REQUEST, "bad_request"),
    ];
    for (body, status, code) in cases {
        let reply = app.call("POST", MY_PASSWORD, &token, Some(body)).await;
        expect_error(&reply, status, code);
    }
    // None of that changed anything.
    app.login("bea", PASSWORD).await;
    assert_eq!(app.call("GET", ME, &other_device, None).await.0, OK);

    let change = json!({ "current": PASSWORD, "new": "ten chars!" });
    let (status, me) = app.call("POST", MY_PASSWORD, &token, Some(change)).await;
    assert_eq!((status, &me["id"]), (OK, &json!(bea_id)), "{me}");
    // This device stays signed in; every other sign-in ends; only the new password works.
    assert_eq!(app.call("GET", ME, &token, None).await.0, OK);
    let reply = app.call("GET", ME, &other_device, None).await;
    expect_error(&reply, UNAUTHORIZED, "unauthorized");
    let reply = app
        .call("POST", LOGIN, NOBODY, creds("bea", PASSWORD))
        .await;
    expect_error(&reply, UNAUTHORIZED, "unauthorized");
    app.login("bea", "ten chars!").await;
    let anyone = Some(json!({ "current": "a", "new": "b" }));
    let reply = app.call("POST", MY_PASSWORD, NOBODY, anyone).await;
    expect_error(&reply, UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn session_types_for_any_csr_without_ice_secrets() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let expected = json!({
        "session_types": [{ "name": "General", "requires_tracking_code": false }],
        "file_transfer": "basic",
        "recording_allowed": false,
        "mail_configured": false,
    });
    assert_eq!(
        app.call("GET", SESSION_TYPES, &bea, None).await,
        (OK, expected)
    );

    let changed = json!({
        "session_types": [{ "name": "Printer", "requires_tracking_code": true }, { "name": "General" }],
        "file_transfer": "advanced",
        "recording_allowed": true,
        "turn_urls": ["turn:turn.example.org"],
        "turn_secret": "s3cret",
    });
    app.set_settings(merged(&default_settings(), changed)).await;
    let expected = json!({
        "session_types": [
            { "name": "Printer", "requires_tracking_code": true },
            { "name": "General", "requires_tracking_code": false },
        ],
        "file_transfer": "advanced",
        "recording_allowed": true,
        "mail_configured": false,
    });
    assert_eq!(
        app.call("GET", SESSION_TYPES, &bea, None).await,
        (OK, expected)
    );
    let reply = app.call("GET", SESSION_TYPES, NOBODY, None).await;
    expect_error(&reply, UNAUTHORIZED, "unauthorized");
}

// ---- admin: accounts and settings ----

#[tokio::test]
async fn admin_creates_and_lists_csr_accounts() {
    let app = TestApp::new().await;
    let new = |username: &str| json!({ "username": username, "display_name": "Bea", "password": PASSWORD });

    let (status, bea) = app.call("POST", CSRS, &app.admin, Some(new("bea"))).await;
    assert_eq!(status, CREATED, "{bea}");
    let expected = json!({
        "username": "bea", "display_name": "Bea", "is_admin": false, "disabled": false,
        "must_change_password": false,
    });
    assert_has(&bea, expected);
    assert!(bea.get("password_hash").is_none(), "{bea}");

    let with = |patch: Value| merged(&new("cid"), patch);
    #[rustfmt::skip]
    let cases = [
        (new("bea"), CONFLICT, "username_taken", "bea"),
        (with(json!({ "username": "" })), INVALID, "invalid_field", "username"),
        (with(json!({ "username": "has space" })), INVALID, "invalid_field", "username"),
        (with(json!({ "username": "josé" })), INVALID, "invalid_field", "username"),
        (with(json!({ "username": "a/b" })), INVALID, "invalid_field", "username"),
        (with(json!({ "username": "x".repeat(65) })), INVALID, "invalid_field", "username"),
        (with(json!({ "display_name": "   " })), INVALID, "invalid_field", "display_name"),
        (with(json!({ "display_name": "x".repeat(65) })), INVALID, "invalid_field", "display_name"),
        (with(json!({ "display_name": "bell\u{7}" })), INVALID, "invalid_field", "display_name"),
        (with(json!({ "password": "nine char" })), INVALID, "invalid_field", "password"),
        (with(json!({ "role": "admin" })), BAD_REQUEST, "bad_request", "role"),
        (with(json!({ "password": null })), BAD_REQUEST, "bad_request", "password"),
        (with(json!({ "is_admin": "yes" })), BAD_REQUEST, "bad_request", "invalid type"),
    ];
    for (body, status, code, named) in cases {
        let reply = app.call("POST", CSRS, &app.admin, Some(body.clone())).await;
        let message = expect_error(&reply, status, code);
        assert!(
            message.contains(named),
            "{body}: {message:?} lacks {named:?}"
        );
    }

    // Every allowed character, and the longest username.
    let longest = "x".repeat(64);
    for username in ["first.last_name-1@example.org", &longest] {
        let (status, body) = app
            .call("POST", CSRS, &app.admin, Some(new(username)))
            .await;
        assert_eq!((status, &body["username"]), (CREATED, &json!(username)));
    }
    let admin = merged(&new("dee"), json!({ "is_admin": true }));
    let (status, dee) = app.call("POST", CSRS, &app.admin, Some(admin)).await;
    assert_eq!((status, &dee["is_admin"]), (CREATED, &json!(true)));
    app.login("dee", PASSWORD).await;

    let (status, list) = app.call("GET", CSRS, &app.admin, None).await;
    assert_eq!(status, OK);
    let list = list.as_array().expect("a list of accounts");
    let names: Vec<&str> = list.iter().filter_map(|c| c["username"].as_str()).collect();
    let expected = [
        "admin",
        "bea",
        "first.last_name-1@example.org",
        &longest,
        "dee",
    ];
    assert_eq!(names, expected, "the refused requests created nothing");
    assert!(list.iter().all(|c| c.get("password_hash").is_none()));
}

#[tokio::test]
async fn admin_updates_csr_accounts() {
    let app = TestApp::new().await;
    let (bea_id, bea) = app.csr("bea", false).await;
    let patch = |body: Value| app.patch_csr(&app.admin, bea_id, body);

    let (status, body) = patch(json!({ "display_name": "  Bea B.  " })).await;
    assert_eq!(
        (status, &body["display_name"]),
        (OK, &json!("Bea B.")),
        "{body}"
    );
    assert_eq!(
        app.call("GET", ME, &bea, None).await.1["display_name"],
        "Bea B."
    );

    // Disable: signed out at once, can't sign in; re-enable: can sign in again.
    let (status, body) = patch(json!({ "disabled": true })).await;
    assert_eq!((status, &body["disabled"]), (OK, &json!(true)));
    expect_error(
        &app.call("GET", ME, &bea, None).await,
        UNAUTHORIZED,
        "unauthorized",
    );
    let reply = app
        .call("POST", LOGIN, NOBODY, creds("bea", PASSWORD))
        .await;
    expect_error(&reply, FORBIDDEN, "account_disabled");
    let (status, body) = patch(json!({ "disabled": false })).await;
    assert_eq!((status, &body["disabled"]), (OK, &json!(false)));
    expect_error(
        &app.call("GET", ME, &bea, None).await,
        UNAUTHORIZED,
        "unauthorized",
    );
    let bea = app.login("bea", PASSWORD).await;

    // Make admin.
    expect_error(
        &app.call("GET", CSRS, &bea, None).await,
        FORBIDDEN,
        "admin_only",
    );
    let (status, body) = patch(json!({ "is_admin": true })).await;
    assert_eq!((status, &body["is_admin"]), (OK, &json!(true)));
    assert_eq!(app.call("GET", CSRS, &bea, None).await.0, OK);

    // Set a new password: signed out, old password refused, new one works.
    let (status, body) = patch(json!({ "password": "set by the admin" })).await;
    assert_eq!((status, &body["must_change_password"]), (OK, &json!(false)));
    expect_error(
        &app.call("GET", ME, &bea, None).await,
        UNAUTHORIZED,
        "unauthorized",
    );
    let reply = app
        .call("POST", LOGIN, NOBODY, creds("bea", PASSWORD))
        .await;
    expect_error(&reply, UNAUTHORIZED, "unauthorized");
    app.login("bea", "set by the admin").await;

    #[rustfmt::skip]
    let cases = [
        (bea_id, json!({ "password": "nine char" }), INVALID, "invalid_field"),
        (bea_id, json!({ "display_name": "" }), INVALID, "invalid_field"),
        (bea_id, json!({ "username": "bee" }), BAD_REQUEST, "bad_request"),
        (bea_id, json!({ "disabled": "yes" }), BAD_REQUEST, "bad_request"),
        (999, json!({ "disabled": true }), NOT_FOUND, "not_found"),
    ];
    for (id, body, status, code) in cases {
        expect_error(&app.patch_csr(&app.admin, id, body).await, status, code);
    }
    // The refused changes changed nothing.
    let (_, list) = app.call("GET", CSRS, &app.admin, None).await;
    assert_eq!(list[1]["display_name"], "Bea B.");
    app.login("bea", "set by the admin").await;
}

#[tokio::test]
async fn admins_hand_out_one_time_passwords() {
    let app = TestApp::new().await;
    // Created with a one-time password: signs in, but must choose its own first.
    let cid = json!({
        "username": "cid", "display_name": "Cid", "password": "one-time 123456", "must_change_password": true,
    });
    let (status, body) = app.call("POST", CSRS, &app.admin, Some(cid)).await;
    assert_eq!(
        (status, &body["must_change_password"]),
        (CREATED, &json!(true)),
        "{body}"
    );
    let cid_id = body["id"].as_i64().expect("an id");
    let cid = app.login("cid", "one-time 123456").await;
    expect_error(
        &app.call("POST", SESSIONS, &cid, Some(json!({}))).await,
        FORBIDDEN,
        "password_change_required",
    );
    let change = json!({ "current": "one-time 123456", "new": PASSWORD });
    assert_eq!(
        app.call("POST", MY_PASSWORD, &cid, Some(change)).await.0,
        OK
    );

    // A reset to a new one-time password asks for a change again.
    let reset = json!({ "password": "another one-time 1", "must_change_password": true });
    let (status, body) = app.patch_csr(&app.admin, cid_id, reset).await;
    assert_eq!(
        (status, &body["must_change_password"]),
        (OK, &json!(true)),
        "{body}"
    );
    let cid = app.login("cid", "another one-time 1").await;
    expect_error(
        &app.call("GET", SESSION_TYPES, &cid, None).await,
        FORBIDDEN,
        "password_change_required",
    );
    // The flag alone, without a password, is refused.
    let reply = app
        .patch_csr(&app.admin, cid_id, json!({ "must_change_password": false }))
        .await;
    let message = expect_error(&reply, INVALID, "invalid_field");
    assert!(message.starts_with("must_change_password"), "{message}");
}

#[tokio::test]
async fn last_admin_cannot_go_and_admins_cannot_disable_themselves() {
    let app = TestApp::new().await;
    let admin_id = app.call("GET", ME, &app.admin, None).await.1["id"].as_i64();
    let admin_id = admin_id.expect("an account id");
    let demote = || json!({ "is_admin": false });
    let disable = || json!({ "disabled": true });

    // Alone: can't demote itself (last admin) nor disable itself (never allowed).
    for body in [
        demote(),
        json!({ "is_admin": false, "display_name": "Root" }),
    ] {
        let reply = app.patch_csr(&app.admin, admin_id, body).await;
        expect_error(&reply, CONFLICT, "last_admin");
    }
    let reply = app.patch_csr(&app.admin, admin_id, disable()).await;
    expect_error(&reply, CONFLICT, "self_disable");
    // With a second admin: still can't disable itself.
    let (bea_id, bea) = app.csr("bea", true).await;
    let reply = app.patch_csr(&app.admin, admin_id, disable()).await;
    expect_error(&reply, CONFLICT, "self_disable");
    // Demote the other; alone again.
    assert_eq!(app.patch_csr(&app.admin, bea_id, demote()).await.0, OK);
    let reply = app.patch_csr(&app.admin, admin_id, demote()).await;
    expect_error(&reply, CONFLICT, "last_admin");

    // Another admin may demote this one, which loses its admin rights at once.
    let promote = json!({ "is_admin": true });
    assert_eq!(app.patch_csr(&app.admin, bea_id, promote).await.0, OK);
    let (status, body) = app.patch_csr(&bea, admin_id, demote()).await;
    assert_eq!((status, &body["is_admin"]), (OK, &json!(false)), "{body}");
    expect_error(
        &app.call("GET", CSRS, &app.admin, None).await,
        FORBIDDEN,
        "admin_only",
    );
    expect_error(
        &app.patch_csr(&bea, bea_id, demote()).await,
        CONFLICT,
        "last_admin",
    );

    // A disabled admin does not count.
    let cid =
        json!({ "username": "cid", "display_name": "Cid", "password": PASSWORD, "is_admin": true });
    let (status, cid) = app.call("POST", CSRS, &bea, Some(cid)).await;
    assert_eq!(status, CREATED, "{cid}");
    let cid_id = cid["id"].as_i64().expect("an account id");
    assert_eq!(app.patch_csr(&bea, cid_id, disable()).await.0, OK);
    expect_error(
        &app.patch_csr(&bea, bea_id, demote()).await,
        CONFLICT,
        "last_admin",
    );
    expect_error(
        &app.patch_csr(&bea, bea_id, disable()).await,
        CONFLICT,
        "self_disable",
    );
    // Changing a disabled admin is fine: it is not an enabled one.
    assert_eq!(app.patch_csr(&bea, cid_id, demote()).await.0, OK);
}

#[tokio::test]
async fn admin_settings_validate_every_field() {
    let app = TestApp::new().await;
    let get = app.call("GET", SETTINGS, &app.admin, None).await;
    assert_eq!(get, (OK, default_settings()));

    let valid = json!({
        "file_transfer": "advanced",
        "recording_allowed": true,
        "session_types": [{ "name": "General", "requires_tracking_code": false },
                          { "name": "Printer", "requires_tracking_code": true }],
        "stun_urls": ["stun:stun.example.org:3478", "stuns:stun.example.org"],
        "turn_urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
        "turn_secret": "s3cret",
        "turn_ttl_secs": 600,
    });
    let put = app
        .call("PUT", SETTINGS, &app.admin, Some(valid.clone()))
        .await;
    assert_eq!(put, (OK, valid.clone()));
    let get = app.call("GET", SETTINGS, &app.admin, None).await;
    assert_eq!(get, (OK, valid.clone()));

    // Optional fields take their defaults.
    let minimal = json!({
        "file_transfer": "off", "recording_allowed": false, "session_types": [{ "name": "Only" }],
    });
    let filled = json!({
        "file_transfer": "off",
        "session_types": [{ "name": "Only", "requires_tracking_code": false }],
    });
    let put = app.call("PUT", SETTINGS, &app.admin, Some(minimal)).await;
    assert_eq!(put, (OK, merged(&default_settings(), filled)));
    app.set_settings(valid.clone()).await;

    #[rustfmt::skip]
    let cases = [
        (json!({ "session_types": [] }), INVALID, "invalid_field", "session_types:"),
        (json!({ "session_types": [{ "name": " " }] }), INVALID, "invalid_field", "session_types[0].name"),
        (json!({ "session_types": [{ "name": "x".repeat(65) }] }), INVALID, "invalid_field", "session_types[0].name"),
        (json!({ "session_types": [{ "name": "A" }, { "name": "A" }] }), INVALID, "invalid_field", "session_types[1].name"),
        (json!({ "stun_urls": ["http://stun.example.org"] }), INVALID, "invalid_field", "stun_urls[0]"),
        (json!({ "stun_urls": ["stun:ok", "stun:has space"] }), INVALID, "invalid_field", "stun_urls[1]"),
        (json!({ "stun_urls": ["turn:turn.example.org"] }), INVALID, "invalid_field", "stun_urls[0]"),
        (json!({ "turn_urls": ["stun:stun.example.org"] }), INVALID, "invalid_field", "turn_urls[0]"),
        (json!({ "turn_urls": [format!("turn:{}", "x".repeat(256))] }), INVALID, "invalid_field", "turn_urls[0]"),
        (json!({ "turn_secret": "" }), INVALID, "invalid_field", "turn_secret"),
        (json!({ "turn_ttl_secs": 59 }), INVALID, "invalid_field", "turn_ttl_secs"),
        (json!({ "turn_ttl_secs": 86_401 }), INVALID, "invalid_field", "turn_ttl_secs"),
        (json!({ "mail_server": "smtp.example.org" }), BAD_REQUEST, "bad_request", "unknown field `mail_server`"),
        (json!({ "file_transfer": "sometimes" }), BAD_REQUEST, "bad_request", "unknown variant `sometimes`"),
        (json!({ "recording_allowed": "yes" }), BAD_REQUEST, "bad_request", "invalid type"),
        (json!({ "session_types": null }), BAD_REQUEST, "bad_request", "missing field `session_types`"),
        (json!({ "turn_ttl_secs": -1 }), BAD_REQUEST, "bad_request", "invalid value"),
    ];
    for (patch, status, code, named) in cases {
        let body = merged(&valid, patch);
        let reply = app
            .call("PUT", SETTINGS, &app.admin, Some(body.clone()))
            .await;
        let message = expect_error(&reply, status, code);
        assert!(
            message.contains(named),
            "{body}: {message:?} lacks {named:?}"
        );
    }
    // The refused settings changed nothing.
    assert_eq!(
        app.call("GET", SETTINGS, &app.admin, None).await,
        (OK, valid)
    );
}

#[tokio::test]
async fn admin_endpoints_refuse_other_csrs_and_strangers() {
    let app = TestApp::new().await;
    let (bea_id, bea) = app.csr("bea", false).await;
    let eve = json!({ "username": "eve", "display_name": "Eve", "password": PASSWORD });
    let settings = merged(&default_settings(), json!({ "turn_secret": "x" }));
    let bea_path = format!("{CSRS}/{bea_id}");
    #[rustfmt::skip]
    let cases = [
        ("GET", CSRS, None),
        ("POST", CSRS, Some(eve)),
        ("PATCH", "/api/v1/admin/csrs/1", Some(json!({ "disabled": true }))),
        ("PATCH", &bea_path, Some(json!({ "is_admin": true }))),
        ("GET", SETTINGS, None),
        ("PUT", SETTINGS, Some(settings)),
        ("GET", "/api/v1/sessions?all=true", None),
    ];
    for (method, path, body) in cases {
        let reply = app.call(method, path, &bea, body.clone()).await;
        expect_error(&reply, FORBIDDEN, "admin_only");
        let reply = app.call(method, path, NOBODY, body).await;
        expect_error(&reply, UNAUTHORIZED, "unauthorized");
    }
    // Nothing changed.
    let (_, list) = app.call("GET", CSRS, &app.admin, None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_has(&list[0], json!({ "username": "admin", "disabled": false }));
    assert_has(&list[1], json!({ "username": "bea", "is_admin": false }));
    let (_, settings) = app.call("GET", SETTINGS, &app.admin, None).await;
    assert_eq!(settings, default_settings());
}

// ---- sessions ----

#[tokio::test]
async fn start_sessions_one_click_or_by_type() {
    let app = TestApp::new().await;
    let (bea_id, bea) = app.csr("bea", false).await;

    let started = app.start_with(&bea, json!({})).await;
    let session = &started["session"];
    let sid = text(&session["id"]);
    uuid::Uuid::parse_str(&sid).expect("a UUID session id");
    let number = session["number"].as_u64().expect("a session number");
    assert!((1000..=9999).contains(&number), "{number}");
    let expected = json!({
        "session_type": "General", "tracking_code": null, "live": true, "ended_at": null,
        "controller": "Bea", "participants": 1,
    });
    assert_has(session, expected);
    let participant = &started["participant"];
    assert_has(participant, json!({ "id": 1, "role": "controller" }));
    assert_eq!(participant["token"].as_str().map(str::len), Some(43));

    let types =
        json!([{ "name": "General" }, { "name": "Printer", "requires_tracking_code": true }]);
    app.set_settings(merged(
        &default_settings(),
        json!({ "session_types": types }),
    ))
    .await;
    #[rustfmt::skip]
    let cases = [
        (json!({ "session_type": "Printer" }), INVALID, "tracking_code_required", "Printer"),
        (json!({ "session_type": "Printer", "tracking_code": "   " }), INVALID, "tracking_code_required", "Printer"),
        (json!({ "session_type": "Nope" }), INVALID, "invalid_field", "session_type"),
        (json!({ "session_type": "printer", "tracking_code": "T-1" }), INVALID, "invalid_field", "session_type"),
        (json!({ "tracking_code": "x".repeat(65) }), INVALID, "invalid_field", "tracking_code"),
        (json!({ "tracking_code": "escape\u{1b}" }), INVALID, "invalid_field", "tracking_code"),
        (json!({ "tracking": "T-1" }), BAD_REQUEST, "bad_request", "unknown field `tracking`"),
        (json!({ "session_type": 1 }), BAD_REQUEST, "bad_request", "invalid type"),
    ];
    for (body, status, code, named) in cases {
        let reply = app.call("POST", SESSIONS, &bea, Some(body.clone())).await;
        let message = expect_error(&reply, status, code);
        assert!(
            message.contains(named),
            "{body}: {message:?} lacks {named:?}"
        );
    }
    let no_body = app.call("POST", SESSIONS, &bea, None).await;
    expect_error(&no_body, BAD_REQUEST, "bad_request");
    let stranger = app.call("POST", SESSIONS, NOBODY, Some(json!({}))).await;
    expect_error(&stranger, UNAUTHORIZED, "unauthorized");

    let printer = json!({ "session_type": "Printer", "tracking_code": " TCK-42 " });
    let printer = app.start_with(&bea, printer).await;
    let expected = json!({ "session_type": "Printer", "tracking_code": "TCK-42" });
    assert_has(&printer["session"], expected);
    let optional = json!({ "session_type": "General", "tracking_code": "T-7" });
    let optional = app.start_with(&bea, optional).await;
    assert_eq!(optional["session"]["tracking_code"], "T-7");
    let numbers = [
        &session["number"],
        &printer["session"]["number"],
        &optional["session"]["number"],
    ];
    assert!(numbers[0] != numbers[1] && numbers[1] != numbers[2] && numbers[0] != numbers[2]);

    // One-click start takes the first type, and obeys it.
    let types =
        json!([{ "name": "Printer", "requires_tracking_code": true }, { "name": "General" }]);
    app.set_settings(merged(
        &default_settings(),
        json!({ "session_types": types }),
    ))
    .await;
    let one_click = app.call("POST", SESSIONS, &bea, Some(json!({}))).await;
    expect_error(&one_click, INVALID, "tracking_code_required");

    // Only the three accepted starts were stored, all in Bea's name.
    let (_, mine) = app.call("GET", SESSIONS, &bea, None).await;
    assert_eq!(mine["sessions"].as_array().map(Vec::len), Some(3), "{mine}");
    let (_, all) = app
        .call("GET", "/api/v1/sessions?all=true", &app.admin, None)
        .await;
    assert_eq!(ids(&all), ids(&mine));
    let record = app.record(&bea, &sid).await;
    assert_eq!(record["participants"][0]["account"], bea_id);
}

#[tokio::test]
async fn sessions_are_listed_and_read_by_their_csrs_and_admins() {
    let app = TestApp::new().await;
    let (bea_id, bea) = app.csr("bea", false).await;
    let (_, cid) = app.csr("cid", false).await;
    let b1 = app
        .start_with(&bea, json!({ "tracking_code": "ABC-1" }))
        .await;
    let b1 = text(&b1["session"]["id"]);
    let b2 = app
        .start_with(&bea, json!({ "tracking_code": "XYZ-2" }))
        .await;
    let b2 = text(&b2["session"]["id"]);
    let (c1, _) = app.start(&cid).await;
    let admin = &app.admin;

    #[rustfmt::skip]
    let cases = [
        (&bea, "", sorted([&b1, &b2])),
        (&cid, "", sorted([&c1])),
        (admin, "", vec![]),
        (admin, "?all=true", sorted([&b1, &b2, &c1])),
        (admin, "?all=false", vec![]),
        (&bea, "?q=ABC", sorted([&b1])),
        (&bea, "?q=xyz", sorted([&b2])),
        (&bea, "?q=General", sorted([&b1, &b2])),
        (&bea, "?q=nothing", vec![]),
        (&bea, "?q=", sorted([&b1, &b2])),
        (&cid, "?q=ABC", vec![]),
        (admin, "?all=true&q=-2", sorted([&b2])),
    ];
    for (token, query, expected) in cases {
        let (status, list) = app
            .call("GET", &format!("{SESSIONS}{query}"), token, None)
            .await;
        assert_eq!((status, ids(&list)), (OK, expected), "{query}");
    }
    let (_, one) = app
        .call("GET", "/api/v1/sessions?limit=1", &bea, None)
        .await;
    assert_eq!(one["sessions"].as_array().map(Vec::len), Some(1));
    let reply = app
        .call("GET", "/api/v1/sessions?all=true", &bea, None)
        .await;
    expect_error(&reply, FORBIDDEN, "admin_only");
    expect_error(
        &app.call("GET", SESSIONS, NOBODY, None).await,
        UNAUTHORIZED,
        "unauthorized",
    );

    // The record: for the CSR who took part and for admins; not found for anyone else.
    let record = app.record(&bea, &b1).await;
    assert_has(
        &record["session"],
        json!({ "id": b1, "tracking_code": "ABC-1" }),
    );
    assert_has(
        &record,
        json!({ "notes": "", "end": null, "invitations": [] }),
    );
    let expected =
        json!({ "id": 1, "name": "Bea", "kind": "csr", "account": bea_id, "left_at": null });
    assert_has(&record["participants"][0], expected);
    let events = record["events"].as_array().expect("events");
    let types: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event"]["type"].as_str())
        .collect();
    assert_eq!(types, ["session_started", "participant_joined"]);
    assert_eq!(app.record(&app.admin, &b1).await, record);
    let reply = app.call("GET", &session_path(&b1, ""), &cid, None).await;
    expect_error(&reply, NOT_FOUND, "not_found");
    let reply = app
        .call("GET", &session_path("no-such-id", ""), &app.admin, None)
        .await;
    expect_error(&reply, NOT_FOUND, "not_found");

    // The export: the same record, as a file.
    let export = session_path(&b1, "/export");
    for token in [&bea, &app.admin] {
        let reply = app.send(request("GET", &export, token, None)).await;
        let disposition = format!("attachment; filename=\"session-{b1}.json\"");
        assert_eq!(reply.status, OK);
        assert_eq!(reply.header(CONTENT_DISPOSITION), disposition);
        assert!(reply.header(CONTENT_TYPE).starts_with("application/json"));
        assert_eq!(reply.body, record);
    }
    expect_error(
        &app.call("GET", &export, &cid, None).await,
        NOT_FOUND,
        "not_found",
    );
    expect_error(
        &app.call("GET", &export, NOBODY, None).await,
        UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn session_search_treats_like_wildcards_literally() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let case = app
        .start_with(&bea, json!({ "tracking_code": "CASE_1001" }))
        .await;
    let case = text(&case["session"]["id"]);
    let (_, list) = app.call("GET", "/api/v1/sessions?q=CASE", &bea, None).await;
    assert_eq!(ids(&list), std::slice::from_ref(&case));
    // '_' and '%' are matched literally, not as LIKE wildcards.
    let (status, list) = app
        .call("GET", "/api/v1/sessions?q=CASE_1001", &bea, None)
        .await;
    assert_eq!((status, ids(&list)), (OK, vec![case.clone()]));
    for q in ["CASE%1001", "CASE11001", "CASEX1001"] {
        let (status, list) = app
            .call("GET", &format!("/api/v1/sessions?q={q}"), &bea, None)
            .await;
        assert_eq!((status, ids(&list)), (OK, Vec::<String>::new()), "{q}");
    }
}

// ---- notes ----

#[tokio::test]
async fn notes_are_saved_by_csrs_in_the_session() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let (_, cid) = app.csr("cid", false).await;
    let (sid, _) = app.start(&bea).await;
    let path = session_path(&sid, "/notes");

    let notes = json!({ "notes": "  Printer jammed; cleared.\nCall back Monday.  " });
    let saved = "Printer jammed; cleared.\nCall back Monday.";
    let reply = app.call("PUT", &path, &bea, Some(notes)).await;
    assert_eq!(reply, (OK, json!({ "notes": saved })), "trimmed");
    let record = app.record(&bea, &sid).await;
    assert_eq!(record["notes"], saved);
    let last = record["events"]
        .as_array()
        .and_then(|e| e.last())
        .expect("an event");
    assert_has(
        &last["event"],
        json!({ "type": "notes_saved", "notes": saved, "by": 1 }),
    );

    let limit = 32 * 1024;
    let nobody = NOBODY.to_owned();
    #[rustfmt::skip]
    let cases = [
        (&cid, json!({ "notes": "not my session" }), NOT_FOUND, "not_found"),
        (&app.admin, json!({ "notes": "admin, not in it" }), FORBIDDEN, "not_in_session"),
        (&bea, json!({ "notes": "x".repeat(limit + 1) }), INVALID, "invalid_field"),
        (&bea, json!({ "notes": "bell \u{7}" }), INVALID, "invalid_field"),
        (&bea, json!({}), BAD_REQUEST, "bad_request"),
        (&bea, json!({ "notes": "x", "append": true }), BAD_REQUEST, "bad_request"),
        (&nobody, json!({ "notes": "x" }), UNAUTHORIZED, "unauthorized"),
    ];
    for (token, body, status, code) in cases {
        let message = expect_error(
            &app.call("PUT", &path, token, Some(body)).await,
            status,
            code,
        );
        if status == INVALID {
            assert!(message.contains("notes"), "{message}");
        }
    }
    assert_eq!(
        app.record(&bea, &sid).await["notes"],
        saved,
        "refusals change nothing"
    );
    // Exactly the limit is fine; empty notes clear them.
    let full = json!({ "notes": "x".repeat(limit) });
    assert_eq!(
        app.call("PUT", &path, &bea, Some(full.clone())).await,
        (OK, full)
    );
    let empty = json!({ "notes": "" });
    assert_eq!(
        app.call("PUT", &path, &bea, Some(empty.clone())).await,
        (OK, empty)
    );
    let unknown = session_path("no-such-id", "/notes");
    let reply = app
        .call("PUT", &unknown, &bea, Some(json!({ "notes": "x" })))
        .await;
    expect_error(&reply, NOT_FOUND, "not_found");
    // A body over the service's 256 KiB limit is refused before it is read.
    let huge = json!({ "notes": "x".repeat(256 * 1024) });
    let reply = app.call("PUT", &path, &bea, Some(huge)).await;
    assert!(expect_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "too_large").contains("262144"));
}

// ---- invitations ----

#[tokio::test]
async fn invitations_are_created_listed_and_revoked_by_csrs_in_the_session() {
    let app = TestApp::new().await;
    let (bea_id, bea) = app.csr("bea", false).await;
    let (_, cid) = app.csr("cid", false).await;
    let started = app.start_with(&bea, json!({})).await;
    let sid = text(&started["session"]["id"]);
    let number = started["session"]["number"]
        .as_u64()
        .expect("a session number");

    let before = now_ms();
    let customer = app.invite(&bea, &sid, json!({ "role": "customer" })).await;
    let after = now_ms();
    uuid::Uuid::parse_str(&text(&customer["id"])).expect("a UUID invitation id");
    assert_eq!(customer["role"], "customer");
    let token = text(&customer["token"]);
    assert_eq!(token.len(), 43);
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(&token)
            .expect("URL-safe base64")
            .len(),
        32
    );
    assert_eq!(customer["link"], format!("http://test/join.html#t={token}"));
    let code = text(&customer["code"]);
    let digits = code
        .chars()
        .enumerate()
        .all(|(i, c)| (i == 4) == (c == '-') && (i == 4 || c.is_ascii_digit()));
    assert!(code.len() == 10 && digits, "{code}");
    assert_eq!(
        code[..4],
        number.to_string(),
        "the code starts with the session number"
    );
    let expires_at = customer["expires_at"].as_u64().expect("expires_at");
    let hour = 3_600_000;
    assert!(
        (before + hour..=after + hour).contains(&expires_at),
        "default lifetime: one hour"
    );

    let csr = app
        .invite(&bea, &sid, json!({ "role": "csr", "ttl_secs": 60 }))
        .await;
    assert_eq!(csr["role"], "csr");
    let csr_expiry = csr["expires_at"].as_u64().expect("expires_at");
    assert!((before + 60_000..=now_ms() + 60_000).contains(&csr_expiry));
    let week = app
        .invite(
            &bea,
            &sid,
            json!({ "role": "customer", "ttl_secs": 604_800 }),
        )
        .await;
    let tokens = [token.clone(), text(&csr["token"]), text(&week["token"])];
    assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2] && code != text(&week["code"]));

    let path = session_path(&sid, "/invitations");
    let unknown = session_path("no-such-id", "/invitations");
    let nobody = NOBODY.to_owned();
    #[rustfmt::skip]
    let cases = [
        (&bea, &path, json!({ "role": "customer", "ttl_secs": 59 }), INVALID, "invalid_field"),
        (&bea, &path, json!({ "role": "customer", "ttl_secs": 604_801 }), INVALID, "invalid_field"),
        (&bea, &path, json!({ "role": "admin" }), BAD_REQUEST, "bad_request"),
        (&bea, &path, json!({}), BAD_REQUEST, "bad_request"),
        (&bea, &path, json!({ "role": "csr", "cc": "x@example.org" }), BAD_REQUEST, "bad_request"),
        (&cid, &path, json!({ "role": "customer" }), NOT_FOUND, "not_found"),
        (&app.admin, &path, json!({ "role": "customer" }), FORBIDDEN, "not_in_session"),
        (&nobody, &path, json!({ "role": "customer" }), UNAUTHORIZED, "unauthorized"),
        (&bea, &unknown, json!({ "role": "customer" }), NOT_FOUND, "not_found"),
    ];
    for (token, path, body, status, code) in cases {
        expect_error(
            &app.call("POST", path, token, Some(body)).await,
            status,
            code,
        );
    }

    // The list: every invitation, without secrets.
    let list = app.invitations(&bea, &sid).await;
    let created = [&customer, &csr, &week];
    let roles = listed(&list, &created, "role");
    assert_eq!(roles, [json!("customer"), json!("csr"), json!("customer")]);
    let fields = [
        "created_at",
        "created_by",
        "expires_at",
        "id",
        "revoked_at",
        "role",
        "session_id",
        "used_at",
        "used_by",
    ];
    for invitation in &list {
        let object = invitation.as_object().expect("an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, fields);
        assert_has(
            invitation,
            json!({ "session_id": sid, "created_by": bea_id }),
        );
    }
    let shown = Value::Array(list.clone()).to_string();
    assert!(
        tokens.iter().all(|t| !shown.contains(t.as_str())),
        "{shown}"
    );
    assert_eq!(app.invitations(&app.admin, &sid).await, list);
    expect_error(
        &app.call("GET", &path, &cid, None).await,
        NOT_FOUND,
        "not_found",
    );
    expect_error(
        &app.call("GET", &path, NOBODY, None).await,
        UNAUTHORIZED,
        "unauthorized",
    );

    // Revoking: once, by a CSR in the session.
    let revoke = format!("{path}/{}", text(&customer["id"]));
    #[rustfmt::skip]
    let cases = [
        (&cid, &revoke, NOT_FOUND, "not_found"),
        (&app.admin, &revoke, FORBIDDEN, "not_in_session"),
        (&nobody, &revoke, UNAUTHORIZED, "unauthorized"),
    ];
    for (token, path, status, code) in cases {
        expect_error(&app.call("DELETE", path, token, None).await, status, code);
    }
    assert_eq!(
        app.call("DELETE", &revoke, &bea, None).await,
        (NO_CONTENT, Value::Null)
    );
    expect_error(
        &app.call("DELETE", &revoke, &bea, None).await,
        NOT_FOUND,
        "not_found",
    );
    let unknown = format!("{path}/no-such-id");
    expect_error(
        &app.call("DELETE", &unknown, &bea, None).await,
        NOT_FOUND,
        "not_found",
    );
    let list = app.invitations(&bea, &sid).await;
    let revoked = listed(&list, &created, "revoked_at");
    assert!(revoked[0].is_u64() && revoked[1].is_null() && revoked[2].is_null());
}

#[tokio::test]
async fn tokens_are_stored_only_as_sha256() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let (sid, controller) = app.start(&bea).await;
    let used = app.invite(&bea, &sid, json!({ "role": "customer" })).await;
    let open = app.invite(&bea, &sid, json!({ "role": "customer" })).await;
    let customer = app.join_customer(&used, "Carol").await;
    let (used_token, open_token) = (text(&used["token"]), text(&open["token"]));
    let tokens = [
        &bea,
        &app.admin,
        &controller,
        &customer,
        &used_token,
        &open_token,
    ];
    let sha256 = |t: &str| Sha256::digest(t.as_bytes()).to_vec();

    let pool = app.sql().await;
    for invitation in [&used, &open] {
        let hash: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM invitations WHERE id = ?")
            .bind(invitation["id"].as_str())
            .fetch_one(&pool)
            .await
            .expect("the invitation row");
        assert_eq!(hash.len(), 32);
        assert_eq!(hash, sha256(&text(&invitation["token"])));
    }
    #[rustfmt::skip]
    let cases = [
        ("auth_tokens", &bea),
        ("auth_tokens", &app.admin),
        ("participants", &controller),
        ("participants", &customer),
    ];
    for (table, token) in cases {
        let found: Option<i64> =
            sqlx::query_scalar(&format!("SELECT 1 FROM {table} WHERE token_hash = ?"))
                .bind(sha256(token))
                .fetch_optional(&pool)
                .await
                .expect("query");
        assert_eq!(found, Some(1), "{table} holds the SHA-256 of the token");
    }

    // No column of any table holds a token in clear.
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .expect("the tables");
    let mut cells = 0;
    for table in &tables {
        let columns = format!("SELECT name FROM pragma_table_info('{table}')");
        let columns: Vec<String> = sqlx::query_scalar(&columns)
            .fetch_all(&pool)
            .await
            .expect("the columns");
        for column in columns {
            let select = format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\"");
            let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&select)
                .fetch_all(&pool)
                .await
                .expect("the cells");
            for value in values.into_iter().flatten() {
                cells += 1;
                for token in tokens {
                    let found = value.windows(token.len()).any(|w| w == token.as_bytes());
                    assert!(!found, "{table}.{column} holds a token in clear");
                }
            }
        }
    }
    assert!(tables.len() >= 7 && cells > 50, "{tables:?}, {cells} cells");
    pool.close().await;

    // Nor do the files (database and write-ahead log).
    for file in [app.db_path.clone(), app.db_path.with_extension("db-wal")] {
        let bytes = std::fs::read(&file).expect("the database files (WAL mode, pool open)");
        for token in tokens {
            let found = bytes.windows(token.len()).any(|w| w == token.as_bytes());
            assert!(!found, "{} holds a token", file.display());
        }
    }
}

// ---- joining ----

#[tokio::test]
async fn join_by_link_token() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let (sid, _) = app.start(&bea).await;
    let mut invitations = Vec::new();
    for ttl in [3600, 3600, 3600, 60, 3600] {
        let body = json!({ "role": "customer", "ttl_secs": ttl });
        invitations.push(app.invite(&bea, &sid, body).await);
    }
    let token = |i: usize| invitations[i]["token"].clone();

    let (status, joined) = app
        .join(NOBODY, json!({ "token": token(0), "name": "Carol" }))
        .await;
    assert_eq!(
        (status, &joined["session_id"]),
        (CREATED, &json!(sid)),
        "{joined}"
    );
    let participant = &joined["participant"];
    assert_has(participant, json!({ "id": 2, "role": "primary_customer" }));
    assert_eq!(participant["token"].as_str().map(str::len), Some(43));
    let (status, joined) = app
        .join(NOBODY, json!({ "token": token(1), "name": "Dan" }))
        .await;
    assert_eq!(status, CREATED, "{joined}");
    assert_has(
        &joined["participant"],
        json!({ "id": 3, "role": "customer" }),
    );

    // Invitation 2 revoked; invitation 3 expired (set up directly in the database).
    let revoke = session_path(
        &sid,
        &format!("/invitations/{}", text(&invitations[2]["id"])),
    );
    assert_eq!(app.call("DELETE", &revoke, &bea, None).await.0, NO_CONTENT);
    let pool = app.sql().await;
    sqlx::query("UPDATE invitations SET expires_at = ? WHERE id = ?")
        .bind(now_ms() as i64 - 1000)
        .bind(invitations[3]["id"].as_str())
        .execute(&pool)
        .await
        .expect("expire the invitation");
    pool.close().await;

    let unknown = URL_SAFE_NO_PAD.encode([7u8; 32]);
    #[rustfmt::skip]
    let cases = [
        (json!({ "token": token(0), "name": "Eve" }), GONE, "invitation_used"),
        (json!({ "token": token(2), "name": "Eve" }), GONE, "invitation_revoked"),
        (json!({ "token": token(3), "name": "Eve" }), GONE, "invitation_expired"),
        (json!({ "token": unknown, "name": "Eve" }), NOT_FOUND, "not_found"),
        (json!({ "token": token(4), "code": "1234-56789", "name": "Eve" }), BAD_REQUEST, "bad_request"),
        (json!({ "name": "Eve" }), BAD_REQUEST, "bad_request"),
        (json!({ "token": token(4) }), BAD_REQUEST, "bad_request"),
        (json!({ "token": token(4), "name": "Eve", "email": "eve@example.org" }), BAD_REQUEST, "bad_request"),
        (json!({ "token": token(4), "name": "   " }), INVALID, "invalid_field"),
        (json!({ "token": token(4), "name": "x".repeat(65) }), INVALID, "invalid_field"),
    ];
    for (body, status, code) in cases {
        expect_error(&app.join(NOBODY, body).await, status, code);
    }
    // The refused joins did not use invitation 4; a stale sign-in does not stop a customer.
    let (status, joined) = app
        .join("stale", json!({ "token": token(4), "name": " Eve " }))
        .await;
    assert_eq!(
        (status, &joined["participant"]["id"]),
        (CREATED, &json!(4)),
        "{joined}"
    );

    let record = app.record(&bea, &sid).await;
    let participants = record["participants"].as_array().expect("participants");
    let names: Vec<&str> = participants
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["Bea", "Carol", "Dan", "Eve"]);
    assert_eq!(record["session"]["participants"], 4);
    let list = record["invitations"].as_array().expect("invitations");
    let used_by = listed(list, &invitations.iter().collect::<Vec<_>>(), "used_by");
    assert_eq!(
        used_by,
        [json!(2), json!(3), Value::Null, Value::Null, json!(4)]
    );
}

#[tokio::test]
async fn join_by_short_code() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let (sid, _) = app.start(&bea).await;
    let mut codes = Vec::new();
    for _ in 0..3 {
        let invitation = app.invite(&bea, &sid, json!({ "role": "customer" })).await;
        codes.push(text(&invitation["code"]));
    }

    let (status, joined) = app
        .join(NOBODY, json!({ "code": codes[0], "name": "Carol" }))
        .await;
    assert_eq!(
        (status, &joined["session_id"]),
        (CREATED, &json!(sid)),
        "{joined}"
    );
    assert_eq!(joined["participant"]["role"], "primary_customer");
    // Spaces and dashes anywhere, or none.
    let spaced = format!(" {} - {} ", &codes[2][..4], &codes[2][5..]);
    for code in [codes[1].replace('-', ""), spaced] {
        let (status, joined) = app
            .join(NOBODY, json!({ "code": code, "name": "Dan" }))
            .await;
        assert_eq!(status, CREATED, "{code:?}: {joined}");
        assert_eq!(joined["participant"]["role"], "customer");
    }

    // Used, wrong, or for no live session: "wrong code".
    let number: u16 = codes[0][..4].parse().expect("a session number");
    let idle_number = if number == 1000 { 1001 } else { 1000 };
    for code in [
        codes[0].clone(),
        wrong_code(&codes[0]),
        format!("{idle_number}-00000"),
    ] {
        let reply = app
            .join(NOBODY, json!({ "code": code, "name": "Eve" }))
            .await;
        assert!(expect_error(&reply, NOT_FOUND, "not_found").contains("wrong code"));
    }
    #[rustfmt::skip]
    let malformed = ["12345", "1234-5678", "1234-567890", "abcd-efghi", "0999-12345", "", "1234-5678x", "1234_56789"];
    for code in malformed {
        let reply = app
            .join(NOBODY, json!({ "code": code, "name": "Eve" }))
            .await;
        let message = expect_error(&reply, BAD_REQUEST, "bad_request");
        assert!(message.contains("nine digits"), "{code:?}: {message}");
    }
    let reply = app
        .join(NOBODY, json!({ "code": 123_456_789, "name": "Eve" }))
        .await;
    expect_error(&reply, BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn csr_invitations_need_the_sign_in_of_another_csr() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let (cid_id, cid) = app.csr("cid", false).await;
    let (_, dee) = app.csr("dee", false).await;
    let (sid, _) = app.start(&bea).await;
    let first = app.invite(&bea, &sid, json!({ "role": "csr" })).await;
    let second = app.invite(&bea, &sid, json!({ "role": "csr" })).await;
    let body = |invitation: &Value| json!({ "token": invitation["token"], "name": "Support" });

    let reply = app.join(NOBODY, body(&first)).await;
    assert!(expect_error(&reply, UNAUTHORIZED, "unauthorized").contains("sign in"));
    expect_error(
        &app.join("garbage", body(&first)).await,
        UNAUTHORIZED,
        "unauthorized",
    );
    // The starter is in the session already.
    expect_error(
        &app.join(&bea, body(&first)).await,
        CONFLICT,
        "already_in_session",
    );

    let (status, joined) = app.join(&cid, body(&first)).await;
    let cid_participant = text(&joined["participant"]["token"]);
    assert_eq!(status, CREATED, "{joined}");
    assert_has(&joined["participant"], json!({ "id": 2, "role": "csr" }));
    expect_error(
        &app.join(&cid, body(&second)).await,
        CONFLICT,
        "already_in_session",
    );
    let list = app.invitations(&bea, &sid).await;
    let used_by = listed(&list, &[&first, &second], "used_by");
    assert_eq!(
        used_by,
        [json!(2), Value::Null],
        "the refused joins used nothing"
    );

    // The sign-in cookie works for joining too (here by code).
    let by_code = json!({ "code": second["code"], "name": "Dee" });
    let req = request("POST", JOIN, NOBODY, Some(by_code));
    let reply = app
        .send(with_header(req, COOKIE, &format!("tether_auth={dee}")))
        .await;
    assert_eq!(reply.status, CREATED, "{}", reply.body);
    assert_eq!(reply.body["participant"]["role"], "csr");

    // A CSR who joined sees the session as its own, and may invite and write notes.
    let (_, list) = app.call("GET", SESSIONS, &cid, None).await;
    assert_eq!(ids(&list), std::slice::from_ref(&sid));
    let record = app.record(&cid, &sid).await;
    assert_has(
        &record["participants"][1],
        json!({ "kind": "csr", "account": cid_id }),
    );
    app.invite(&cid, &sid, json!({ "role": "customer" })).await;
    let notes = session_path(&sid, "/notes");
    let reply = app
        .call("PUT", &notes, &cid, Some(json!({ "notes": "by Cid" })))
        .await;
    assert_eq!(reply, (OK, json!({ "notes": "by Cid" })));

    // Once it left, it still reads the record but no longer acts in the session; a new CSR
    // invitation brings it back.
    assert_eq!(app.call("GET", ICE, &cid_participant, None).await.0, OK);
    app.command(&sid, 2, Command::Leave).await;
    let reply = app.call("GET", ICE, &cid_participant, None).await;
    expect_error(&reply, FORBIDDEN, "not_in_session");
    app.record(&cid, &sid).await;
    let invitations = session_path(&sid, "/invitations");
    let reply = app
        .call("POST", &invitations, &cid, Some(json!({ "role": "csr" })))
        .await;
    expect_error(&reply, FORBIDDEN, "not_in_session");
    let reply = app
        .call("PUT", &notes, &cid, Some(json!({ "notes": "x" })))
        .await;
    expect_error(&reply, FORBIDDEN, "not_in_session");
    let again = app.invite(&bea, &sid, json!({ "role": "csr" })).await;
    let (status, joined) = app.join(&cid, body(&again)).await;
    assert_eq!(status, CREATED, "{joined}");
    assert_has(&joined["participant"], json!({ "id": 4, "role": "csr" }));
}

#[tokio::test]
async fn an_invitation_used_twice_at_once_admits_one() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let (sid, _) = app.start(&bea).await;
    for round in 0..5 {
        let invitation = app.invite(&bea, &sid, json!({ "role": "customer" })).await;
        let body = |name: &str| json!({ "token": invitation["token"], "name": name });
        let carol = app.join(NOBODY, body("Carol"));
        let mallory = app.join(NOBODY, body("Mallory"));
        let (a, b) = tokio::join!(carol, mallory);
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [CREATED, GONE], "round {round}: {a:?} {b:?}");
        expect_error(if a.0 == GONE { &a } else { &b }, GONE, "invitation_used");
    }
    // One participant per invitation was stored.
    assert_eq!(app.record(&bea, &sid).await["session"]["participants"], 6);
}

// ---- short-code rate limit ----

#[tokio::test]
async fn wrong_codes_are_rate_limited_per_address() {
    let app = TestApp::new().await; // a service of its own: a fresh limiter
    let (_, bea) = app.csr("bea", false).await;
    let (sid, _) = app.start(&bea).await;
    let invitation = app.invite(&bea, &sid, json!({ "role": "customer" })).await;
    let code = text(&invitation["code"]);
    let wrong = json!({ "code": wrong_code(&code), "name": "Mallory" });

    // Config::for_tests allows 10 failures per address per 10 minutes.
    for attempt in 1..=10 {
        let reply = app.join(NOBODY, wrong.clone()).await;
        assert_eq!(reply.0, NOT_FOUND, "attempt {attempt}: {}", reply.1);
    }
    let reply = app.send(request("POST", JOIN, NOBODY, Some(wrong))).await;
    let retry_after: u64 = reply
        .header(RETRY_AFTER)
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (500..=600).contains(&retry_after),
        "about the window: {retry_after}"
    );
    let message = expect_error(&reply.pair(), TOO_MANY, "too_many_attempts");
    assert!(message.contains("your address"), "{message}");

    // Now even the right code is refused from this address...
    let right = app
        .join(NOBODY, json!({ "code": code, "name": "Carol" }))
        .await;
    expect_error(&right, TOO_MANY, "too_many_attempts");
    // ...a malformed one is still told it is malformed...
    let malformed = app
        .join(NOBODY, json!({ "code": "12", "name": "Carol" }))
        .await;
    expect_error(&malformed, BAD_REQUEST, "bad_request");
    // ...and the link is not rate-limited.
    let link = json!({ "token": invitation["token"], "name": "Carol" });
    let (status, joined) = app.join(NOBODY, link).await;
    assert_eq!(status, CREATED, "{joined}");
    assert_eq!(joined["participant"]["role"], "primary_customer");
}

#[tokio::test]
async fn wrong_codes_are_rate_limited_per_session_across_addresses() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let (s1, _) = app.start(&bea).await;
    let (s2, _) = app.start(&bea).await;
    let mut codes = Vec::new();
    for session in [&s1, &s2, &s2] {
        let invitation = app
            .invite(&bea, session, json!({ "role": "customer" }))
            .await;
        codes.push(text(&invitation["code"]));
    }
    let body = |code: &str| json!({ "code": code, "name": "Someone" });

    // Twenty failures for session 1 from two addresses (10 each, the per-address limit).
    for addr in [[10, 0, 0, 1], [10, 0, 0, 2]] {
        for attempt in 1..=10 {
            let reply = app.join_from(addr, body(&wrong_code(&codes[0]))).await;
            assert_eq!(
                reply.status, NOT_FOUND,
                "{addr:?} #{attempt}: {}",
                reply.body
            );
        }
    }
    // Session 1 is now closed to codes from any address, even the right code from a new one.
    let reply = app.join_from([10, 0, 0, 3], body(&codes[0])).await;
    let retry_after = reply.header(RETRY_AFTER).parse::<u64>();
    assert!(retry_after.is_ok_and(|s| (1..=600).contains(&s)));
    let message = expect_error(&reply.pair(), TOO_MANY, "too_many_attempts");
    assert!(message.contains("this session"), "{message}");
    // Other sessions are not: the new address joins session 2; a limited address can't.
    let reply = app.join_from([10, 0, 0, 3], body(&codes[1])).await;
    assert_eq!(reply.status, CREATED, "{}", reply.body);
    let reply = app.join_from([10, 0, 0, 1], body(&codes[2])).await;
    expect_error(&reply.pair(), TOO_MANY, "too_many_attempts");
}

/// A join as a reverse proxy at 10.0.0.9 forwards it, naming the client in X-Forwarded-For.
async fn via_proxy(app: &TestApp, client: &'static str, body: Value) -> Reply {
    let mut req = from_address(request("POST", JOIN, NOBODY, Some(body)), [10, 0, 0, 9]);
    req.headers_mut()
        .insert("x-forwarded-for", client.parse().expect("header"));
    app.send(req).await
}

#[tokio::test]
async fn behind_a_proxy_forwarded_addresses_are_limited_separately_only_when_trusted() {
    for trust in [true, false] {
        let app = TestApp::new_with(|c| c.trust_forwarded_for = trust).await;
        let (_, bea) = app.csr("bea", false).await;
        let (sid, _) = app.start(&bea).await;
        let invitation = app.invite(&bea, &sid, json!({ "role": "customer" })).await;
        let code = text(&invitation["code"]);
        let wrong = json!({ "code": wrong_code(&code), "name": "Mallory" });
        // A guesser (the proxy appends the address it saw last) uses up its ten failures.
        for _ in 0..10 {
            let reply = via_proxy(&app, "198.51.100.1, 203.0.113.5", wrong.clone()).await;
            assert_eq!(reply.status, NOT_FOUND, "{}", reply.body);
        }
        // Another customer behind the same proxy, with the right code:
        let reply = via_proxy(
            &app,
            "198.51.100.7",
            json!({ "code": code, "name": "Carol" }),
        )
        .await;
        if trust {
            assert_eq!(
                reply.status, CREATED,
                "trusted: only the guesser is limited: {}",
                reply.body
            );
        } else {
            // Untrusted, the header is ignored (it could be forged): everyone is the proxy.
            expect_error(&reply.pair(), TOO_MANY, "too_many_attempts");
        }
    }
}

// ---- ICE servers ----

#[tokio::test]
async fn ice_servers_and_turn_credentials_for_participants() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let (sid, controller) = app.start(&bea).await;
    let invitation = app.invite(&bea, &sid, json!({ "role": "customer" })).await;
    let customer = app.join_customer(&invitation, "Carol").await;

    // A participant token, not a CSR sign-in.
    for token in [NOBODY, "garbage", bea.as_str()] {
        expect_error(
            &app.call("GET", ICE, token, None).await,
            UNAUTHORIZED,
            "unauthorized",
        );
    }
    let before = now_ms();
    let (status, ice) = app.call("GET", ICE, &customer, None).await;
    assert_eq!((status, &ice["ice_servers"]), (OK, &json!([])), "{ice}");
    let expires_at = ice["expires_at"].as_u64().expect("expires_at");
    let hour = 3_600_000;
    assert!((before / 1000 * 1000 + hour..=now_ms() + hour).contains(&expires_at));

    let secret = "s3cret-for-coturn";
    let stun = json!(["stun:stun.example.org:3478"]);
    let turn = json!([
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:5349"
    ]);
    let ice_settings = json!({
        "stun_urls": stun, "turn_urls": turn, "turn_secret": secret, "turn_ttl_secs": 600,
    });
    app.set_settings(merged(&default_settings(), ice_settings))
        .await;
    for (token, participant) in [(&customer, 2), (&controller, 1)] {
        let before = now_ms() / 1000;
        let (status, ice) = app.call("GET", ICE, token, None).await;
        let after = now_ms() / 1000;
        assert_eq!(status, OK, "{ice}");
        let servers = ice["ice_servers"].as_array().expect("ice_servers");
        assert_eq!(servers.len(), 2, "{ice}");
        assert_eq!(servers[0], json!({ "urls": stun }));
        let entry = &servers[1];
        let username = text(&entry["username"]);
        let credential = text(&entry["credential"]);
        let expected = json!({ "urls": turn, "username": username, "credential": credential });
        assert_eq!(entry, &expected, "exactly urls, username, credential");
        let (expiry, user) = username.split_once(':').expect("EXPIRY:user");
        let expiry: u64 = expiry.parse().expect("a unix time in seconds");
        assert!((before + 600..=after + 600).contains(&expiry), "{username}");
        assert_eq!(user, format!("{sid}-{participant}"));
        assert_eq!(ice["expires_at"], expiry * 1000);
        assert_eq!(credential, turn_password(secret, &username));
        assert_eq!(credential, hmac_sha1_base64(secret, &username));
    }

    // STUN only: no TURN entry without TURN URLs.
    let stun_only = json!({ "stun_urls": stun, "turn_secret": secret });
    app.set_settings(merged(&default_settings(), stun_only))
        .await;
    let (status, ice) = app.call("GET", ICE, &customer, None).await;
    assert_eq!(
        (status, &ice["ice_servers"]),
        (OK, &json!([{ "urls": stun }]))
    );
}

#[test]
fn turn_credentials_match_coturn_reference_vector() {
    // printf %s '1700000000:alice' | openssl dgst -sha1 -hmac secret -binary | base64
    let expected = "d8soP47RbdIKLDUOpnJPVQyq5Ts=";
    assert_eq!(hmac_sha1_base64("secret", "1700000000:alice"), expected);
    assert_eq!(turn_password("secret", "1700000000:alice"), expected);
}

// ---- ended sessions ----

#[tokio::test]
async fn ended_session_refuses_what_needs_a_live_session() {
    let app = TestApp::new().await;
    let (_, bea) = app.csr("bea", false).await;
    let (_, cid) = app.csr("cid", false).await;
    let (sid, controller) = app.start(&bea).await;
    let used = app.invite(&bea, &sid, json!({ "role": "customer" })).await;
    let customer = app.join_customer(&used, "Carol").await;
    let pending = app.invite(&bea, &sid, json!({ "role": "customer" })).await;

    app.end(&sid).await;
    assert!(
        app.state.hubs.get(&sid).is_none(),
        "an ended session has no hub"
    );

    let invitations = session_path(&sid, "/invitations");
    let revoke = format!("{invitations}/{}", text(&pending["id"]));
    #[rustfmt::skip]
    let cases = [
        ("PUT", session_path(&sid, "/notes"), Some(json!({ "notes": "late" }))),
        ("POST", invitations, Some(json!({ "role": "customer" }))),
        ("DELETE", revoke, None),
    ];
    for (method, path, body) in cases {
        let reply = app.call(method, &path, &bea, body.clone()).await;
        expect_error(&reply, CONFLICT, "session_ended");
        // Visibility comes first: an unrelated CSR still gets "not found".
        let reply = app.call(method, &path, &cid, body).await;
        expect_error(&reply, NOT_FOUND, "not_found");
    }
    let by_token = app
        .join(NOBODY, json!({ "token": pending["token"], "name": "Dan" }))
        .await;
    expect_error(&by_token, GONE, "session_ended");
    // The session's number is free again: its codes are simply wrong now.
    let by_code = app
        .join(NOBODY, json!({ "code": pending["code"], "name": "Dan" }))
        .await;
    expect_error(&by_code, NOT_FOUND, "not_found");

    // The record stays readable, with the end and the end-of-session notes.
    let record = app.record(&bea, &sid).await;
    assert_has(
        &record,
        json!({ "notes": "done", "end": { "at": record["end"]["at"], "by": 1, "reason": "ended" } }),
    );
    assert_has(
        &record["session"],
        json!({ "live": false, "ended_at": record["end"]["at"] }),
    );
    assert!(record["end"]["at"].is_u64(), "{record}");
    let last = record["events"]
        .as_array()
        .and_then(|e| e.last())
        .expect("an event");
    assert_has(
        &last["event"],
        json!({ "type": "session_ended", "notes": "done" }),
    );
    let participants = record["participants"].as_array().expect("participants");
    assert!(
        participants.iter().all(|p| p["left_at"].is_u64()),
        "everyone left"
    );
    let (_, list) = app.call("GET", SESSIONS, &bea, None).await;
    assert_eq!(list["sessions"][0]["live"], false);
    assert_eq!(app.invitations(&bea, &sid).await.len(), 2);
    let export = app
        .call("GET", &session_path(&sid, "/export"), &bea, None)
        .await;
    assert_eq!(export, (OK, record));

    // Participant tokens of an ended session get no ICE servers (nor TURN credentials).
    for token in [&controller, &customer] {
        let reply = app.call("GET", ICE, token, None).await;
        expect_error(&reply, FORBIDDEN, "not_in_session");
    }
}

// ---- recordings ----

#[tokio::test]
async fn the_controller_uploads_a_recording_into_the_record() {
    let app = TestApp::new().await;
    let r = app.recorded_session().await;
    let sid = &r.session;
    let notes = json!({ "notes": "before the recording" });
    let (status, _) = app
        .call("PUT", &session_path(sid, "/notes"), &r.bea, Some(notes))
        .await;
    assert_eq!(status, OK);

    let bytes = mkv(300_000);
    let (status, uploaded) = app
        .upload(sid, &r.controller, "?duration_ms=61000", &bytes)
        .await;
    assert_eq!(status, CREATED, "{uploaded}");
    let id = text(&uploaded["id"]);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "a UUID: {id}");
    let digest = sha256_hex(&bytes);
    assert_has(
        &uploaded,
        json!({ "session_id": sid, "size": 300_000, "sha256": digest, "duration_ms": 61000, "uploaded_by": 1 }),
    );
    assert!(uploaded["created_at"].as_u64() > Some(0), "{uploaded}");

    // The record has it, after what came before, in the CSR's record and the admin's alike.
    let record = app.record(&r.bea, sid).await;
    let events = record["events"].as_array().expect("events");
    let last = events.last().expect("an event");
    let expected = json!({ "type": "recording_attached", "by": 1, "id": id, "size": 300_000, "sha256": digest, "duration_ms": 61000 });
    assert_eq!(last["event"], expected);
    let before = &events[events.len() - 2]["event"];
    assert_eq!(before["type"], "notes_saved", "in order: {record}");
    assert!(last["seq"].as_i64() > events[events.len() - 2]["seq"].as_i64());
    assert_eq!(app.record(&app.admin, sid).await, record);

    // The file is kept in the data folder under the session, byte for byte; nothing else is.
    let stored = app
        .dir
        .join("recordings")
        .join(sid)
        .join(format!("{id}.mkv"));
    assert_eq!(app.stored_files(), std::slice::from_ref(&stored));
    assert_eq!(std::fs::read(&stored).expect("the stored file"), bytes);
    let (size, sha256, uploaded_by): (i64, String, i64) =
        sqlx::query_as("SELECT size, sha256, uploaded_by FROM recordings WHERE id = ?")
            .bind(&id)
            .fetch_one(&app.sql().await)
            .await
            .expect("the recording's row");
    assert_eq!((size, sha256, uploaded_by), (300_000, digest, 1));

    // A second one, without a duration: `null`, and both stay in the record in order.
    let second = mkv(10);
    let (status, body) = app.upload(sid, &r.controller, "", &second).await;
    assert_eq!(status, CREATED, "{body}");
    assert_eq!(body["duration_ms"], Value::Null);
    let attached = app.attached(&r.bea, sid).await;
    let ids: Vec<&Value> = attached.iter().map(|e| &e["id"]).collect();
    assert_eq!(ids, [&json!(id), &body["id"]]);
    assert_eq!(attached[1]["sha256"], json!(sha256_hex(&second)));
    assert_eq!(app.recording_rows().await, 2);
}

#[tokio::test]
async fn only_the_controller_of_a_live_session_uploads_recordings() {
    let app = TestApp::new().await;
    let r = app.recorded_session().await;
    let sid = &r.session;
    let (other_sid, other_controller) = app.start(&r.bea).await;
    let bytes = mkv(1000);

    // Refused before the body is read, with a message about recordings.
    let reply = app.upload(sid, &r.customer, "", &bytes).await;
    let message = expect_error(&reply, FORBIDDEN, "csr_only");
    assert!(message.contains("recording"), "{message}");
    let reply = app.upload(sid, &r.other_csr, "", &bytes).await;
    let message = expect_error(&reply, FORBIDDEN, "controller_only");
    assert!(message.contains("controlling"), "{message}");
    // A participant token opens only its own session; a sign-in token is no participant token.
    let reply = app.upload(sid, &other_controller, "", &bytes).await;
    expect_error(&reply, NOT_FOUND, "not_found");
    for bearer in [NOBODY, r.bea.as_str(), "garbage"] {
        let reply = app.upload(sid, bearer, "", &bytes).await;
        expect_error(&reply, UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(app.stored_files(), Vec::<PathBuf>::new());
    assert_eq!(app.recording_rows().await, 0);
    assert_eq!(app.attached(&r.bea, sid).await, Vec::<Value>::new());

    // The controller at the time: after a transfer, dee uploads and bea no longer can.
    let to_dee = Command::TransferControl {
        to: ParticipantId(3),
    };
    app.command(sid, 1, to_dee).await;
    let reply = app.upload(sid, &r.controller, "", &bytes).await;
    expect_error(&reply, FORBIDDEN, "controller_only");
    let (status, body) = app.upload(sid, &r.other_csr, "", &bytes).await;
    assert_eq!(
        (status, &body["uploaded_by"]),
        (CREATED, &json!(3)),
        "{body}"
    );
    assert_eq!(app.attached(&r.bea, sid).await[0]["by"], 3);

    // A session started while the organization disallows recording takes no recording.
    app.set_settings(default_settings()).await;
    let (off, off_controller) = app.start(&r.bea).await;
    let reply = app.upload(&off, &off_controller, "", &bytes).await;
    let message = expect_error(&reply, CONFLICT, "recording_disabled");
    assert!(message.contains("not allowed"), "{message}");
    // The policy is the session's own: the earlier session still may.
    let reply = app.upload(&other_sid, &other_controller, "", &bytes).await;
    assert_eq!(reply.0, CREATED, "{}", reply.1);
    // An ended session takes none either.
    let (ended, ended_controller) = app.start(&r.bea).await;
    app.end(&ended).await;
    let reply = app.upload(&ended, &ended_controller, "", &bytes).await;
    expect_error(&reply, CONFLICT, "session_ended");
    assert_eq!(app.recording_rows().await, 2);
    assert_eq!(app.stored_files().len(), 2);
}

#[tokio::test]
async fn uploads_that_are_not_matroska_are_refused_and_store_nothing() {
    let app = TestApp::new().await;
    let r = app.recorded_session().await;
    let sid = &r.session;
    let riff = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();

    #[rustfmt::skip]
    let cases: [(&str, &str, Vec<Vec<u8>>, &str); 7] = [
        ("", MATROSKA, vec![riff.clone()], "EBML"),
        // The magic split over chunks is still read as a whole; a wrong one is still wrong.
        ("", MATROSKA, vec![vec![0x1A, 0x45], vec![0xDF, 0x00, 1, 2]], "1A 45 DF 00"),
        ("", MATROSKA, vec![], "empty"),
        ("", MATROSKA, vec![vec![0x1A, 0x45, 0xDF]], "too short"),
        ("", "application/json", vec![mkv(100)], MATROSKA),
        ("?duration_ms=long", MATROSKA, vec![mkv(100)], "query string"),
        ("?length=5", MATROSKA, vec![mkv(100)], "query string"),
    ];
    for (query, content_type, chunks, names) in cases {
        let req = upload_request(sid, query, &r.controller, content_type, chunks);
        let reply = app.send(req).await.pair();
        let message = expect_error(&reply, BAD_REQUEST, "bad_request");
        assert!(message.contains(names), "{query} {content_type}: {message}");
    }
    assert_eq!(app.stored_files(), Vec::<PathBuf>::new());
    assert!(!app.dir.join("recordings").exists(), "not even a folder");
    assert_eq!(app.recording_rows().await, 0);
    assert_eq!(app.attached(&r.bea, sid).await, Vec::<Value>::new());
}

#[tokio::test]
async fn oversized_recordings_are_refused_and_leave_no_file() {
    const LIMIT: usize = 64 * 1024;
    let app = TestApp::new_with(|c| c.max_recording_bytes = LIMIT as u64).await;
    let r = app.recorded_session().await;
    let sid = &r.session;

    // Streamed without a declared length: refused once the limit is passed, after the file was
    // started; the partial file is removed.
    let over = mkv(LIMIT + 1);
    let chunks: Vec<Vec<u8>> = over.chunks(8 * 1024).map(<[u8]>::to_vec).collect();
    assert!(
        chunks.len() > 2,
        "the file is started before the limit is reached"
    );
    let req = upload_request(sid, "", &r.controller, MATROSKA, chunks);
    let reply = app.send(req).await.pair();
    let message = expect_error(&reply, TOO_LARGE, "too_large");
    assert!(message.contains(&LIMIT.to_string()), "{message}");
    // Declared too large: refused before reading.
    let reply = app.upload(sid, &r.controller, "", &over).await;
    expect_error(&reply, TOO_LARGE, "too_large");
    assert_eq!(app.stored_files(), Vec::<PathBuf>::new());
    assert_eq!(app.recording_rows().await, 0);
    assert_eq!(app.attached(&r.bea, sid).await, Vec::<Value>::new());

    // Exactly the limit is fine.
    let (status, body) = app.upload(sid, &r.controller, "", &mkv(LIMIT)).await;
    assert_eq!((status, &body["size"]), (CREATED, &json!(LIMIT)), "{body}");
    assert_eq!(app.stored_files().len(), 1);
}

#[tokio::test]
async fn recordings_are_downloaded_by_csrs_who_may_read_the_record() {
    let app = TestApp::new().await;
    let r = app.recorded_session().await;
    let sid = &r.session;
    let (_, cid) = app.csr("cid", false).await;
    let bytes = mkv(700_000);
    let (status, uploaded) = app.upload(sid, &r.controller, "", &bytes).await;
    assert_eq!(status, CREATED, "{uploaded}");
    let id = text(&uploaded["id"]);
    let path = session_path(sid, &format!("/recordings/{id}"));
    // Live or ended, the file stays readable.
    app.end(sid).await;

    for token in [&r.bea, &app.admin] {
        let (status, headers, body) = app.send_raw(request("GET", &path, token, None)).await;
        assert_eq!(status, OK);
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header(CONTENT_TYPE), Some(MATROSKA));
        assert_eq!(header(CONTENT_LENGTH), Some("700000"));
        let disposition = format!("attachment; filename=\"recording-{id}.mkv\"");
        assert_eq!(header(CONTENT_DISPOSITION), Some(disposition.as_str()));
        assert!(body == bytes, "the downloaded file is the uploaded one");
        assert_eq!(sha256_hex(&body), text(&uploaded["sha256"]));
    }

    // Not signed in, or holding only a participant token: 401. A CSR who did not take part:
    // the session looks missing.
    for token in [NOBODY, r.controller.as_str(), r.customer.as_str()] {
        let reply = app.call("GET", &path, token, None).await;
        expect_error(&reply, UNAUTHORIZED, "unauthorized");
    }
    expect_error(
        &app.call("GET", &path, &cid, None).await,
        NOT_FOUND,
        "not_found",
    );
    // Unknown ids, and a recording asked for under another session.
    let (other, _) = app.start(&r.bea).await;
    #[rustfmt::skip]
    let unknown = [
        session_path(sid, "/recordings/00000000-0000-0000-0000-000000000000"),
        session_path(sid, "/recordings/..%2F..%2Ftether.db"),
        session_path(&other, &format!("/recordings/{id}")),
        session_path("no-such-session", &format!("/recordings/{id}")),
    ];
    for path in unknown {
        let reply = app.call("GET", &path, &app.admin, None).await;
        expect_error(&reply, NOT_FOUND, "not_found");
    }
}

// ---- responses outside the API's error type ----

#[tokio::test]
async fn framework_rejections_are_api_errors() {
    let app = TestApp::new().await;
    // Bad query strings, bad path parameters and wrong methods get the same
    // `{"code", "message"}` body as every other API error, naming the problem.
    #[rustfmt::skip]
    let bad_queries = [("/api/v1/sessions?all=maybe", "all"), ("/api/v1/sessions?sort=asc", "sort"), ("/api/v1/sessions?limit=ten", "limit")];
    for (path, names) in bad_queries {
        let reply = app.call("GET", path, &app.admin, None).await;
        let message = expect_error(&reply, BAD_REQUEST, "bad_request");
        assert!(
            message.contains("query string") && message.contains(names),
            "{path}: {message}"
        );
    }
    let disable = Some(json!({ "disabled": true }));
    let reply = app
        .call("PATCH", "/api/v1/admin/csrs/abc", &app.admin, disable)
        .await;
    let message = expect_error(&reply, BAD_REQUEST, "bad_request");
    assert!(message.contains("invalid path"), "{message}");
    for (method, path) in [("DELETE", LOGIN), ("GET", JOIN), ("PUT", SESSIONS)] {
        let reply = app.call(method, path, &app.admin, None).await;
        expect_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    }
}

#[tokio::test]
async fn the_helper_is_offered_for_download_only_when_the_server_has_it() {
    const HELPER: &str = "/downloads/tether-helper";
    // None configured, and none beside the test binary: 404 in words.
    let app = TestApp::new().await;
    let reply = app.call("GET", HELPER, NOBODY, None).await;
    expect_error(&reply, NOT_FOUND, "not_found");
    assert!(
        reply.1.to_string().contains("does not offer the helper"),
        "{}",
        reply.1
    );

    // Configured: anyone may download it (a customer has no account), as an attachment.
    let dir = std::env::temp_dir().join(format!("tether-helper-dl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let binary = dir.join("tether-helper");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&binary, &bytes).expect("write");
    let app = TestApp::new_with(|c| c.helper_binary = Some(binary.clone())).await;
    let (status, headers, body) = app.send_raw(request("GET", HELPER, NOBODY, None)).await;
    assert_eq!(status, OK);
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(header(CONTENT_TYPE), Some("application/octet-stream"));
    assert_eq!(header(CONTENT_LENGTH), Some("300000"));
    assert_eq!(
        header(CONTENT_DISPOSITION),
        Some("attachment; filename=\"tether-helper\"")
    );
    assert!(body == bytes, "the download is the configured binary");

    // A configured path that is gone: 404, never a server error.
    std::fs::remove_file(&binary).expect("remove");
    let reply = app.call("GET", HELPER, NOBODY, None).await;
    expect_error(&reply, NOT_FOUND, "not_found");
    let _ = std::fs::remove_dir_all(dir);
}
