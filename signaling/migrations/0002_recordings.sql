-- Session recordings uploaded by the controller. The file lives in the data folder at
-- recordings/<session_id>/<id>.mkv; this table holds what the record says about it.
CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    size INTEGER NOT NULL,
    -- Lower-case hex SHA-256 of the whole file.
    sha256 TEXT NOT NULL,
    duration_ms INTEGER,
    created_at INTEGER NOT NULL,
    -- The participant id (within the session) of the controller that uploaded it.
    uploaded_by INTEGER NOT NULL
);
CREATE INDEX recordings_session ON recordings(session_id, created_at);
