//! Session recordings: the controller's engine uploads the finished Matroska file (streamed to a
//! temporary file in the data folder, hashed on the way, size-limited), the session record gets
//! a `recording_attached` event, and whoever may read the record downloads the file.

use crate::auth::{ParticipantAuth, SignedIn};
use crate::db::RecordingRow;
use crate::error::{ApiError, ApiResult};
use crate::routes::downloads::attachment;
use crate::routes::sessions::readable;
use crate::routes::{PathArg, QueryArgs};
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tether_protocol::RuleViolation;
use tokio::io::{AsyncWriteExt, BufWriter};

/// The media type of a recording, for uploads and downloads.
pub const RECORDING_CONTENT_TYPE: &str = "video/x-matroska";

/// Every Matroska (EBML) file starts with these bytes.
const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

/// Bytes written to disk per system call while receiving, and read per chunk while sending.
const IO_BUFFER: usize = 256 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// Length of the recording in milliseconds, as the recorder measured it.
    #[serde(default)]
    duration_ms: Option<u64>,
}

/// The file of a stored recording.
fn recording_path(state: &AppState, session_id: &str, id: &str) -> PathBuf {
    state
        .config
        .recordings_dir()
        .join(session_id)
        .join(format!("{id}.mkv"))
}

/// A file being received, deleted when dropped while `delete` is set: from its creation until
/// the recording is attached, so an upload that fails or is cut off leaves nothing behind.
#[derive(Debug)]
struct PartFile {
    path: PathBuf,
    delete: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if self.delete {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The refusal of an upload by the session model, in words about recordings.
fn refusal(v: RuleViolation) -> ApiError {
    match v {
        RuleViolation::ControllerOnly => ApiError::forbidden(
            v.code(),
            "only the controlling support representative can upload the session's recording",
        ),
        RuleViolation::CsrOnly => ApiError::forbidden(
            v.code(),
            "customers can't upload recordings; only the controlling support representative can",
        ),
        RuleViolation::RecordingDisabled => ApiError::conflict(
            v.code(),
            "recording is not allowed by the organization, so no recording can be attached",
        ),
        other => other.into(),
    }
}

fn internal(what: &str, e: std::io::Error) -> ApiError {
    ApiError::Internal(format!("{what}: {e}"))
}

fn too_large(limit: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!("recording larger than the limit of {limit} bytes"))
}

/// Whether the request says it carries a Matroska file (parameters such as `; codecs=...` are
/// ignored).
fn is_matroska(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(RECORDING_CONTENT_TYPE))
}

/// What was received: size and lower-case hex SHA-256.
#[derive(Debug)]
struct Received {
    size: u64,
    sha256: String,
}

/// Receive the body into `part`: check the EBML magic before anything is written, count against
/// `limit`, hash and write through a buffer, and flush to disk.
async fn receive(body: Body, part: &mut PartFile, limit: u64) -> ApiResult<Received> {
    let mut stream = body.into_data_stream();
    let mut head: Vec<u8> = Vec::with_capacity(EBML_MAGIC.len());
    let mut file: Option<BufWriter<tokio::fs::File>> = None;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::BadRequest(format!("the upload was interrupted before its end: {e}"))
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        let writer = match file.as_mut() {
            Some(writer) => writer,
            None => {
                head.extend_from_slice(&chunk);
                if head.len() < EBML_MAGIC.len() {
                    continue;
                }
                check_magic(&head)?;
                if let Some(dir) = part.path.parent() {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| internal("create the recordings folder", e))?;
                }
                let created = tokio::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&part.path)
                    .await
                    .map_err(|e| internal("create the recording file", e))?;
                part.delete = true;
                let writer = file.insert(BufWriter::with_capacity(IO_BUFFER, created));
                hasher.update(&head);
                writer
                    .write_all(&head)
                    .await
                    .map_err(|e| internal("write the recording", e))?;
                continue;
            }
        };
        hasher.update(&chunk);
        writer
            .write_all(&chunk)
            .await
            .map_err(|e| internal("write the recording", e))?;
    }
    let Some(mut writer) = file else {
        return Err(if head.is_empty() {
            ApiError::BadRequest("the body is empty: expected a Matroska (.mkv) file".into())
        } else {
            ApiError::BadRequest(format!(
                "not a Matroska file: {} bytes are too short for the EBML header",
                head.len()
            ))
        });
    };
    writer
        .flush()
        .await
        .map_err(|e| internal("write the recording", e))?;
    writer
        .get_ref()
        .sync_all()
        .await
        .map_err(|e| internal("write the recording", e))?;
    let sha256 = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(Received { size, sha256 })
}

fn check_magic(head: &[u8]) -> ApiResult<()> {
    match head.get(..EBML_MAGIC.len()) {
        Some(magic) if magic == EBML_MAGIC => Ok(()),
        _ => Err(ApiError::BadRequest(format!(
            "not a Matroska file: it must start with the EBML magic 1A 45 DF A3, not {}",
            head.iter()
                .take(EBML_MAGIC.len())
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        ))),
    }
}

/// Move the received file to its place (`recordings/<session>/<id>.mkv`).
async fn put_in_place(part: &mut PartFile, to: &Path) -> ApiResult<()> {
    if let Some(dir) = to.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| internal("create the session's recordings folder", e))?;
    }
    tokio::fs::rename(&part.path, to)
        .await
        .map_err(|e| internal("move the recording into place", e))?;
    part.path = to.to_path_buf();
    Ok(())
}

/// POST /api/v1/sessions/{id}/recordings (bearer: the controller's participant token; body: the
/// Matroska file).
pub async fn upload(
    State(state): State<AppState>,
    who: ParticipantAuth,
    PathArg(id): PathArg<String>,
    QueryArgs(query): QueryArgs<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    // A participant token opens only its own session; another one looks missing.
    if who.session_id != id {
        return Err(ApiError::NotFound(format!(
            "no session {id} that you can see"
        )));
    }
    let hub = state.hubs.get(&id).ok_or_else(|| {
        ApiError::conflict(
            "session_ended",
            "the session has ended; a recording is uploaded while the session is live",
        )
    })?;
    // Refuse before reading a byte: only the controller, in a live session that allows it.
    hub.session()
        .await
        .check_attach_recording(who.participant)
        .map_err(refusal)?;
    if !is_matroska(&headers) {
        return Err(ApiError::BadRequest(format!(
            "expected the recording as the body with Content-Type: {RECORDING_CONTENT_TYPE}"
        )));
    }
    let limit = state.config.max_recording_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }

    let recording_id = uuid::Uuid::new_v4().to_string();
    let mut part = PartFile {
        path: state
            .config
            .recordings_dir()
            .join(format!("upload-{recording_id}.part")),
        delete: false,
    };
    let received = receive(body, &mut part, limit).await?;
    put_in_place(&mut part, &recording_path(&state, &id, &recording_id)).await?;
    let row = RecordingRow {
        id: recording_id,
        session_id: id,
        size: received.size,
        sha256: received.sha256,
        duration_ms: query.duration_ms,
        created_at: now_ms() as i64,
        uploaded_by: who.participant.0,
    };
    // The model decides again (control may have moved during the upload); on refusal the file
    // goes with `part`.
    hub.attach_recording(&state, &row).await?;
    part.delete = false;
    tracing::info!(session = %row.session_id, recording = %row.id, size = row.size, "recording attached");
    Ok((StatusCode::CREATED, Json(json!(row))))
}

/// GET /api/v1/sessions/{id}/recordings/{recording}: the file, streamed.
pub async fn download(
    State(state): State<AppState>,
    me: SignedIn,
    PathArg((id, recording)): PathArg<(String, String)>,
) -> ApiResult<Response> {
    let session = readable(&state, &me, &id).await?;
    let row = state
        .db
        .recording(&session.id, &recording)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no recording {recording} in session {id}")))?;
    let path = recording_path(&state, &session.id, &row.id);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| internal(&format!("open recording {}", row.id), e))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| internal(&format!("read recording {}", row.id), e))?
        .len();
    let name = format!("recording-{}.mkv", row.id);
    Ok(attachment(file, size, RECORDING_CONTENT_TYPE, &name))
}
