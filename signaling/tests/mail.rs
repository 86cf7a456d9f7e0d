//! Invitations by e-mail against a real SMTP server (aiosmtpd, see `tests/src/smtp.rs` of the
//! workspace's test crate): the message arrives with the link and the code, its token admits
//! the customer; refused addresses, bad addresses and an unreachable relay are answered in
//! words and leave no usable invitation; without a relay the console is told and e-mail is
//! refused; the mail settings admins see never include the password; wrong mail settings stop
//! the service at start.

#[path = "../../tests/src/smtp.rs"]
mod smtp;

use axum::Router;
use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use smtp::{SmtpServer, free_port, link_in};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tether_signaling::config::{Config, Secret, SmtpSecurity};
use tether_signaling::db::Db;
use tether_signaling::mail::Mailer;
use tether_signaling::state::{AppState, now_ms};
use tether_signaling::{Service, app, bootstrap_admin};
use tokio::sync::watch;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(20);

static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "tether-mail-test-{}-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::Relaxed),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

/// Mail through a relay on `port` of the loopback, without encryption.
fn relay_on(port: u16) -> impl FnOnce(&mut Config) {
    move |c| {
        c.smtp_host = Some("127.0.0.1".into());
        c.smtp_port = Some(port);
        c.smtp_security = SmtpSecurity::None;
        c.smtp_from = Some("Example Support <support@example.com>".into());
    }
}

/// A router over a fresh database whose admin has changed its one-time password and signed in.
struct TestApp {
    router: Router,
    state: AppState,
    admin: String,
    _shutdown: watch::Sender<bool>,
}

impl TestApp {
    async fn new(dir: &std::path::Path, tune: impl FnOnce(&mut Config)) -> TestApp {
        let db_path = dir.join("tether.db");
        let db = Db::open(&db_path).await.expect("open the database");
        let once = bootstrap_admin(&db)
            .await
            .expect("bootstrap")
            .expect("a first admin");
        let mut config = Config::for_tests(db_path);
        tune(&mut config);
        let (shutdown, rx) = watch::channel(false);
        let state = AppState::new(db, config, "http://test".into(), rx);
        let mut app = TestApp {
            router: app(state.clone()),
            state,
            admin: String::new(),
            _shutdown: shutdown,
        };
        let token = app.login("admin", &once).await;
        let change = json!({ "current": once, "new": PASSWORD });
        let (status, body) = app
            .call("POST", "/api/v1/me/password", &token, Some(change))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        app.admin = token;
        app
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if !bearer.is_empty() {
            req = req.header(AUTHORIZATION, format!("Bearer {bearer}"));
        }
        let req = match body {
            Some(b) => req
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("a request");
        let response = self.router.clone().oneshot(req).await.expect("a response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let creds = json!({ "username": username, "password": password });
        let (status, body) = self.call("POST", "/api/v1/login", "", Some(creds)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// A session the admin started: its id.
    async fn session(&self) -> String {
        let (status, body) = self
            .call("POST", "/api/v1/sessions", &self.admin, Some(json!({})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["session"]["id"].as_str().expect("an id").to_owned()
    }

    async fn invite(&self, session: &str, body: Value) -> (StatusCode, Value) {
        let path = format!("/api/v1/sessions/{session}/invitations");
        self.call("POST", &path, &self.admin, Some(body)).await
    }

    async fn invitations(&self, session: &str) -> Vec<Value> {
        let path = format!("/api/v1/sessions/{session}/invitations");
        let (status, body) = self.call("GET", &path, &self.admin, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["invitations"].as_array().cloned().unwrap_or_default()
    }
}

fn expect_error(reply: &(StatusCode, Value), status: StatusCode, code: &str) -> String {
    assert_eq!(
        (reply.0, reply.1["code"].as_str()),
        (status, Some(code)),
        "{}",
        reply.1
    );
    reply.1["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_emailed_invitation_arrives_and_its_link_admits_the_customer() {
    let dir = temp_dir();
    let server = SmtpServer::start(&dir);
    let app = TestApp::new(&dir, relay_on(server.port)).await;
    let (status, types) = app
        .call("GET", "/api/v1/session-types", &app.admin, None)
        .await;
    assert_eq!(
        (status, &types["mail_configured"]),
        (StatusCode::OK, &json!(true))
    );

    let session = app.session().await;
    let body = json!({ "role": "customer", "email": " carla@example.com ", "ttl_secs": 900 });
    let (status, invitation) = app.invite(&session, body).await;
    assert_eq!(status, StatusCode::CREATED, "{invitation}");
    assert_eq!(invitation["emailed_to"], "carla@example.com");

    let messages = server.wait_for(1, WAIT).await;
    let mail = &messages[0];
    assert_eq!(mail["rcpt_tos"], json!(["carla@example.com"]));
    assert_eq!(mail["mail_from"], "support@example.com");
    assert_eq!(mail["from"], "Example Support <support@example.com>");
    assert_eq!(mail["subject"], "Your invitation to a support session");
    let text = mail["body"].as_str().expect("a text body");
    assert!(text.contains("Administrator invites you"), "{text}");
    assert!(text.contains("expires in 15 minutes"), "{text}");
    let code = invitation["code"].as_str().expect("a code");
    assert!(text.contains(&format!("enter the code {code}")), "{text}");
    let (link, token) = link_in(text);
    assert_eq!(link, invitation["link"].as_str().expect("a link"));
    assert_eq!(token, invitation["token"].as_str().expect("a token"));

    // The token from the message is the one that works.
    let join = json!({ "token": token, "name": "Carla" });
    let (status, joined) = app.call("POST", "/api/v1/join", "", Some(join)).await;
    assert_eq!(status, StatusCode::CREATED, "{joined}");
    assert_eq!(joined["session_id"], session.as_str());
    assert_eq!(joined["participant"]["role"], "primary_customer");

    // A CSR invitation says to sign in first; no code for it is read over the phone.
    let body = json!({ "role": "csr", "email": "bruno@example.org" });
    let (status, invitation) = app.invite(&session, body).await;
    assert_eq!(status, StatusCode::CREATED, "{invitation}");
    let messages = server.wait_for(2, WAIT).await;
    let mail = &messages[1];
    assert_eq!(mail["subject"], "Invitation to assist in a support session");
    let text = mail["body"].as_str().expect("a text body");
    assert!(text.contains("Sign in to the console"), "{text}");
    assert_eq!(
        link_in(text).1,
        invitation["token"].as_str().expect("token")
    );
}

#[tokio::test]
async fn refused_bad_and_undeliverable_addresses_are_said_in_words() {
    let dir = temp_dir();
    let server = SmtpServer::start(&dir);
    let app = TestApp::new(&dir, relay_on(server.port)).await;
    let session = app.session().await;

    // The relay refuses the recipient: no usable invitation is left behind.
    let reply = app
        .invite(
            &session,
            json!({ "role": "customer", "email": "nobody@example.com" }),
        )
        .await;
    let message = expect_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "mail_refused");
    assert!(
        message.contains("the mail server refused the address nobody@example.com")
            && message.contains("550"),
        "{message}"
    );
    let listed = app.invitations(&session).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0]["revoked_at"].is_number(), "{listed:?}");

    // Addresses that are not addresses never reach the relay, nor make an invitation.
    for bad in [
        "carla",
        "carla@example.com, eve@example.com",
        "a@b\r\nBcc: x@y.z",
        "",
    ] {
        let reply = app
            .invite(&session, json!({ "role": "customer", "email": bad }))
            .await;
        let message = expect_error(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_field");
        assert!(message.starts_with("email: "), "{message}");
    }
    assert_eq!(app.invitations(&session).await.len(), 1);
    assert!(server.messages().is_empty());

    // A relay that is not there.
    let down = TestApp::new(&temp_dir(), relay_on(free_port())).await;
    let session = down.session().await;
    let reply = down
        .invite(
            &session,
            json!({ "role": "customer", "email": "carla@example.com" }),
        )
        .await;
    let message = expect_error(&reply, StatusCode::BAD_GATEWAY, "mail_failed");
    assert!(message.contains("can't be reached"), "{message}");
    let listed = down.invitations(&session).await;
    assert!(listed[0]["revoked_at"].is_number(), "{listed:?}");
}

#[tokio::test]
async fn without_a_relay_invitations_are_not_emailed() {
    let app = TestApp::new(&temp_dir(), |_| {}).await;
    let (_, types) = app
        .call("GET", "/api/v1/session-types", &app.admin, None)
        .await;
    assert_eq!(types["mail_configured"], false);
    let (status, mail) = app
        .call("GET", "/api/v1/admin/mail", &app.admin, None)
        .await;
    assert_eq!(
        (status, &mail["configured"]),
        (StatusCode::OK, &json!(false))
    );
    let session = app.session().await;
    let reply = app
        .invite(
            &session,
            json!({ "role": "customer", "email": "carla@example.com" }),
        )
        .await;
    let message = expect_error(&reply, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(message.contains("no mail server configured"), "{message}");
    assert!(app.invitations(&session).await.is_empty());
    // Without an e-mail address nothing changes.
    let (status, invitation) = app.invite(&session, json!({ "role": "customer" })).await;
    assert_eq!(status, StatusCode::CREATED, "{invitation}");
    assert_eq!(invitation["emailed_to"], Value::Null);
}

#[tokio::test]
async fn admins_see_the_mail_settings_but_never_the_password() {
    let secret = "relay-password-never-shown";
    let app = TestApp::new(&temp_dir(), |c| {
        relay_on(2525)(c);
        c.smtp_security = SmtpSecurity::Starttls;
        c.smtp_host = Some("mail.example.com".into());
        c.smtp_username = Some("tether".into());
        c.smtp_password = Some(Secret::new(secret));
    })
    .await;
    let (status, mail) = app
        .call("GET", "/api/v1/admin/mail", &app.admin, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        mail,
        json!({
            "configured": true, "host": "mail.example.com", "port": 2525, "security": "starttls",
            "from": "Example Support <support@example.com>", "username": "tether",
            "password_set": true,
        })
    );
    for shown in [
        mail.to_string(),
        format!("{:?}", app.state.config),
        format!("{:?}", app.state.mailer),
    ] {
        assert!(!shown.contains(secret), "the password shows in {shown}");
    }
    // Other CSRs are refused.
    let bea = json!({ "username": "bea", "display_name": "Bea", "password": PASSWORD });
    let (status, body) = app
        .call("POST", "/api/v1/admin/csrs", &app.admin, Some(bea))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bea = app.login("bea", PASSWORD).await;
    let reply = app.call("GET", "/api/v1/admin/mail", &bea, None).await;
    expect_error(&reply, StatusCode::FORBIDDEN, "admin_only");
    let reply = app.call("GET", "/api/v1/admin/mail", "", None).await;
    expect_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn wrong_mail_settings_stop_the_service_at_start() {
    type Tune = Box<dyn Fn(&mut Config)>;
    let cases: [(&str, Tune); 5] = [
        (
            "--smtp-host and --smtp-from",
            Box::new(|c| c.smtp_host = Some("127.0.0.1".into())),
        ),
        (
            "--smtp-host and --smtp-from",
            Box::new(|c| c.smtp_from = Some("a@example.com".into())),
        ),
        (
            "is not an e-mail address",
            Box::new(|c| {
                relay_on(25)(c);
                c.smtp_from = Some("support".into());
            }),
        ),
        (
            "--smtp-username and --smtp-password",
            Box::new(|c| {
                relay_on(25)(c);
                c.smtp_username = Some("tether".into());
            }),
        ),
        (
            "unencrypted",
            Box::new(|c| {
                relay_on(25)(c);
                c.smtp_host = Some("mail.example.com".into());
                c.smtp_username = Some("tether".into());
                c.smtp_password = Some(Secret::new("x"));
            }),
        ),
    ];
    for (words, tune) in cases {
        let dir = temp_dir();
        let mut config = Config::for_tests(dir.join("tether.db"));
        tune(&mut config);
        let error = Mailer::from_config(&config, "http://127.0.0.1:8080")
            .err()
            .unwrap_or_else(|| panic!("accepted settings without {words}"));
        assert!(error.contains(words), "{error}");
        let error = Service::start(config)
            .await
            .err()
            .unwrap_or_else(|| panic!("the service started without {words}"));
        assert!(error.to_string().contains(words), "{error}");
        // Nothing was created: not even the first admin, whose password would be lost.
        assert!(!dir.join("tether.db").exists(), "a database was created");
    }
    // A password to a relay on this machine may travel without encryption.
    let mut config = Config::for_tests(temp_dir().join("tether.db"));
    relay_on(25)(&mut config);
    config.smtp_username = Some("tether".into());
    config.smtp_password = Some(Secret::new("x"));
    assert!(matches!(
        Mailer::from_config(&config, "http://x"),
        Ok(Some(_))
    ));
}
