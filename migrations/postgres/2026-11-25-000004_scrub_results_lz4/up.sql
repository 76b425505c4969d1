-- Scrub results are stored as LZ4 blocks of row records (src/scrub/results.rs) instead of
-- annotated CSV: a fifth of the bytes to write, and each download part rendered by copying.
-- Results stored the old way cannot be read by this version: their scrubs are marked expired
-- (downloads answer 410 Gone; the summaries, the screening certificates, are kept).
UPDATE scrubs SET results_expire_at = (now() AT TIME ZONE 'UTC')
    WHERE results_expire_at > (now() AT TIME ZONE 'UTC') AND id IN (SELECT scrub_id FROM scrub_results);
DELETE FROM scrub_results;
-- The blocks are compressed already: stored as they are, without TOAST compressing them again.
ALTER TABLE scrub_results ALTER COLUMN data SET STORAGE EXTERNAL;

-- A scrub's result is written while its list is being judged, under a scrub row that stays
-- 'pending' (listed nowhere) until the summary is written with it in one transaction; a scrub
-- that fails, or a server that dies midway, leaves only a pending row that is swept away.
ALTER TABLE scrubs ADD COLUMN state TEXT NOT NULL DEFAULT 'done';
