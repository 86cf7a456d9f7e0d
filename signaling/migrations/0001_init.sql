-- tether signaling: initial schema. Times are milliseconds since the Unix epoch.
CREATE TABLE csrs (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- Sign-in tokens, stored as SHA-256 of the token.
CREATE TABLE auth_tokens (
    token_hash BLOB PRIMARY KEY,
    csr_id INTEGER NOT NULL REFERENCES csrs(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    number INTEGER,
    session_type TEXT NOT NULL,
    tracking_code TEXT,
    started_by INTEGER NOT NULL REFERENCES csrs(id),
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    state_json TEXT NOT NULL
);
CREATE INDEX sessions_live ON sessions(ended_at);

-- Which CSR accounts took part in a session ("my sessions").
CREATE TABLE session_csrs (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    csr_id INTEGER NOT NULL REFERENCES csrs(id),
    PRIMARY KEY (session_id, csr_id)
);
CREATE INDEX session_csrs_csr ON session_csrs(csr_id);

-- Participant tokens (the credential of a WebSocket connection), stored as SHA-256.
CREATE TABLE participants (
    token_hash BLOB PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    participant INTEGER NOT NULL,
    UNIQUE (session_id, participant)
);

-- Invitations: the link token is stored only as SHA-256; the short code as its two numbers.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    role TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    code_secret INTEGER,
    created_by INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    used_by INTEGER,
    revoked_at INTEGER
);
CREATE INDEX invitations_session ON invitations(session_id);

-- The session record: every event in order.
CREATE TABLE record (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX record_session ON record(session_id, seq);
