-- The server's secret (CONTRACT §8 SUPPRESS_SECRET) when none is configured. On SQLite it is kept
-- in a file beside the database (mode 0600, `store::secret`), not here: the table exists so that
-- the two trees define the same tables, and stays empty.
CREATE TABLE server_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
