-- People who sign in to the pages (CONTRACT §7, §10): Argon2id hashes only.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    email TEXT,
    password_hash TEXT NOT NULL,
    -- A one-time password (new user, reset) must be changed at the next sign-in.
    must_change_password BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    disabled_at TIMESTAMP
);
-- Sessions: the cookie holds a random id; only its SHA-256 is kept. `csrf` is the token every
-- form of the session carries.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
-- Failed sign-ins by name (whether or not the name exists), for the hold after five.
CREATE TABLE sign_in_failures (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_failures_name_at ON sign_in_failures (name, at);
