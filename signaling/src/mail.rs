//! Invitations by e-mail: the mail relay the service is configured with (`--smtp-*`), the
//! invitation message, and the relay's refusals in words. The invitation link is a secret: it
//! goes into the message and nowhere else (never into a log or an error).

use crate::config::{Config, SmtpSecurity};
use crate::error::ApiError;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use std::net::IpAddr;
use std::time::Duration;
use tether_protocol::InviteRole;

/// How long one delivery to the relay may take before it counts as unreachable.
const RELAY_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest address SMTP carries (RFC 5321: 256 octets of path, less the brackets).
const MAX_ADDRESS: usize = 254;

/// What admins may see of the mail configuration: never the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailStatus {
    pub configured: bool,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<&'static str>,
    pub from: Option<String>,
    pub username: Option<String>,
    pub password_set: bool,
}

impl MailStatus {
    pub fn unconfigured() -> MailStatus {
        MailStatus {
            configured: false,
            host: None,
            port: None,
            security: None,
            from: None,
            username: None,
            password_set: false,
        }
    }
}

/// The configured relay and sender.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    status: MailStatus,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("status", &self.status)
            .finish()
    }
}

/// One invitation to send: who invites, for which role, the link and the short code.
#[derive(Debug)]
pub struct InvitationMail<'a> {
    pub inviter: &'a str,
    pub role: InviteRole,
    pub link: &'a str,
    pub code: Option<&'a str>,
    pub join_page: &'a str,
    pub ttl_secs: u64,
}

impl Mailer {
    /// The mailer of `config`, `None` when no relay is configured, or what is wrong with the
    /// mail settings. `public_url` names this service to the relay (EHLO).
    pub fn from_config(config: &Config, public_url: &str) -> Result<Option<Mailer>, String> {
        let (host, from) = match (&config.smtp_host, &config.smtp_from) {
            (None, None) => return Ok(None),
            (Some(h), Some(f)) if !h.trim().is_empty() => (h.trim(), f),
            _ => return Err("mail: --smtp-host and --smtp-from must be given together".into()),
        };
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("mail: --smtp-from {from:?} is not an e-mail address ({e})"))?;
        let security = config.smtp_security;
        let port = config.smtp_port.unwrap_or(security.default_port());
        let mut builder = match security {
            SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("mail: TLS for {host}: {e}"))?,
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| format!("mail: TLS for {host}: {e}"))?,
        }
        .port(port)
        .timeout(Some(RELAY_TIMEOUT))
        .hello_name(client_id(public_url));
        match (&config.smtp_username, &config.smtp_password) {
            (None, None) => {}
            (Some(user), Some(password)) => {
                if security == SmtpSecurity::None && !is_loopback(host) {
                    return Err(format!(
                        "mail: refusing to send the SMTP password unencrypted to {host}; use \
                         --smtp-security starttls or tls"
                    ));
                }
                let creds = Credentials::new(user.clone(), password.expose().to_owned());
                builder = builder.credentials(creds);
            }
            _ => {
                return Err(
                    "mail: --smtp-username and --smtp-password must be given together".into(),
                );
            }
        }
        let status = MailStatus {
            configured: true,
            host: Some(host.to_owned()),
            port: Some(port),
            security: Some(security.name()),
            from: Some(from.to_string()),
            username: config.smtp_username.clone(),
            password_set: config.smtp_password.is_some(),
        };
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
            status,
        }))
    }

    pub fn status(&self) -> &MailStatus {
        &self.status
    }

    /// Deliver `mail` to the relay for `to`; a refusal or failure as an `ApiError` in words.
    pub async fn send_invitation(
        &self,
        to: &Address,
        mail: &InvitationMail<'_>,
    ) -> Result<(), ApiError> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to.clone()))
            .subject(subject(mail.role))
            .header(ContentType::TEXT_PLAIN)
            .body(body(mail))
            .map_err(|e| ApiError::Internal(format!("building an invitation e-mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => {
                tracing::info!(%to, role = mail.role.as_str(), "invitation e-mailed");
                Ok(())
            }
            Err(e) => {
                // The error carries the relay's reply, never the message or its link.
                tracing::warn!(%to, error = %e, "the mail relay did not take an invitation");
                Err(relay_error(to, &e))
            }
        }
    }
}

/// Check an address a CSR typed: one mailbox, `name@domain`, no display name.
pub fn parse_recipient(text: &str) -> Result<Address, ApiError> {
    let text = text.trim();
    let bad = || {
        ApiError::invalid(format!(
            "email: {text:?} is not an e-mail address; expected one like name@example.com"
        ))
    };
    if text.is_empty() || text.len() > MAX_ADDRESS || text.chars().any(char::is_control) {
        return Err(bad());
    }
    let address: Address = text.parse().map_err(|_| bad())?;
    // A bare host ("name@localhost") is legal SMTP but almost always a typing mistake.
    if !address.domain().contains('.') && !address.domain().starts_with('[') {
        return Err(bad());
    }
    Ok(address)
}

fn subject(role: InviteRole) -> &'static str {
    match role {
        InviteRole::Customer => "Your invitation to a support session",
        InviteRole::Csr => "Invitation to assist in a support session",
    }
}

fn body(mail: &InvitationMail<'_>) -> String {
    let mut text = match mail.role {
        InviteRole::Customer => format!(
            "Hello,\n\n{} invites you to a support session.\n\nOpen this link to join:\n{}\n",
            mail.inviter, mail.link
        ),
        InviteRole::Csr => format!(
            "Hello,\n\n{} asks you to assist in a support session. Sign in to the console with \
             your own account, then open this link:\n{}\n",
            mail.inviter, mail.link
        ),
    };
    if let Some(code) = mail.code {
        text.push_str(&format!(
            "\nOr open {} and enter the code {code}.\n",
            mail.join_page
        ));
    }
    text.push_str(&format!(
        "\nThe invitation works once and expires in {}.\nIf you did not expect this message, \
         you can ignore it.\n",
        lifetime(mail.ttl_secs)
    ));
    text
}

/// A lifetime in the largest whole unit: "15 minutes", "1 hour", "7 days".
fn lifetime(secs: u64) -> String {
    let (n, unit) = if secs >= 86_400 && secs.is_multiple_of(86_400) {
        (secs / 86_400, "day")
    } else if secs >= 3_600 && secs.is_multiple_of(3_600) {
        (secs / 3_600, "hour")
    } else {
        (secs.div_ceil(60), "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The relay's refusal in words (the address, the reply code and the relay's own text).
fn relay_error(to: &Address, e: &lettre::transport::smtp::Error) -> ApiError {
    let reply = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let reply = reply.trim();
    let code = e.status().map(u16::from);
    let detail = match code {
        Some(c) if reply.is_empty() => format!(" ({c})"),
        Some(c) => format!(" ({c} {reply})"),
        None => String::new(),
    };
    let (code, message) = match code {
        Some(530 | 534 | 535 | 538) => (
            "mail_failed",
            format!(
                "the mail server refused the service's sign-in{detail}; ask your administrator \
                 to check the mail settings"
            ),
        ),
        Some(550..=553 | 501) => {
            return ApiError::Unprocessable {
                code: "mail_refused",
                message: format!("the mail server refused the address {to}{detail}"),
            };
        }
        Some(500..=599) => (
            "mail_failed",
            format!("the mail server refused the invitation e-mail{detail}"),
        ),
        Some(_) => (
            "mail_failed",
            format!(
                "the mail server could not take the invitation e-mail now{detail}; try again \
                 later or copy the link"
            ),
        ),
        None if e.is_timeout() => (
            "mail_failed",
            "the mail server did not answer in time; try again later or copy the link".into(),
        ),
        None if e.is_tls() => (
            "mail_failed",
            "a secure connection to the mail server failed; ask your administrator to check \
             the mail settings"
                .into(),
        ),
        None => (
            "mail_failed",
            "the mail server can't be reached; try again later or copy the link".into(),
        ),
    };
    ApiError::BadGateway { code, message }
}

/// The EHLO name: the host of the service's public URL (an address literal for an IP).
fn client_id(public_url: &str) -> ClientId {
    let rest = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => ClientId::Ipv4(a),
        Ok(IpAddr::V6(a)) => ClientId::Ipv6(a),
        Err(_) if !host.is_empty() => ClientId::Domain(host.to_owned()),
        Err(_) => ClientId::default(),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_checked() {
        for good in ["carla@example.com", " ana.lima+help@sub.example.org "] {
            assert!(parse_recipient(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "carla",
            "carla@",
            "@example.com",
            "carla@localhost",
            "a b@example.com",
            "carla@example.com\r\nBcc: x@example.com",
            "Carla <carla@example.com>",
        ] {
            assert!(parse_recipient(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(lifetime(60), "1 minute");
        assert_eq!(lifetime(900), "15 minutes");
        assert_eq!(lifetime(3600), "1 hour");
        assert_eq!(lifetime(5400), "90 minutes");
        assert_eq!(lifetime(604_800), "7 days");
    }

    #[test]
    fn the_ehlo_name_is_the_public_host() {
        let name = |u| client_id(u).to_string();
        assert_eq!(name("https://support.example.com/x"), "support.example.com");
        assert_eq!(name("http://127.0.0.1:8080"), "[127.0.0.1]");
        assert_eq!(name("http://[::1]:8080"), "[IPv6:::1]");
    }
}
