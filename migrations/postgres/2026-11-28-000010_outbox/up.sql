-- Email (CONTRACT §11): every message is written here first, in the transaction of the event that
-- causes it where there is one, and sent by a background worker. A worker claims a message by
-- setting `lease_until` (another worker skips it until the lease ends); a message whose sending
-- completed is `sent` and is never claimed again.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    -- import_report | spool_report | stale_alarm | opt_out_confirmation
    kind TEXT NOT NULL,
    -- The addresses, comma-separated, in clear only here (needed to send); masked for display.
    recipients TEXT NOT NULL,
    to_masked TEXT NOT NULL,
    subject TEXT NOT NULL,
    -- The parts as sent; empty where `params` holds what to say instead (an opt-out's
    -- confirmation: a small row in the opt-out's commit, rendered by the sender).
    body_text TEXT NOT NULL,
    body_html TEXT NOT NULL,
    params TEXT,
    -- The one-click unsubscribe link of an opt-out confirmation (List-Unsubscribe).
    unsubscribe_url TEXT,
    message_id TEXT NOT NULL,
    -- At most one message per key (a staleness alarm: register and UK day), across instances.
    dedupe TEXT UNIQUE,
    created_at TIMESTAMP NOT NULL,
    -- pending | sent | failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    leased_by TEXT,
    last_error TEXT,
    sent_at TIMESTAMP
);
-- Partial indexes: a confirmation written in an opt-out's commit touches as few as it can.
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_import_reports ON outbox (id) WHERE kind = 'import_report';
CREATE INDEX outbox_spool_reports ON outbox (id) WHERE kind = 'spool_report';
