//! Files served as attachments: the customer helper at `/downloads/tether-helper` (so a
//! browser customer asked for control can get it from the same server), and the streamed body
//! that recordings' downloads share.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;

/// Bytes read per chunk of a streamed file.
const IO_BUFFER: usize = 256 * 1024;

/// `file` (of `size` bytes) as an attachment named `name`, streamed chunk by chunk until its
/// end or the first read error (which ends the stream).
pub fn attachment(file: tokio::fs::File, size: u64, content_type: &str, name: &str) -> Response {
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0; IO_BUFFER];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    (
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_LENGTH, size.to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(chunks),
    )
        .into_response()
}

/// `GET /downloads/tether-helper`: the native helper for Linux, when this server offers it.
pub async fn helper(State(state): State<AppState>) -> ApiResult<Response> {
    let unavailable = || {
        ApiError::NotFound(
            "this server does not offer the helper for download; ask your support \
             representative how to get it"
                .into(),
        )
    };
    let path = state.config.helper_path().ok_or_else(unavailable)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|_| unavailable())?;
    let size = file.metadata().await.map_err(|_| unavailable())?.len();
    Ok(attachment(
        file,
        size,
        "application/octet-stream",
        "tether-helper",
    ))
}
