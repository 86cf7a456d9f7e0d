//! The REST API's routes, and the JSON body extractor whose errors name what is wrong.

pub mod accounts;
pub mod ice;
pub mod invitations;
pub mod sessions;

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// Request bodies above this size are refused.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// `Json<T>` whose rejection is an `ApiError` with serde's description of the problem.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::BadRequest("expected a JSON body with Content-Type: application/json".into()))
            }
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::PayloadTooLarge(format!(
                "request body larger than the limit of {MAX_BODY_BYTES} bytes"
            ))),
            Err(e) => Err(ApiError::BadRequest(format!("invalid request body: {}", e.body_text()))),
        }
    }
}
