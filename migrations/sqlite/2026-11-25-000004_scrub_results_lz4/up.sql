-- Scrub results are stored as LZ4 blocks of row records (src/scrub/results.rs) instead of
-- annotated CSV: a fifth of the bytes to write, and each download part rendered by copying.
-- Results stored the old way cannot be read by this version: their scrubs are marked expired
-- (downloads answer 410 Gone; the summaries, the screening certificates, are kept).
UPDATE scrubs SET results_expire_at = CURRENT_TIMESTAMP
    WHERE results_expire_at > CURRENT_TIMESTAMP AND id IN (SELECT scrub_id FROM scrub_results);
DROP TABLE scrub_results;
-- A rowid table: blocks are large, which WITHOUT ROWID tables are not made for.
CREATE TABLE scrub_results (
    scrub_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (scrub_id, seq)
);

-- A scrub's result is written while its list is being judged, under a scrub row that stays
-- 'pending' (listed nowhere) until the summary is written with it in one transaction; a scrub
-- that fails, or a server that dies midway, leaves only a pending row that is swept away.
ALTER TABLE scrubs ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
