-- Every import attempt, applied or failed, with its report: the compliance record.
CREATE TABLE register_imports (
    id BIGSERIAL PRIMARY KEY,
    register TEXT NOT NULL,
    as_of DATE NOT NULL,
    kind TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    records BIGINT NOT NULL,
    added BIGINT NOT NULL,
    removed BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    rejected BIGINT NOT NULL,
    entries_after BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX register_imports_by_register ON register_imports (register, id);
-- A file is applied to a register once for a date. (The same bytes with a later date are a new
-- night's file on a quiet day: they confirm the snapshot as of that date.)
CREATE UNIQUE INDEX register_imports_applied_file ON register_imports (register, file_sha256, as_of) WHERE status = 'applied';

-- The snapshot in force for each register: its numbers as one compact blob (sorted, delta-varint).
CREATE TABLE register_snapshots (
    register TEXT PRIMARY KEY NOT NULL,
    import_id BIGINT NOT NULL,
    as_of DATE NOT NULL,
    entries BIGINT NOT NULL,
    file_sha256 TEXT NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    numbers BYTEA NOT NULL
);

-- What each import changed (after a register's first): any past snapshot can be rebuilt from the
-- current one and these.
CREATE TABLE register_changes (
    import_id BIGINT NOT NULL,
    number BIGINT NOT NULL,
    added INTEGER NOT NULL,
    PRIMARY KEY (import_id, number)
);

-- Entries listed since a known date (those added after the register's first import).
CREATE TABLE register_listings (
    register TEXT NOT NULL,
    number BIGINT NOT NULL,
    listed_since DATE NOT NULL,
    PRIMARY KEY (register, number)
);
