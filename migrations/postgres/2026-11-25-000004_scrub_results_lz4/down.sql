ALTER TABLE scrubs DROP COLUMN state;
UPDATE scrubs SET results_expire_at = (now() AT TIME ZONE 'UTC')
    WHERE results_expire_at > (now() AT TIME ZONE 'UTC') AND id IN (SELECT scrub_id FROM scrub_results);
DELETE FROM scrub_results;
ALTER TABLE scrub_results ALTER COLUMN data SET STORAGE EXTENDED;
