//! Sessions over REST: start one, list mine (or all, for admins), read and export the record,
//! and save notes.

use crate::auth::SignedIn;
use crate::db::SessionRow;
use crate::error::{ApiError, ApiResult};
use crate::hub::Hub;
use crate::routes::{Body, PathArg, QueryArgs};
use crate::secrets::{hash_token, new_token};
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_DISPOSITION;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tether_protocol::{AccountId, Command, ParticipantId, Session, SessionState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartSession {
    /// Defaults to the organization's first session type (one-click start).
    #[serde(default)]
    session_type: Option<String>,
    #[serde(default)]
    tracking_code: Option<String>,
}

pub fn summary(row: &SessionRow) -> Value {
    let s = &row.state;
    let controller = s.participant(s.controller()).map(|p| p.name.clone());
    json!({
        "id": row.id,
        "number": row.number,
        "session_type": row.session_type,
        "tracking_code": row.tracking_code,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "live": s.is_live(),
        "controller": controller,
        "participants": s.participants().len(),
    })
}

/// POST /api/v1/sessions: the caller becomes participant 1 and controller.
pub async fn start(
    State(state): State<AppState>,
    me: SignedIn,
    Body(body): Body<StartSession>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let settings = state.db.settings().await?;
    let kind = match &body.session_type {
        Some(name) => settings.session_type(name).ok_or_else(|| {
            ApiError::invalid(format!("session_type: unknown session type {name:?}"))
        })?,
        None => settings
            .session_types
            .first()
            .ok_or_else(|| ApiError::Unavailable("no session types are configured".into()))?,
    };
    let now = now_ms();
    let (session, events) = Session::start(
        AccountId(me.csr.id),
        &me.csr.display_name,
        kind,
        body.tracking_code.as_deref(),
        settings.policy(),
        now,
    )?;
    let id = uuid::Uuid::new_v4().to_string();
    let number = state.hubs.reserve_number(&id);
    let token = new_token();
    let hash = hash_token(&token);
    let row = SessionRow {
        id: id.clone(),
        number,
        session_type: session.session_type.clone(),
        tracking_code: session.tracking_code.clone(),
        started_by: me.csr.id,
        started_at: now as i64,
        ended_at: None,
        state: session.clone(),
    };
    let first = crate::db::NewParticipant {
        token_hash: &hash,
        id: ParticipantId(1),
        account: Some(AccountId(me.csr.id)),
    };
    if let Err(e) = state.db.insert_session(&row, first, &events, now).await {
        if let Some(n) = number {
            state.hubs.release_number(n);
        }
        return Err(e.into());
    }
    let hub = Arc::new(Hub::new(id.clone(), number, session));
    state.hubs.insert(hub.clone());
    hub.await_first_connection(&state, ParticipantId(1)).await;
    tracing::info!(session = %id, csr = %me.csr.username, "session started");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "session": summary(&row),
            "participant": { "id": 1, "token": token, "role": "controller" },
        })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Admins only: every CSR's sessions.
    #[serde(default)]
    all: bool,
    /// Substring of the session type or tracking code.
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
}

/// GET /api/v1/sessions
pub async fn list(
    State(state): State<AppState>,
    me: SignedIn,
    QueryArgs(q): QueryArgs<ListQuery>,
) -> ApiResult<Json<Value>> {
    if q.all && !me.csr.is_admin {
        return Err(ApiError::forbidden(
            "admin_only",
            "only an administrator can list every CSR's sessions",
        ));
    }
    let csr = (!q.all).then_some(me.csr.id);
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .db
        .list_sessions(csr, q.q.as_deref().filter(|s| !s.is_empty()), limit)
        .await?;
    Ok(Json(
        json!({ "sessions": rows.iter().map(summary).collect::<Vec<_>>() }),
    ))
}

/// The session row, if the caller may read it (a CSR who took part, or an admin).
pub async fn readable(state: &AppState, me: &SignedIn, id: &str) -> ApiResult<SessionRow> {
    let not_found = || ApiError::NotFound(format!("no session {id} that you can see"));
    let row = state.db.session(id).await?.ok_or_else(not_found)?;
    if me.csr.is_admin || state.db.csr_took_part(id, me.csr.id).await? {
        Ok(row)
    } else {
        Err(not_found())
    }
}

async fn record_json(state: &AppState, row: &SessionRow) -> ApiResult<Value> {
    let s = &row.state;
    let end = match &s.state {
        SessionState::Ended { at, by, reason } => json!({ "at": at, "by": by, "reason": reason }),
        SessionState::Live => Value::Null,
    };
    Ok(json!({
        "session": summary(row),
        "notes": s.notes(),
        "end": end,
        "participants": s.participants(),
        "invitations": state.db.invitations(&row.id).await?,
        "events": state.db.record(&row.id).await?,
    }))
}

/// GET /api/v1/sessions/{id}
pub async fn record(
    State(state): State<AppState>,
    me: SignedIn,
    PathArg(id): PathArg<String>,
) -> ApiResult<Json<Value>> {
    let row = readable(&state, &me, &id).await?;
    Ok(Json(record_json(&state, &row).await?))
}

/// GET /api/v1/sessions/{id}/export: the record as a JSON file.
pub async fn export(
    State(state): State<AppState>,
    me: SignedIn,
    PathArg(id): PathArg<String>,
) -> ApiResult<Response> {
    let row = readable(&state, &me, &id).await?;
    let body = record_json(&state, &row).await?;
    let disposition = format!("attachment; filename=\"session-{id}.json\"");
    Ok(([(CONTENT_DISPOSITION, disposition)], Json(body)).into_response())
}

/// The live hub of a session and the caller's participant in it (a CSR present in the session).
pub async fn csr_in_live_session(
    state: &AppState,
    me: &SignedIn,
    id: &str,
) -> ApiResult<(Arc<Hub>, ParticipantId)> {
    let row = readable(state, me, id).await?;
    let hub = state
        .hubs
        .get(&row.id)
        .ok_or_else(|| ApiError::conflict("session_ended", "the session has ended"))?;
    let participant = hub
        .session()
        .await
        .present_csr(AccountId(me.csr.id))
        .ok_or_else(|| ApiError::forbidden("not_in_session", "you are not in this session"))?;
    Ok((hub, participant))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notes {
    notes: String,
}

/// PUT /api/v1/sessions/{id}/notes: editable by CSRs in the session until it ends.
pub async fn save_notes(
    State(state): State<AppState>,
    me: SignedIn,
    PathArg(id): PathArg<String>,
    Body(body): Body<Notes>,
) -> ApiResult<Json<Value>> {
    let (hub, participant) = csr_in_live_session(&state, &me, &id).await?;
    hub.command(
        &state,
        participant,
        Command::SaveNotes { notes: body.notes },
    )
    .await?;
    Ok(Json(json!({ "notes": hub.session().await.notes() })))
}
