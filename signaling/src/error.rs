//! The one error type of the REST API; each variant documents its status. Internal errors are
//! logged and never sent to clients.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tether_protocol::{InvitationError, RuleViolation};

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request could not be read (bad JSON, missing field, bad value).
    BadRequest(String),
    /// 401: not signed in, or the credential is wrong, expired or disabled.
    Unauthorized(String),
    /// 403: signed in but not allowed (`code` says why).
    Forbidden { code: &'static str, message: String },
    /// 404: no such thing, or not visible to the caller.
    NotFound(String),
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 409: a conflict with current state (ended session, duplicate name...).
    Conflict { code: &'static str, message: String },
    /// 410: the invitation can't be used any more.
    Gone { code: &'static str, message: String },
    /// 413: the request body is larger than the limit.
    PayloadTooLarge(String),
    /// 422: a value breaks a rule or a limit.
    Unprocessable { code: &'static str, message: String },
    /// 429: too many attempts; retry after the given seconds.
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// 502: a server the service depends on (the mail relay) failed or refused.
    BadGateway { code: &'static str, message: String },
    /// 503: the service can't do this right now.
    Unavailable(String),
    /// 500: logged; the client sees only "internal error".
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Gone { .. } => StatusCode::GONE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge(_) => "too_large",
            Self::TooManyRequests { .. } => "too_many_attempts",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
            Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Gone { code, .. }
            | Self::BadGateway { code, .. }
            | Self::Unprocessable { code, .. } => code,
        }
    }

    /// What the client may see: internal details are logged, never sent.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code: "invalid_field",
            message: message.into(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(format!("database: {e}"))
    }
}

impl From<crate::db::ApplyError> for ApiError {
    fn from(e: crate::db::ApplyError) -> Self {
        match e {
            crate::db::ApplyError::Db(e) => e.into(),
            crate::db::ApplyError::InvitationTaken => InvitationError::AlreadyUsed.into(),
        }
    }
}

impl From<RuleViolation> for ApiError {
    fn from(v: RuleViolation) -> Self {
        let (code, message) = (v.code(), v.to_string());
        match v {
            RuleViolation::InvalidField { .. } | RuleViolation::TrackingCodeRequired { .. } => {
                ApiError::Unprocessable { code, message }
            }
            RuleViolation::NotInSession { .. }
            | RuleViolation::CsrOnly
            | RuleViolation::ControllerOnly
            | RuleViolation::ControlTransferredAway
            | RuleViolation::CustomersCannotEnd => ApiError::Forbidden { code, message },
            _ => ApiError::Conflict { code, message },
        }
    }
}

impl From<InvitationError> for ApiError {
    fn from(e: InvitationError) -> Self {
        ApiError::Gone {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MethodNotAllowed => f.write_str("this endpoint does not accept that method"),
            Self::BadRequest(m)
            | Self::Unauthorized(m)
            | Self::NotFound(m)
            | Self::PayloadTooLarge(m)
            | Self::Unavailable(m)
            | Self::Internal(m) => f.write_str(m),
            Self::Forbidden { message, .. }
            | Self::Conflict { message, .. }
            | Self::Gone { message, .. }
            | Self::BadGateway { message, .. }
            | Self::Unprocessable { message, .. }
            | Self::TooManyRequests { message, .. } => f.write_str(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.public_message();
        let body = Json(serde_json::json!({ "code": self.code(), "message": message }));
        let mut response = (self.status(), body).into_response();
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}
