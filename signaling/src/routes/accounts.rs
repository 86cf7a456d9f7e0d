//! Sign-in, the caller's own account, and the admin pages' API: CSR accounts and organization
//! settings.

use crate::auth::{AUTH_COOKIE, Admin, ClientAddr, SignedIn};
use crate::db::{CsrRow, CsrUpdate};
use crate::error::{ApiError, ApiResult};
use crate::mail::MailStatus;
use crate::routes::{Body, PathArg};
use crate::secrets::{blocking_hash, hash_password, hash_token, new_token, verify_password};
use crate::settings::OrgSettings;
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tether_protocol::{MAX_NAME_CHARS, check_text};

const MIN_PASSWORD: usize = 10;

async fn hash_blocking(password: String) -> ApiResult<String> {
    blocking_hash(move || hash_password(&password))
        .await
        .map_err(ApiError::Internal)?
        .map_err(ApiError::Internal)
}

async fn verify_blocking(password: String, phc: String) -> ApiResult<bool> {
    blocking_hash(move || verify_password(&password, &phc))
        .await
        .map_err(ApiError::Internal)
}

fn check_password(password: &str) -> ApiResult<()> {
    if password.chars().count() < MIN_PASSWORD || password.len() > 1024 {
        return Err(ApiError::invalid(format!(
            "password: expected {MIN_PASSWORD} to 1024 characters"
        )));
    }
    Ok(())
}

fn check_username(username: &str) -> ApiResult<()> {
    let ok = (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "username: expected 1 to 64 of a-z, A-Z, 0-9, '.', '_', '-', '@'",
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    username: String,
    password: String,
}

/// POST /api/v1/login
pub async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    Body(body): Body<Login>,
) -> ApiResult<Response> {
    if let Some(retry_after_secs) = state.limiter.login_blocked(addr.0) {
        return Err(ApiError::TooManyRequests {
            message: format!(
                "too many failed sign-ins from your address; try again in {retry_after_secs} s"
            ),
            retry_after_secs,
        });
    }
    let wrong = || {
        state.limiter.login_failed(addr.0);
        ApiError::Unauthorized("wrong username or password".into())
    };
    let csr = state.db.csr_by_username(&body.username).await?;
    // Verify against a real hash even for unknown users so timing does not reveal accounts.
    let phc = match &csr {
        Some(c) => c.password_hash.clone(),
        None => dummy_hash()?,
    };
    let ok = verify_blocking(body.password, phc).await?;
    let csr = csr.filter(|_| ok).ok_or_else(wrong)?;
    if csr.disabled {
        return Err(ApiError::forbidden(
            "account_disabled",
            "this account is disabled; ask an administrator",
        ));
    }
    let token = new_token();
    let now = now_ms();
    let ttl = state.config.sign_in_hours * 3600;
    state
        .db
        .insert_auth_token(&hash_token(&token), csr.id, now, now + ttl * 1000)
        .await?;
    let cookie = format!("{AUTH_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={ttl}");
    let body = json!({ "token": token, "expires_at": now + ttl * 1000, "csr": csr });
    Ok(([(SET_COOKIE, cookie)], Json(body)).into_response())
}

/// An argon2id hash of a random string, verified against when the username is unknown.
fn dummy_hash() -> ApiResult<String> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h.clone());
    }
    let h = hash_password(&crate::secrets::new_password()).map_err(ApiError::Internal)?;
    Ok(DUMMY.get_or_init(|| h).clone())
}

/// POST /api/v1/logout
pub async fn logout(State(state): State<AppState>, me: SignedIn) -> ApiResult<Response> {
    state.db.delete_auth_token(&me.token_hash).await?;
    let cookie = format!("{AUTH_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

/// GET /api/v1/me
pub async fn me(me: SignedIn) -> Json<CsrRow> {
    Json(me.csr)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current: String,
    new: String,
}

/// POST /api/v1/me/password
pub async fn change_password(
    State(state): State<AppState>,
    me: SignedIn,
    Body(body): Body<ChangePassword>,
) -> ApiResult<Json<CsrRow>> {
    check_password(&body.new)?;
    let phc = me.csr.password_hash.clone();
    let ok = verify_blocking(body.current, phc).await?;
    if !ok {
        return Err(ApiError::forbidden(
            "wrong_password",
            "the current password is wrong",
        ));
    }
    let hash = hash_blocking(body.new).await?;
    let CsrUpdate::Updated(csr) = state
        .db
        .update_csr(me.csr.id, None, Some(&hash), None, None, Some(false))
        .await?
    else {
        return Err(ApiError::NotFound("account not found".into()));
    };
    // Changing the password signs out every device; this one signs in again.
    let now = now_ms();
    state
        .db
        .insert_auth_token(
            &me.token_hash,
            csr.id,
            now,
            now + state.config.sign_in_hours * 3_600_000,
        )
        .await?;
    Ok(Json(csr))
}

/// GET /api/v1/session-types: what a CSR may start.
pub async fn session_types(State(state): State<AppState>, _me: SignedIn) -> ApiResult<Json<Value>> {
    let s = state.db.settings().await?;
    Ok(Json(json!({
        "session_types": s.session_types,
        "file_transfer": s.file_transfer,
        "recording_allowed": s.recording_allowed,
        "mail_configured": state.mailer.is_some(),
    })))
}

// ---- admin ----

/// GET /api/v1/admin/csrs
pub async fn list_csrs(
    State(state): State<AppState>,
    _admin: Admin,
) -> ApiResult<Json<Vec<CsrRow>>> {
    Ok(Json(state.db.list_csrs().await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCsr {
    username: String,
    display_name: String,
    password: String,
    #[serde(default)]
    is_admin: bool,
    /// `true`: the password is a one-time password the CSR must replace at first sign-in.
    #[serde(default)]
    must_change_password: bool,
}

/// POST /api/v1/admin/csrs
pub async fn create_csr(
    State(state): State<AppState>,
    _admin: Admin,
    Body(body): Body<NewCsr>,
) -> ApiResult<(StatusCode, Json<CsrRow>)> {
    check_username(&body.username)?;
    let display_name = check_text("display_name", &body.display_name, MAX_NAME_CHARS, false)?;
    check_password(&body.password)?;
    let hash = hash_blocking(body.password).await?;
    let csr = state
        .db
        .create_csr(
            &body.username,
            &display_name,
            &hash,
            body.is_admin,
            body.must_change_password,
            now_ms(),
        )
        .await?
        .ok_or_else(|| {
            ApiError::conflict(
                "username_taken",
                format!("username {:?} is already taken", body.username),
            )
        })?;
    Ok((StatusCode::CREATED, Json(csr)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsrChange {
    display_name: Option<String>,
    password: Option<String>,
    is_admin: Option<bool>,
    disabled: Option<bool>,
    /// With `password`: whether it is a one-time password to replace at the next sign-in.
    must_change_password: Option<bool>,
}

/// PATCH /api/v1/admin/csrs/{id}
pub async fn update_csr(
    State(state): State<AppState>,
    Admin(admin): Admin,
    PathArg(id): PathArg<i64>,
    Body(body): Body<CsrChange>,
) -> ApiResult<Json<CsrRow>> {
    let display_name = body
        .display_name
        .as_deref()
        .map(|n| check_text("display_name", n, MAX_NAME_CHARS, false))
        .transpose()?;
    let hash = match body.password {
        Some(p) => {
            check_password(&p)?;
            Some(hash_blocking(p).await?)
        }
        None => None,
    };
    if body.must_change_password.is_some() && hash.is_none() {
        return Err(ApiError::invalid(
            "must_change_password: only together with a new password",
        ));
    }
    if id == admin.csr.id && body.disabled == Some(true) {
        return Err(ApiError::conflict(
            "self_disable",
            "you can't disable your own account",
        ));
    }
    match state
        .db
        .update_csr(
            id,
            display_name.as_deref(),
            hash.as_deref(),
            body.is_admin,
            body.disabled,
            body.must_change_password,
        )
        .await?
    {
        CsrUpdate::Updated(csr) => Ok(Json(csr)),
        CsrUpdate::NotFound => Err(ApiError::NotFound(format!("no CSR account {id}"))),
        CsrUpdate::WouldLeaveNoAdmin => Err(ApiError::conflict(
            "last_admin",
            "this is the last enabled administrator; make another admin first",
        )),
    }
}

/// GET /api/v1/admin/settings
pub async fn get_settings(
    State(state): State<AppState>,
    _admin: Admin,
) -> ApiResult<Json<OrgSettings>> {
    Ok(Json(state.db.settings().await?))
}

/// GET /api/v1/admin/mail: the mail relay the service was started with (never its password).
pub async fn mail_status(State(state): State<AppState>, _admin: Admin) -> Json<MailStatus> {
    Json(
        state
            .mailer
            .as_ref()
            .map_or_else(MailStatus::unconfigured, |m| m.status().clone()),
    )
}

/// PUT /api/v1/admin/settings
pub async fn put_settings(
    State(state): State<AppState>,
    _admin: Admin,
    Body(settings): Body<OrgSettings>,
) -> ApiResult<Json<OrgSettings>> {
    settings.validate().map_err(ApiError::invalid)?;
    state.db.save_settings(&settings).await?;
    Ok(Json(settings))
}
