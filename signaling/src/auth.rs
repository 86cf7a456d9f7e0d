//! Who is calling: signed-in CSRs (bearer token or cookie), admins, participants (participant
//! token) and the client's address.

use crate::db::CsrRow;
use crate::error::ApiError;
use crate::secrets::hash_token;
use crate::state::{AppState, now_ms};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tether_protocol::ParticipantId;

/// The cookie that carries a CSR's sign-in token for the browser console.
pub const AUTH_COOKIE: &str = "tether_auth";

/// Paths a CSR who must change its password may still use.
const PASSWORD_CHANGE_PATHS: [&str; 3] = ["/api/v1/me", "/api/v1/me/password", "/api/v1/logout"];

/// The token of an `Authorization: Bearer` header (the scheme name is case-insensitive).
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A signed-in, enabled CSR.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub csr: CsrRow,
    pub token_hash: Vec<u8>,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)
            .or_else(|| cookie(parts, AUTH_COOKIE))
            .ok_or_else(|| {
                ApiError::Unauthorized("sign in first: no bearer token or sign-in cookie".into())
            })?;
        let token_hash = hash_token(token);
        let csr = state
            .db
            .csr_by_auth_token(&token_hash, now_ms())
            .await?
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "your sign-in has expired or was revoked; sign in again".into(),
                )
            })?;
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |u| u.path().to_owned());
        if csr.must_change_password && !PASSWORD_CHANGE_PATHS.contains(&path.as_str()) {
            return Err(ApiError::forbidden(
                "password_change_required",
                "change your one-time password first (POST /api/v1/me/password)",
            ));
        }
        Ok(SignedIn { csr, token_hash })
    }
}

/// A signed-in admin.
#[derive(Debug, Clone)]
pub struct Admin(pub SignedIn);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if !signed_in.csr.is_admin {
            return Err(ApiError::forbidden(
                "admin_only",
                "only an administrator can do this",
            ));
        }
        Ok(Admin(signed_in))
    }
}

/// The CSR if the request carries a valid sign-in, else nobody (customers have no account).
#[derive(Debug, Clone)]
pub struct MaybeSignedIn(pub Option<SignedIn>);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if bearer(parts).is_none() && cookie(parts, AUTH_COOKIE).is_none() {
            return Ok(MaybeSignedIn(None));
        }
        // A stale sign-in must not stop a customer from joining: treat it as nobody.
        Ok(MaybeSignedIn(
            SignedIn::from_request_parts(parts, state).await.ok(),
        ))
    }
}

/// A participant, by the participant token it got when joining.
#[derive(Debug, Clone)]
pub struct ParticipantAuth {
    pub session_id: String,
    pub participant: ParticipantId,
}

impl FromRequestParts<AppState> for ParticipantAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or_else(|| {
            ApiError::Unauthorized("expected a participant token as a bearer token".into())
        })?;
        let (session_id, participant) = state
            .db
            .participant_by_token(&hash_token(token))
            .await?
            .ok_or_else(|| ApiError::Unauthorized("unknown participant token".into()))?;
        Ok(ParticipantAuth {
            session_id,
            participant,
        })
    }
}

/// The client's IP address: the TCP peer, or with `--trust-forwarded-for` the last
/// `X-Forwarded-For` entry (unspecified when neither gives one, as in router tests).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .trust_forwarded_for
            .then(|| {
                parts
                    .headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .next_back()?
                    .to_str()
                    .ok()?
                    .rsplit(',')
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .flatten();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(
            forwarded
                .or(peer)
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}
