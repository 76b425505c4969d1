ALTER TABLE scrubs DROP COLUMN state;
UPDATE scrubs SET results_expire_at = CURRENT_TIMESTAMP
    WHERE results_expire_at > CURRENT_TIMESTAMP AND id IN (SELECT scrub_id FROM scrub_results);
DROP TABLE scrub_results;
CREATE TABLE scrub_results (
    scrub_id BIGINT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (scrub_id, seq)
) WITHOUT ROWID;
