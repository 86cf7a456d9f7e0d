//! Shared service state handed to every handler, and the wall clock (read here, passed to the
//! protocol crate as `now`).

use crate::config::Config;
use crate::db::Db;
use crate::hub::Hubs;
use crate::mail::Mailer;
use crate::ratelimit::Limiter;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tether_protocol::Millis;
use tokio::sync::watch;

pub fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

#[derive(Debug)]
pub struct Inner {
    pub db: Db,
    pub config: Config,
    pub hubs: Hubs,
    pub limiter: Limiter,
    /// The mail relay for invitations by e-mail, when one is configured.
    pub mailer: Option<Mailer>,
    /// Base of invitation links.
    pub public_url: String,
    /// Turns true when the service shuts down; connections close with "going away".
    pub shutdown: watch::Receiver<bool>,
}

/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// The state for `config`; mail settings that are wrong are logged and leave mail off
    /// (`Service::start` refuses to start with them).
    pub fn new(
        db: Db,
        config: Config,
        public_url: String,
        shutdown: watch::Receiver<bool>,
    ) -> AppState {
        let mailer = Mailer::from_config(&config, &public_url).unwrap_or_else(|e| {
            tracing::error!("{e}");
            None
        });
        AppState::with_mailer(db, config, public_url, shutdown, mailer)
    }

    pub fn with_mailer(
        db: Db,
        config: Config,
        public_url: String,
        shutdown: watch::Receiver<bool>,
        mailer: Option<Mailer>,
    ) -> AppState {
        let limiter = Limiter::new(
            config.code_attempts_per_address,
            config.code_attempts_per_session,
            config.login_attempts_per_address,
            Duration::from_secs(config.code_window_secs),
        );
        AppState(Arc::new(Inner {
            db,
            config,
            hubs: Hubs::default(),
            limiter,
            mailer,
            public_url,
            shutdown,
        }))
    }
}
