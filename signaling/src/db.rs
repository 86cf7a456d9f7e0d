//! All SQL of the service: the SQLite store, its embedded migrations and every query.

use crate::settings::OrgSettings;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;
use tether_protocol::{AccountId, Event, InviteRole, Millis, ParticipantId, Session};

/// Migrations, applied in order once each; never edit one that has shipped.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_recordings.sql")),
];

pub type DbResult<T> = Result<T, sqlx::Error>;

/// The store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CsrRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    #[serde(skip)]
    pub password_hash: String,
    pub is_admin: bool,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub number: Option<u16>,
    pub session_type: String,
    pub tracking_code: Option<String>,
    pub started_by: i64,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub state: Session,
}

#[derive(Debug, Clone, Serialize)]
pub struct InvitationRow {
    pub id: String,
    pub session_id: String,
    pub role: InviteRole,
    #[serde(skip)]
    pub code_secret: Option<u32>,
    pub created_by: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub used_by: Option<u32>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordEntry {
    pub seq: i64,
    pub at: i64,
    pub event: serde_json::Value,
}

/// A session recording's metadata (the file is in the recordings folder, named by `id`).
#[derive(Debug, Clone, Serialize)]
pub struct RecordingRow {
    pub id: String,
    pub session_id: String,
    pub size: u64,
    /// Lower-case hex SHA-256 of the whole file.
    pub sha256: String,
    pub duration_ms: Option<u64>,
    pub created_at: i64,
    /// Participant id of the controller that uploaded it.
    pub uploaded_by: u32,
}

/// What `apply` stores besides the new state and the events.
#[derive(Debug)]
pub enum Also<'a> {
    Nothing,
    /// A participant who joined, and the invitation it used.
    Joined(NewParticipant<'a>, Option<&'a str>),
    /// A recording attached to the record.
    Recording(&'a RecordingRow),
}

/// Why `apply` stored nothing.
#[derive(Debug)]
pub enum ApplyError {
    Db(sqlx::Error),
    /// The invitation was used or revoked by someone else meanwhile.
    InvitationTaken,
}

impl From<sqlx::Error> for ApplyError {
    fn from(e: sqlx::Error) -> Self {
        ApplyError::Db(e)
    }
}

/// What `update_csr` did.
#[derive(Debug)]
pub enum CsrUpdate {
    Updated(CsrRow),
    NotFound,
    WouldLeaveNoAdmin,
}

/// A new participant to store with the events of its joining.
#[derive(Debug)]
pub struct NewParticipant<'a> {
    pub token_hash: &'a [u8],
    pub id: ParticipantId,
    pub account: Option<AccountId>,
}

fn csr_from(row: &sqlx::sqlite::SqliteRow) -> DbResult<CsrRow> {
    Ok(CsrRow {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        password_hash: row.try_get("password_hash")?,
        is_admin: row.try_get("is_admin")?,
        disabled: row.try_get("disabled")?,
        must_change_password: row.try_get("must_change_password")?,
        created_at: row.try_get("created_at")?,
    })
}

fn decode_err(e: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

fn session_from(row: &sqlx::sqlite::SqliteRow) -> DbResult<SessionRow> {
    let state: String = row.try_get("state_json")?;
    Ok(SessionRow {
        id: row.try_get("id")?,
        number: row.try_get::<Option<i64>, _>("number")?.map(|n| n as u16),
        session_type: row.try_get("session_type")?,
        tracking_code: row.try_get("tracking_code")?,
        started_by: row.try_get("started_by")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        state: serde_json::from_str(&state).map_err(decode_err)?,
    })
}

fn invitation_from(row: &sqlx::sqlite::SqliteRow) -> DbResult<InvitationRow> {
    let role: String = row.try_get("role")?;
    Ok(InvitationRow {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        role: if role == "csr" {
            InviteRole::Csr
        } else {
            InviteRole::Customer
        },
        code_secret: row
            .try_get::<Option<i64>, _>("code_secret")?
            .map(|n| n as u32),
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        used_by: row.try_get::<Option<i64>, _>("used_by")?.map(|n| n as u32),
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn recording_from(row: &sqlx::sqlite::SqliteRow) -> DbResult<RecordingRow> {
    Ok(RecordingRow {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        size: row.try_get::<i64, _>("size")? as u64,
        sha256: row.try_get("sha256")?,
        duration_ms: row
            .try_get::<Option<i64>, _>("duration_ms")?
            .map(|n| n as u64),
        created_at: row.try_get("created_at")?,
        uploaded_by: row.try_get::<i64, _>("uploaded_by")? as u32,
    })
}

fn event_kind(event: &Event) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

impl Db {
    /// Open (creating if missing) the database file, in WAL mode, and apply migrations.
    pub async fn open(path: &Path) -> DbResult<Db> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        let db = Db { pool };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> DbResult<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")
            .execute(&self.pool)
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query("SELECT 1 FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_none() {
                sqlx::raw_sql(sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version) VALUES (?)")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- CSR accounts ----

    pub async fn csr_count(&self) -> DbResult<i64> {
        sqlx::query("SELECT COUNT(*) FROM csrs")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)
    }

    pub async fn create_csr(
        &self,
        username: &str,
        display_name: &str,
        password_hash: &str,
        is_admin: bool,
        must_change_password: bool,
        now: Millis,
    ) -> DbResult<Option<CsrRow>> {
        let res = sqlx::query(
            "INSERT INTO csrs (username, display_name, password_hash, is_admin, must_change_password, created_at)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(username) DO NOTHING",
        )
        .bind(username)
        .bind(display_name)
        .bind(password_hash)
        .bind(is_admin)
        .bind(must_change_password)
        .bind(now as i64)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Ok(None);
        }
        self.csr(res.last_insert_rowid()).await
    }

    pub async fn csr(&self, id: i64) -> DbResult<Option<CsrRow>> {
        sqlx::query("SELECT * FROM csrs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| csr_from(&r))
            .transpose()
    }

    pub async fn csr_by_username(&self, username: &str) -> DbResult<Option<CsrRow>> {
        sqlx::query("SELECT * FROM csrs WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| csr_from(&r))
            .transpose()
    }

    pub async fn list_csrs(&self) -> DbResult<Vec<CsrRow>> {
        sqlx::query("SELECT * FROM csrs ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(csr_from)
            .collect()
    }

    /// Update the given fields of an account; `None` leaves a field as it is. Refused (nothing
    /// changes) when it would leave no enabled admin; the check and the update are one
    /// transaction, so two admins demoting each other can't both succeed.
    pub async fn update_csr(
        &self,
        id: i64,
        display_name: Option<&str>,
        password_hash: Option<&str>,
        is_admin: Option<bool>,
        disabled: Option<bool>,
        must_change_password: Option<bool>,
    ) -> DbResult<CsrUpdate> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE csrs SET display_name = COALESCE(?, display_name),
                password_hash = COALESCE(?, password_hash),
                is_admin = COALESCE(?, is_admin),
                disabled = COALESCE(?, disabled),
                must_change_password = COALESCE(?, must_change_password)
             WHERE id = ?",
        )
        .bind(display_name)
        .bind(password_hash)
        .bind(is_admin)
        .bind(disabled)
        .bind(must_change_password)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let admins: i64 =
            sqlx::query("SELECT COUNT(*) FROM csrs WHERE is_admin = 1 AND disabled = 0")
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        if admins == 0 {
            tx.rollback().await?;
            return Ok(CsrUpdate::WouldLeaveNoAdmin);
        }
        if disabled == Some(true) || password_hash.is_some() {
            // A disabled account or a changed password signs every device out.
            sqlx::query("DELETE FROM auth_tokens WHERE csr_id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(self
            .csr(id)
            .await?
            .map_or(CsrUpdate::NotFound, CsrUpdate::Updated))
    }

    // ---- sign-in tokens ----

    pub async fn insert_auth_token(
        &self,
        hash: &[u8],
        csr: i64,
        now: Millis,
        expires: Millis,
    ) -> DbResult<()> {
        sqlx::query("INSERT INTO auth_tokens (token_hash, csr_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(hash)
            .bind(csr)
            .bind(now as i64)
            .bind(expires as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The enabled account a live sign-in token belongs to.
    pub async fn csr_by_auth_token(&self, hash: &[u8], now: Millis) -> DbResult<Option<CsrRow>> {
        sqlx::query(
            "SELECT c.* FROM auth_tokens t JOIN csrs c ON c.id = t.csr_id
             WHERE t.token_hash = ? AND t.expires_at > ? AND c.disabled = 0",
        )
        .bind(hash)
        .bind(now as i64)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| csr_from(&r))
        .transpose()
    }

    pub async fn delete_auth_token(&self, hash: &[u8]) -> DbResult<()> {
        sqlx::query("DELETE FROM auth_tokens WHERE token_hash = ?")
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- organization settings ----

    pub async fn settings(&self) -> DbResult<OrgSettings> {
        let row = sqlx::query("SELECT json FROM settings WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => serde_json::from_str(&r.try_get::<String, _>(0)?).map_err(decode_err),
            None => Ok(OrgSettings::default()),
        }
    }

    pub async fn save_settings(&self, settings: &OrgSettings) -> DbResult<()> {
        let json = serde_json::to_string(settings).map_err(decode_err)?;
        sqlx::query("INSERT INTO settings (id, json) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET json = excluded.json")
            .bind(json)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- sessions and their record ----

    /// Store a newly started session with its first participant and events.
    pub async fn insert_session(
        &self,
        row: &SessionRow,
        first: NewParticipant<'_>,
        events: &[Event],
        now: Millis,
    ) -> DbResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (id, number, session_type, tracking_code, started_by, started_at, state_json)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&row.id)
        .bind(row.number.map(i64::from))
        .bind(&row.session_type)
        .bind(&row.tracking_code)
        .bind(row.started_by)
        .bind(row.started_at)
        .bind(serde_json::to_string(&row.state).map_err(decode_err)?)
        .execute(&mut *tx)
        .await?;
        insert_participant(&mut tx, &row.id, &first).await?;
        append(&mut tx, &row.id, events, now).await?;
        tx.commit().await
    }

    /// Persist what a command did: the new state, its events, and what else it brought (a joining
    /// participant and its used invitation, or a recording), in one transaction.
    pub async fn apply(
        &self,
        session_id: &str,
        state: &Session,
        events: &[Event],
        also: Also<'_>,
        now: Millis,
    ) -> Result<(), ApplyError> {
        let mut tx = self.pool.begin().await?;
        let ended_at = match state.state {
            tether_protocol::SessionState::Ended { at, .. } => Some(at as i64),
            tether_protocol::SessionState::Live => None,
        };
        sqlx::query("UPDATE sessions SET state_json = ?, ended_at = ? WHERE id = ?")
            .bind(serde_json::to_string(state).map_err(decode_err)?)
            .bind(ended_at)
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        match also {
            Also::Nothing => {}
            Also::Recording(recording) => insert_recording(&mut tx, recording).await?,
            Also::Joined(participant, invitation) => {
                insert_participant(&mut tx, session_id, &participant).await?;
                if let Some(inv) = invitation {
                    let used = sqlx::query(
                        "UPDATE invitations SET used_at = ?, used_by = ?
                         WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL",
                    )
                    .bind(now as i64)
                    .bind(i64::from(participant.id.0))
                    .bind(inv)
                    .execute(&mut *tx)
                    .await?;
                    if used.rows_affected() != 1 {
                        return Err(ApplyError::InvitationTaken);
                    }
                }
            }
        }
        append(&mut tx, session_id, events, now).await?;
        Ok(tx.commit().await?)
    }

    pub async fn session(&self, id: &str) -> DbResult<Option<SessionRow>> {
        sqlx::query("SELECT * FROM sessions WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| session_from(&r))
            .transpose()
    }

    pub async fn live_sessions(&self) -> DbResult<Vec<SessionRow>> {
        sqlx::query("SELECT * FROM sessions WHERE ended_at IS NULL")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(session_from)
            .collect()
    }

    /// Sessions, newest first: those `csr` took part in, or all when `csr` is `None`; filtered
    /// by a substring of the type or tracking code when `query` is given.
    pub async fn list_sessions(
        &self,
        csr: Option<i64>,
        query: Option<&str>,
        limit: i64,
    ) -> DbResult<Vec<SessionRow>> {
        let pattern = query.map(|q| {
            format!(
                "%{}%",
                q.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        });
        sqlx::query(
            "SELECT s.* FROM sessions s
             WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM session_csrs c WHERE c.session_id = s.id AND c.csr_id = ?1))
               AND (?2 IS NULL OR s.session_type LIKE ?2 ESCAPE '\\' OR s.tracking_code LIKE ?2 ESCAPE '\\')
             ORDER BY s.started_at DESC, s.id LIMIT ?3",
        )
        .bind(csr)
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(session_from)
        .collect()
    }

    pub async fn csr_took_part(&self, session_id: &str, csr: i64) -> DbResult<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM session_csrs WHERE session_id = ? AND csr_id = ?")
                .bind(session_id)
                .bind(csr)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    pub async fn record(&self, session_id: &str) -> DbResult<Vec<RecordEntry>> {
        sqlx::query("SELECT seq, at, json FROM record WHERE session_id = ? ORDER BY seq")
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let json: String = r.try_get("json")?;
                Ok(RecordEntry {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    event: serde_json::from_str(&json).map_err(decode_err)?,
                })
            })
            .collect()
    }

    /// The session and participant a participant token belongs to.
    pub async fn participant_by_token(
        &self,
        hash: &[u8],
    ) -> DbResult<Option<(String, ParticipantId)>> {
        let row =
            sqlx::query("SELECT session_id, participant FROM participants WHERE token_hash = ?")
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok((
                r.try_get("session_id")?,
                ParticipantId(r.try_get::<i64, _>("participant")? as u32),
            ))
        })
        .transpose()
    }

    // ---- recordings ----

    /// A recording of a session; `None` when there is none with this id in this session.
    pub async fn recording(&self, session_id: &str, id: &str) -> DbResult<Option<RecordingRow>> {
        sqlx::query("SELECT * FROM recordings WHERE session_id = ? AND id = ?")
            .bind(session_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| recording_from(&r))
            .transpose()
    }

    // ---- invitations ----

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_invitation(
        &self,
        id: &str,
        session_id: &str,
        role: InviteRole,
        token_hash: &[u8],
        code_secret: Option<u32>,
        created_by: i64,
        now: Millis,
        expires_at: Millis,
        events: &[Event],
    ) -> DbResult<bool> {
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "INSERT INTO invitations (id, session_id, role, token_hash, code_secret, created_by, created_at, expires_at)
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
             WHERE ?5 IS NULL OR NOT EXISTS (
                SELECT 1 FROM invitations WHERE session_id = ?2 AND code_secret = ?5
                  AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?7)",
        )
        .bind(id)
        .bind(session_id)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(code_secret.map(i64::from))
        .bind(created_by)
        .bind(now as i64)
        .bind(expires_at as i64)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Ok(false);
        }
        append(&mut tx, session_id, events, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn invitation_by_token(&self, hash: &[u8]) -> DbResult<Option<InvitationRow>> {
        sqlx::query("SELECT * FROM invitations WHERE token_hash = ?")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| invitation_from(&r))
            .transpose()
    }

    /// The unused, unrevoked, unexpired invitation of a session with this code secret.
    pub async fn invitation_by_code(
        &self,
        session_id: &str,
        secret: u32,
        now: Millis,
    ) -> DbResult<Option<InvitationRow>> {
        sqlx::query(
            "SELECT * FROM invitations WHERE session_id = ? AND code_secret = ?
               AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
        )
        .bind(session_id)
        .bind(i64::from(secret))
        .bind(now as i64)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| invitation_from(&r))
        .transpose()
    }

    pub async fn invitations(&self, session_id: &str) -> DbResult<Vec<InvitationRow>> {
        sqlx::query("SELECT * FROM invitations WHERE session_id = ? ORDER BY created_at, rowid")
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(invitation_from)
            .collect()
    }

    /// Revoke an unused invitation; false when it is unknown, used or already revoked.
    pub async fn revoke_invitation(
        &self,
        session_id: &str,
        id: &str,
        now: Millis,
    ) -> DbResult<bool> {
        let res = sqlx::query(
            "UPDATE invitations SET revoked_at = ? WHERE id = ? AND session_id = ? AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now as i64)
        .bind(id)
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }
}

async fn insert_participant(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    session_id: &str,
    p: &NewParticipant<'_>,
) -> DbResult<()> {
    sqlx::query("INSERT INTO participants (token_hash, session_id, participant) VALUES (?, ?, ?)")
        .bind(p.token_hash)
        .bind(session_id)
        .bind(i64::from(p.id.0))
        .execute(&mut **tx)
        .await?;
    if let Some(account) = p.account {
        sqlx::query("INSERT OR IGNORE INTO session_csrs (session_id, csr_id) VALUES (?, ?)")
            .bind(session_id)
            .bind(account.0)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn insert_recording(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    r: &RecordingRow,
) -> DbResult<()> {
    sqlx::query(
        "INSERT INTO recordings (id, session_id, size, sha256, duration_ms, created_at, uploaded_by)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.id)
    .bind(&r.session_id)
    .bind(i64::try_from(r.size).unwrap_or(i64::MAX))
    .bind(&r.sha256)
    .bind(r.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)))
    .bind(r.created_at)
    .bind(i64::from(r.uploaded_by))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    session_id: &str,
    events: &[Event],
    now: Millis,
) -> DbResult<()> {
    for event in events {
        sqlx::query("INSERT INTO record (session_id, at, kind, json) VALUES (?, ?, ?, ?)")
            .bind(session_id)
            .bind(now as i64)
            .bind(event_kind(event))
            .bind(serde_json::to_string(event).map_err(decode_err)?)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
