//! Service configuration: command-line flags, each also readable from a `TETHER_*` variable.

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "tether-signaling",
    version,
    about = "tether signaling service: sessions, invitations, role rules and WebSocket relay"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "TETHER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// SQLite database file (created if missing).
    #[arg(long, env = "TETHER_DB", default_value = "tether.db")]
    pub db: PathBuf,
    /// Folder of the web pages served at `/`.
    #[arg(long, env = "TETHER_WEB_DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../web"))]
    pub web_dir: PathBuf,
    /// Public base URL used in invitation links (default: http://<listen>).
    #[arg(long, env = "TETHER_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds a participant whose connection dropped keeps its place and role.
    #[arg(long, env = "TETHER_RECONNECT_GRACE_SECS", default_value_t = 60)]
    pub reconnect_grace_secs: u64,
    /// Seconds between WebSocket pings; a connection silent for three of these is closed.
    #[arg(long, env = "TETHER_HEARTBEAT_SECS", default_value_t = 20)]
    pub heartbeat_secs: u64,
    /// Lifetime of a sign-in, in hours.
    #[arg(long, env = "TETHER_SIGN_IN_HOURS", default_value_t = 12)]
    pub sign_in_hours: u64,
    /// Default invitation lifetime in seconds (a request may ask for 60 to 604800).
    #[arg(long, env = "TETHER_INVITATION_TTL_SECS", default_value_t = 3600)]
    pub invitation_ttl_secs: u64,
    /// Failed short-code guesses allowed per client address per window.
    #[arg(long, env = "TETHER_CODE_ATTEMPTS_PER_ADDRESS", default_value_t = 10)]
    pub code_attempts_per_address: u32,
    /// Failed short-code guesses allowed per session per window.
    #[arg(long, env = "TETHER_CODE_ATTEMPTS_PER_SESSION", default_value_t = 20)]
    pub code_attempts_per_session: u32,
    /// Failed sign-ins allowed per client address per window.
    #[arg(long, env = "TETHER_LOGIN_ATTEMPTS_PER_ADDRESS", default_value_t = 20)]
    pub login_attempts_per_address: u32,
    /// Length of the rate-limit windows, in seconds.
    #[arg(long, env = "TETHER_CODE_WINDOW_SECS", default_value_t = 600)]
    pub code_window_secs: u64,
    /// Behind a reverse proxy: take the client address from the last `X-Forwarded-For` entry
    /// (the one the proxy appended) for rate limits. Only enable it when every request comes
    /// through a proxy that sets the header, or clients could forge their address.
    #[arg(long, env = "TETHER_TRUST_FORWARDED_FOR", default_value_t = false)]
    pub trust_forwarded_for: bool,
    /// Messages queued for one slow WebSocket client before it is disconnected.
    #[arg(long, env = "TETHER_OUTGOING_QUEUE", default_value_t = 256)]
    pub outgoing_queue: usize,
    /// Largest session recording a controller may upload, in bytes (default 2 GiB).
    #[arg(long, env = "TETHER_MAX_RECORDING_BYTES", default_value_t = 2 * 1024 * 1024 * 1024)]
    pub max_recording_bytes: u64,
    /// The customer helper binary offered at `/downloads/tether-helper` (default: the
    /// `tether-helper` built beside this service's own executable, if there is one).
    #[arg(long, env = "TETHER_HELPER_BINARY")]
    pub helper_binary: Option<PathBuf>,
    /// Mail relay for invitations by e-mail (host name or address). Without it (and
    /// `--smtp-from`) invitations can't be e-mailed.
    #[arg(long, env = "TETHER_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// Port of the mail relay (default: 587 for starttls, 465 for tls, 25 for none).
    #[arg(long, env = "TETHER_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// How the connection to the mail relay is protected.
    #[arg(long, env = "TETHER_SMTP_SECURITY", value_enum, default_value_t = SmtpSecurity::Starttls)]
    pub smtp_security: SmtpSecurity,
    /// Sender of invitation e-mails, e.g. `Support <support@example.com>`.
    #[arg(long, env = "TETHER_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// User name for the mail relay's sign-in (none: send without signing in).
    #[arg(long, env = "TETHER_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// Password for the mail relay's sign-in; prefer the environment variable to the flag.
    #[arg(long, env = "TETHER_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<Secret>,
}

/// How the service talks to its mail relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (required; the usual submission port 587).
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or a trusted local network.
    None,
}

impl SmtpSecurity {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SmtpSecurity::Starttls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::None => "none",
        }
    }
}

/// A configured secret: its `Debug` never shows the value, so it stays out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl Config {
    /// Defaults for tests and embedding, with the given database file.
    pub fn for_tests(db: PathBuf) -> Config {
        let mut c = Config::parse_from(["tether-signaling"]);
        c.db = db;
        c.listen = ([127, 0, 0, 1], 0).into();
        c.max_recording_bytes = 1024 * 1024;
        c
    }

    /// The helper binary to offer for download, if there is one: `--helper-binary`, else
    /// `tether-helper` beside the running executable.
    pub fn helper_path(&self) -> Option<PathBuf> {
        let path = match &self.helper_binary {
            Some(path) => path.clone(),
            None => std::env::current_exe()
                .ok()?
                .parent()?
                .join("tether-helper"),
        };
        path.is_file().then_some(path)
    }

    /// The service's data folder: the folder of the database file.
    pub fn data_dir(&self) -> PathBuf {
        match self.db.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Where uploaded session recordings are kept: `recordings/` in the data folder, one folder
    /// per session.
    pub fn recordings_dir(&self) -> PathBuf {
        self.data_dir().join("recordings")
    }

    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }
}
