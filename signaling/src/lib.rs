//! tether's signaling service: CSR accounts, sessions, invitations and the role rules (from
//! `tether-protocol`), a WebSocket relay for WebRTC signaling, session records in SQLite, and the
//! web pages. It never carries media or file contents.
//!
//! `main.rs` is a thin shim over [`run`]; tests call [`app`] with a router-level state, or
//! [`Service::start`] for a real listener on `127.0.0.1:0`.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod hub;
pub mod mail;
pub mod ratelimit;
pub mod routes;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod ws;

use crate::config::Config;
use crate::db::Db;
use crate::hub::{CLOSE_GOING_AWAY, Hub};
use crate::routes::{MAX_BODY_BYTES, accounts, downloads, ice, invitations, recordings, sessions};
use crate::state::{AppState, now_ms};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post, put};
use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/login", post(accounts::login))
        .route("/logout", post(accounts::logout))
        .route("/me", get(accounts::me))
        .route("/me/password", post(accounts::change_password))
        .route("/session-types", get(accounts::session_types))
        .route(
            "/admin/csrs",
            get(accounts::list_csrs).post(accounts::create_csr),
        )
        .route("/admin/csrs/{id}", patch(accounts::update_csr))
        .route(
            "/admin/settings",
            get(accounts::get_settings).put(accounts::put_settings),
        )
        .route("/admin/mail", get(accounts::mail_status))
        .route("/sessions", get(sessions::list).post(sessions::start))
        .route("/sessions/{id}", get(sessions::record))
        .route("/sessions/{id}/export", get(sessions::export))
        .route("/sessions/{id}/notes", put(sessions::save_notes))
        .route(
            "/sessions/{id}/invitations",
            get(invitations::list).post(invitations::create),
        )
        .route(
            "/sessions/{id}/invitations/{invitation}",
            axum::routing::delete(invitations::revoke),
        )
        // The upload streams its raw body to disk under its own limit
        // (`max_recording_bytes`); `DefaultBodyLimit` applies only to buffering extractors.
        .route("/sessions/{id}/recordings", post(recordings::upload))
        .route(
            "/sessions/{id}/recordings/{recording}",
            get(recordings::download),
        )
        .route("/join", post(invitations::join))
        .route("/ice", get(ice::ice))
        .route("/ws", get(ws::upgrade))
        .fallback(|| async { error::ApiError::NotFound("no such API endpoint".into()) })
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed });
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/downloads/tether-helper", get(downloads::helper))
        .nest("/api/v1", api)
        .fallback_service(ServeDir::new(&state.config.web_dir))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// On first start with no accounts, create the admin account with a one-time password (it must
/// be changed at first sign-in) and return that password.
pub async fn bootstrap_admin(db: &Db) -> anyhow_free::Result<Option<String>> {
    if db.csr_count().await? > 0 {
        return Ok(None);
    }
    let password = secrets::new_password();
    let hash =
        secrets::hash_password(&password).map_err(<anyhow_free::Error as anyhow_free::Msg>::msg)?;
    db.create_csr("admin", "Administrator", &hash, true, true, now_ms())
        .await?;
    Ok(Some(password))
}

/// Load live sessions from storage after a restart; their participants get a grace period.
async fn resume_sessions(state: &AppState) -> Result<(), sqlx::Error> {
    for row in state.db.live_sessions().await? {
        let hub = Arc::new(Hub::new(row.id.clone(), row.number, row.state));
        state.hubs.insert(hub.clone());
        hub.resume_after_restart(state).await;
    }
    Ok(())
}

/// A running service.
#[derive(Debug)]
pub struct Service {
    pub addr: SocketAddr,
    pub url: String,
    /// Set on the first start with an empty database.
    pub admin_password: Option<String>,
    pub state: AppState,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Service {
    /// Open storage, bind, and serve in the background.
    pub async fn start(config: Config) -> anyhow_free::Result<Service> {
        // Wrong mail settings stop the start before anything is created (a first admin's
        // one-time password would be lost otherwise).
        mail::Mailer::from_config(&config, &config.public_url(config.listen))?;
        let db = Db::open(&config.db).await?;
        let admin_password = bootstrap_admin(&db).await?;
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let url = config.public_url(addr);
        let mailer = mail::Mailer::from_config(&config, &url)?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = AppState::with_mailer(db, config, url.clone(), shutdown_rx.clone(), mailer);
        resume_sessions(&state).await?;
        let router = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let mut stop = shutdown_rx;
        let task = tokio::spawn(async move {
            // Without TCP_NODELAY, Nagle holds a small message queued behind an unacknowledged
            // one (e.g. a candidate right after an answer) for a delayed ACK: ~40 ms stalls.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await
        });
        Ok(Service {
            addr,
            url,
            admin_password,
            state,
            shutdown,
            task,
        })
    }

    /// Close every WebSocket with "going away", stop accepting, and wait for the server to stop.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for hub in self.state.hubs.all() {
            hub.close_all(CLOSE_GOING_AWAY, "service shutting down")
                .await;
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
        self.state.db.close().await;
    }
}

/// The binary: parse configuration, serve until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> anyhow_free::Result<()> {
    let db_path = config.db.display().to_string();
    let service = Service::start(config).await?;
    if let Some(password) = &service.admin_password {
        tracing::warn!(
            "created the first administrator: username \"admin\", one-time password \"{password}\" (you must change it at first sign-in)"
        );
    }
    tracing::info!(url = %service.url, db = %db_path, "tether signaling is listening");
    println!(
        "tether signaling: open {} (database {db_path})",
        service.url
    );
    if let Some(password) = &service.admin_password {
        println!("first start: sign in as \"admin\" with the one-time password {password}");
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    service.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// A boxed error with its chain, for start-up failures (no extra dependency).
pub mod anyhow_free {
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
    pub type Result<T> = std::result::Result<T, Error>;
    pub trait Msg {
        fn msg(m: String) -> Error;
    }
    impl Msg for Error {
        fn msg(m: String) -> Error {
            m.into()
        }
    }
}
