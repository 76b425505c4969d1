-- API keys: only the SHA-256 of a key is stored.
CREATE TABLE api_keys (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
-- A name is unique among keys in use; a revoked key's name may be used again.
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

-- In-house statements: append-only; for a (key, channel) the latest is in force.
CREATE TABLE statements (
    id BIGSERIAL PRIMARY KEY,
    contact_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    source TEXT NOT NULL,
    recorded_by TEXT,
    recorded_via TEXT NOT NULL,
    note TEXT,
    evidence TEXT
);
CREATE INDEX statements_in_force ON statements (contact_key, channel, recorded_at, id);
