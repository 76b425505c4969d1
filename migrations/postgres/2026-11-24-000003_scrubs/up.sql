-- Every scrub's summary: the screening certificate, kept after its results expire.
CREATE TABLE scrubs (
    id BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMP NOT NULL,
    name TEXT,
    channel TEXT NOT NULL,
    created_by TEXT NOT NULL,
    summary TEXT NOT NULL,
    results_expire_at TIMESTAMP NOT NULL
);

-- The annotated result of a scrub, in order, in chunks; clean and suppressed lists are derived
-- from it. Deleted when the results expire.
CREATE TABLE scrub_results (
    scrub_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (scrub_id, seq)
);
