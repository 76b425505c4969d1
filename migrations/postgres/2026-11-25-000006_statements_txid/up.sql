-- The transaction that wrote each statement. An instance keeps the statements in force in memory
-- and, before each answer, reads the statements its last snapshot could not see
-- (store/statements.rs `since`). Ids alone cannot say which those are: a transaction can take a
-- lower id and commit after another has committed a higher one.
ALTER TABLE statements ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX statements_txid ON statements (txid);
ANALYZE statements;

-- The statements visible now that were not visible in the snapshot `since` (as text, from an
-- earlier call), each row with the current snapshot: the cursor for the next call. One row with
-- only the snapshot when there is nothing new.
--
-- A function, to hold one plan: with `since` a parameter, PostgreSQL would otherwise plan the
-- query afresh on every call (its generic plan looks dearer than a custom one), and a check
-- would pay the planner each time. The generic plan is an index range scan on txid.
-- STABLE: the query and pg_current_snapshot() see the calling statement's snapshot, so the rows
-- and the cursor agree. The upper bound (below the current snapshot's xmax) holds for every
-- visible row; it gives the planner a closed range to estimate.
CREATE FUNCTION statements_since(since text)
RETURNS TABLE (snapshot text, id bigint, contact_key text, channel text, recorded_at timestamp, kind text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    now_ pg_snapshot := pg_current_snapshot();
    from_ pg_snapshot := since::pg_snapshot;
BEGIN
    RETURN QUERY
        SELECT now_::text, s.id, s.contact_key, s.channel, s.recorded_at, s.kind
        FROM statements AS s
        WHERE s.txid >= pg_snapshot_xmin(from_) AND s.txid < pg_snapshot_xmax(now_)
          AND NOT pg_visible_in_snapshot(s.txid, from_);
    IF NOT FOUND THEN
        RETURN QUERY SELECT now_::text, NULL::bigint, NULL::text, NULL::text, NULL::timestamp, NULL::text;
    END IF;
END
$$;
