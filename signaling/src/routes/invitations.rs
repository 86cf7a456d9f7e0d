//! Invitations: CSRs in a session create and revoke them; anyone holding one joins with it, by
//! link token or by short code (rate-limited).

use crate::auth::{ClientAddr, MaybeSignedIn, SignedIn};
use crate::db::InvitationRow;
use crate::error::{ApiError, ApiResult};
use crate::mail::{InvitationMail, parse_recipient};
use crate::ratelimit::Limited;
use crate::routes::sessions::{csr_in_live_session, readable};
use crate::routes::{Body, PathArg};
use crate::secrets::{hash_token, new_token, random_below};
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tether_protocol::{AccountId, CODE_SECRET_LIMIT, Command, InviteRole, ShortCode};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    role: InviteRole,
    /// Lifetime in seconds, 60 to 604800; default from the service configuration.
    #[serde(default)]
    ttl_secs: Option<u64>,
    /// Also send the link to this address (only when the service has a mail relay).
    #[serde(default)]
    email: Option<String>,
}

/// POST /api/v1/sessions/{id}/invitations (rule 2: a CSR in the session)
pub async fn create(
    State(state): State<AppState>,
    me: SignedIn,
    PathArg(id): PathArg<String>,
    Body(body): Body<NewInvitation>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ttl = body.ttl_secs.unwrap_or(state.config.invitation_ttl_secs);
    if !(60..=604_800).contains(&ttl) {
        return Err(ApiError::invalid("ttl_secs: expected 60 to 604800 seconds"));
    }
    let email = match body.email.as_deref() {
        None => None,
        Some(text) => {
            let address = parse_recipient(text)?;
            let Some(mailer) = &state.mailer else {
                return Err(ApiError::Unavailable(
                    "this service has no mail server configured; copy the link or read the code \
                     instead"
                        .into(),
                ));
            };
            Some((mailer, address))
        }
    };
    let (hub, participant) = csr_in_live_session(&state, &me, &id).await?;
    let now = now_ms();
    let events =
        hub.session()
            .await
            .handle(participant, Command::Invite { role: body.role }, now)?;
    let token = new_token();
    let invitation_id = uuid::Uuid::new_v4().to_string();
    let expires_at = now + ttl * 1000;
    // A code secret unique among the session's usable invitations; a few tries always suffice
    // unless the session holds tens of thousands of open invitations.
    let mut code = None;
    for _ in 0..8 {
        let secret = hub.number.map(|_| random_below(CODE_SECRET_LIMIT));
        let inserted = state
            .db
            .insert_invitation(
                &invitation_id,
                &hub.id,
                body.role,
                &hash_token(&token),
                secret,
                me.csr.id,
                now,
                expires_at,
                &events,
            )
            .await?;
        if inserted {
            code = Some(secret);
            break;
        }
    }
    let Some(secret) = code else {
        return Err(ApiError::Unavailable(
            "could not allocate a short code; revoke unused invitations".into(),
        ));
    };
    let short = hub.number.zip(secret).map(|(n, s)| {
        ShortCode {
            session_number: n,
            secret: s,
        }
        .to_string()
    });
    let link = format!("{}/join.html#t={token}", state.public_url);
    let emailed = match email {
        None => None,
        Some((mailer, address)) => {
            let mail = InvitationMail {
                inviter: &me.csr.display_name,
                role: body.role,
                link: &link,
                code: short.as_deref(),
                join_page: &format!("{}/join.html", state.public_url),
                ttl_secs: ttl,
            };
            if let Err(e) = mailer.send_invitation(&address, &mail).await {
                // Nobody received it: it must not stay usable.
                state
                    .db
                    .revoke_invitation(&hub.id, &invitation_id, now_ms())
                    .await?;
                return Err(e);
            }
            Some(address.to_string())
        }
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": invitation_id,
            "role": body.role,
            "token": token,
            "link": link,
            "code": short,
            "expires_at": expires_at,
            "emailed_to": emailed,
        })),
    ))
}

/// GET /api/v1/sessions/{id}/invitations (no secrets)
pub async fn list(
    State(state): State<AppState>,
    me: SignedIn,
    PathArg(id): PathArg<String>,
) -> ApiResult<Json<Value>> {
    let row = readable(&state, &me, &id).await?;
    Ok(Json(
        json!({ "invitations": state.db.invitations(&row.id).await? }),
    ))
}

/// DELETE /api/v1/sessions/{id}/invitations/{invitation}
pub async fn revoke(
    State(state): State<AppState>,
    me: SignedIn,
    PathArg((id, invitation)): PathArg<(String, String)>,
) -> ApiResult<StatusCode> {
    let (hub, _) = csr_in_live_session(&state, &me, &id).await?;
    if state
        .db
        .revoke_invitation(&hub.id, &invitation, now_ms())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no unused invitation {invitation} in this session"
        )))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    code: Option<String>,
    name: String,
}

fn limited(l: Limited) -> ApiError {
    match l {
        Limited::Address { retry_after_secs } => ApiError::TooManyRequests {
            message: format!(
                "too many wrong codes from your address; try again in {retry_after_secs} s or use the invitation link"
            ),
            retry_after_secs,
        },
        Limited::Session { retry_after_secs } => ApiError::TooManyRequests {
            message: format!(
                "too many wrong codes for this session; try again in {retry_after_secs} s or use the invitation link"
            ),
            retry_after_secs,
        },
    }
}

async fn find_invitation(
    state: &AppState,
    addr: ClientAddr,
    body: &Join,
) -> ApiResult<InvitationRow> {
    match (&body.token, &body.code) {
        (Some(token), None) => {
            let found = state.db.invitation_by_token(&hash_token(token)).await?;
            found.ok_or_else(|| {
                state.limiter.fail(addr.0, None);
                ApiError::NotFound("unknown invitation; check the link".into())
            })
        }
        (None, Some(code)) => {
            let code = ShortCode::parse(code).ok_or_else(|| {
                ApiError::BadRequest("code: expected nine digits, like 1234-56789".into())
            })?;
            state
                .limiter
                .check(addr.0, code.session_number)
                .map_err(limited)?;
            let wrong = || {
                ApiError::NotFound(
                    "wrong code; check the digits with your support representative".into(),
                )
            };
            let Some(hub) = state.hubs.by_number(code.session_number) else {
                state.limiter.fail(addr.0, None);
                return Err(wrong());
            };
            match state
                .db
                .invitation_by_code(&hub.id, code.secret, now_ms())
                .await?
            {
                Some(inv) => Ok(inv),
                None => {
                    state.limiter.fail(addr.0, Some(code.session_number));
                    Err(wrong())
                }
            }
        }
        _ => Err(ApiError::BadRequest(
            "give exactly one of token or code".into(),
        )),
    }
}

/// POST /api/v1/join: the invitation's holder becomes a participant and gets its participant
/// token (the credential of its WebSocket connection and of reconnecting).
pub async fn join(
    State(state): State<AppState>,
    addr: ClientAddr,
    MaybeSignedIn(me): MaybeSignedIn,
    Body(body): Body<Join>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let invitation = find_invitation(&state, addr, &body).await?;
    let account = me.as_ref().map(|m| AccountId(m.csr.id));
    let kind = invitation.role.kind(account).ok_or_else(|| {
        ApiError::Unauthorized(
            "sign in as a support representative to accept a CSR invitation".into(),
        )
    })?;
    let hub = state
        .hubs
        .get(&invitation.session_id)
        .ok_or_else(|| ApiError::from(tether_protocol::InvitationError::SessionEnded))?;
    let joined = hub
        .join(&state, kind, &body.name, Some(&invitation))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "session_id": hub.id,
            "participant": { "id": joined.participant, "token": joined.token, "role": joined.role },
        })),
    ))
}
