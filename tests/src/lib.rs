//! Test harness shared by the workspace integration tests: a real service on `127.0.0.1:0`
//! with its own SQLite file, REST through the engine's client, and a raw WebSocket participant
//! client (raw, so tests can send malformed frames and watch closes).

pub mod browser;
pub mod smtp;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tether_engine::service::ServiceUrl;
use tether_signaling::Service;
use tether_signaling::config::Config;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Every wait in these tests is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);
/// The admin password the harness sets after the first start.
pub const ADMIN_PASSWORD: &str = "admin password for tests";

/// A fresh folder for one test's database.
pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tether-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A running service and an admin signed in to it.
#[derive(Debug)]
pub struct TestService {
    pub service: Service,
    pub addr: SocketAddr,
    pub admin: String,
}

impl TestService {
    /// Start on `db` with `tune` applied to the test configuration. On first start the one-time
    /// admin password is changed to `ADMIN_PASSWORD`.
    pub async fn start(db: PathBuf, tune: impl FnOnce(&mut Config)) -> TestService {
        let mut config = Config::for_tests(db);
        tune(&mut config);
        let service = Service::start(config).await.expect("service starts");
        let addr = service.addr;
        let admin = match &service.admin_password {
            Some(once) => {
                let token = login_with(addr, "admin", once).await;
                let (status, body) = http(
                    addr,
                    "POST",
                    "/api/v1/me/password",
                    Some(&token),
                    Some(json!({"current": once, "new": ADMIN_PASSWORD})),
                )
                .await;
                assert_eq!(status, 200, "{body}");
                token
            }
            None => login_with(addr, "admin", ADMIN_PASSWORD).await,
        };
        TestService {
            service,
            addr,
            admin,
        }
    }

    pub async fn stop(self) {
        self.service.stop().await;
    }

    pub async fn http(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        http(self.addr, method, path, token, body).await
    }

    /// Create a CSR account and sign it in; returns its token.
    pub async fn csr(&self, username: &str, display_name: &str) -> String {
        let password = format!("{username} password 123");
        let (status, body) = self
            .http(
                "POST",
                "/api/v1/admin/csrs",
                Some(&self.admin),
                Some(json!({"username": username, "display_name": display_name, "password": password})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        login_with(self.addr, username, &password).await
    }

    /// Start a session as `csr`; returns (session id, participant token of the controller).
    pub async fn start_session(&self, csr: &str, body: Value) -> (String, String) {
        let (status, body) = self
            .http("POST", "/api/v1/sessions", Some(csr), Some(body))
            .await;
        assert_eq!(status, 201, "{body}");
        (
            str_at(&body, "/session/id"),
            str_at(&body, "/participant/token"),
        )
    }

    /// Invite for `role`; returns the invitation JSON (token, code, link...).
    pub async fn invite(&self, csr: &str, session: &str, role: &str) -> Value {
        let path = format!("/api/v1/sessions/{session}/invitations");
        let (status, body) = self
            .http("POST", &path, Some(csr), Some(json!({"role": role})))
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Join with `how` (`{"token":..}` or `{"code":..}`) and a name, optionally signed in.
    pub async fn join(&self, mut how: Value, name: &str, signed_in: Option<&str>) -> (u16, Value) {
        how["name"] = json!(name);
        self.http("POST", "/api/v1/join", signed_in, Some(how))
            .await
    }

    /// Join and return the participant token.
    pub async fn join_ok(&self, how: Value, name: &str, signed_in: Option<&str>) -> String {
        let (status, body) = self.join(how, name, signed_in).await;
        assert_eq!(status, 201, "{body}");
        str_at(&body, "/participant/token")
    }

    /// Connect a participant's WebSocket and complete the hello.
    pub async fn connect(&self, token: &str) -> Client {
        Client::connect(self.addr, token).await
    }
}

pub fn str_at(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v}"))
        .to_owned()
}

pub async fn login_with(addr: SocketAddr, username: &str, password: &str) -> String {
    let (status, body) = http(
        addr,
        "POST",
        "/api/v1/login",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    str_at(&body, "/token")
}

/// One REST request through the engine's client; returns the status and the JSON body
/// (`Value::Null` when the body is empty or not JSON).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let url = ServiceUrl::parse(&format!("http://{addr}")).expect("loopback URL");
    url.exchange(method, path, token, body.as_ref())
        .await
        .expect("HTTP exchange")
}

/// A participant's signaling connection.
#[derive(Debug)]
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub welcome: Value,
    pub id: u64,
    next_ping: u64,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed {
    pub code: Option<u16>,
    pub reason: String,
}

impl Client {
    /// Open a socket and send `hello` only; the caller reads what comes back.
    pub async fn raw(addr: SocketAddr) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
        let url = format!("ws://{addr}/api/v1/ws");
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("ws connect timed out")
            .expect("ws connect");
        ws
    }

    pub async fn connect(addr: SocketAddr, token: &str) -> Client {
        let ws = Client::raw(addr).await;
        let mut c = Client {
            ws,
            welcome: Value::Null,
            id: 0,
            next_ping: 1,
        };
        c.send(json!({"type": "hello", "version": 1, "token": token}))
            .await;
        let welcome = c.expect("welcome", |m| m["type"] == "welcome").await;
        c.id = welcome["you"]
            .as_u64()
            .expect("welcome names the participant");
        c.welcome = welcome;
        c
    }

    pub fn role(&self) -> &str {
        self.welcome["role"].as_str().unwrap_or("")
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("ws send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("ws send");
    }

    /// The next JSON message, or `Err` with how the connection closed.
    pub async fn next(&mut self) -> Result<Value, Closed> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("no message within the wait");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Ok(serde_json::from_str(t.as_str()).expect("server sends JSON"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) => {
                    return Err(Closed {
                        code: None,
                        reason: String::new(),
                    });
                }
                None => {
                    return Err(Closed {
                        code: None,
                        reason: String::new(),
                    });
                }
            }
        }
    }

    /// Read until a message satisfies `pred`; panics (listing what came) if the connection
    /// closes first or the wait runs out.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Ok(m) if pred(&m) => return m,
                Ok(m) => seen.push(m),
                Err(closed) => {
                    panic!("connection closed ({closed:?}) while waiting for {what}; saw {seen:#?}")
                }
            }
        }
    }

    /// Read until an error message arrives and return it; fails on anything but roster/event noise.
    pub async fn expect_error(&mut self, code: &str) -> Value {
        let e = self
            .expect(&format!("error {code}"), |m| m["type"] == "error")
            .await;
        assert_eq!(e["code"], code, "unexpected error: {e}");
        e
    }

    /// Read until an event of `kind` arrives.
    pub async fn expect_event(&mut self, kind: &str) -> Value {
        self.expect(&format!("event {kind}"), |m| {
            m["type"] == "event" && m["event"]["type"] == kind
        })
        .await["event"]
            .clone()
    }

    /// Send a ping and return every message that arrived before its pong: a fence that proves
    /// what was (not) delivered up to now.
    pub async fn until_pong(&mut self) -> Vec<Value> {
        let id = self.next_ping;
        self.next_ping += 1;
        self.send(json!({"type": "ping", "id": id})).await;
        let mut before = Vec::new();
        loop {
            let m = self
                .next()
                .await
                .unwrap_or_else(|c| panic!("closed ({c:?}) before pong"));
            if m["type"] == "pong" && m["id"] == id {
                return before;
            }
            before.push(m);
        }
    }

    /// Read until the connection closes; returns the close and the messages before it.
    pub async fn until_closed(&mut self) -> (Closed, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            match self.next().await {
                Ok(m) => before.push(m),
                Err(c) => return (c, before),
            }
        }
    }
}

/// The close code the service uses for a normal end.
pub fn normal_close() -> u16 {
    u16::from(CloseCode::Normal)
}
