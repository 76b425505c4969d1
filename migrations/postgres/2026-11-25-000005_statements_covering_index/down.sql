CREATE INDEX statements_in_force ON statements (contact_key, channel, recorded_at, id);
DROP INDEX statements_in_force_covering;
