//! ICE configuration for a participant: STUN URLs and short-lived TURN credentials in coturn's
//! REST form.

use crate::auth::ParticipantAuth;
use crate::error::{ApiError, ApiResult};
use crate::secrets::turn_password;
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

/// GET /api/v1/ice (bearer: participant token)
pub async fn ice(State(state): State<AppState>, who: ParticipantAuth) -> ApiResult<Json<Value>> {
    let present = match state.hubs.get(&who.session_id) {
        Some(hub) => hub.is_present(who.participant).await,
        None => false,
    };
    if !present {
        return Err(ApiError::forbidden(
            "not_in_session",
            "you are no longer in a live session",
        ));
    }
    let settings = state.db.settings().await?;
    let mut servers = Vec::new();
    if !settings.stun_urls.is_empty() {
        servers.push(json!({ "urls": settings.stun_urls }));
    }
    let expires = now_ms() / 1000 + settings.turn_ttl_secs;
    if !settings.turn_urls.is_empty() && !settings.turn_secret.is_empty() {
        let username = format!("{expires}:{}-{}", who.session_id, who.participant.0);
        let credential = turn_password(&settings.turn_secret, &username);
        servers.push(
            json!({ "urls": settings.turn_urls, "username": username, "credential": credential }),
        );
    }
    Ok(Json(
        json!({ "ice_servers": servers, "expires_at": expires * 1000 }),
    ))
}
