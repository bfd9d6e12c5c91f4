-- The listener's state and its two server-side steps.
--
-- 1. orchestrator_consume_events: enrich a page of events into job-log rows and move the
--    checkpoint, in one transaction. Events are read by (xid, event_id) and only from
--    transactions visible in the pass's snapshot; the horizon only moves to that snapshot's
--    xmin, below which no transaction can still commit. Transactions above the horizon that
--    were already read are remembered in `done`, so a later pass neither skips a slow
--    transaction nor reads a fast one twice (docs/ARCHITECTURE.md contract 3).
-- 2. orchestrator_tally_log: fold job-log rows into per-source counters and hourly buckets,
--    exactly once, up to a log_seq below which no transaction can still add a row.
--
-- Its functions, views and triggers live in functions/watermarks.sql, functions/events.sql,
-- functions/tally.sql and functions/capture.sql (re-applied when they change; docs/operations.md,
-- "Installing and uninstalling").

INSERT INTO trapper.orchestrator_settings (key, value, description) VALUES
    ('events_retention_days', '7',
     'consumed events older than this are deleted by the listener (the job log keeps the story)'),
    ('notify_queue_alert', '0.5',
     'fraction of the NOTIFY queue in use at which the listener raises an anomaly'),
    ('capture_staged', 'trigger',
     'trigger: a statement-level trigger writes one event per insert statement into '
     'staged_records; poll: that trigger is disabled and the listener finds new staged rows '
     'itself, at no cost to the host''s writers (set with orchestrator_set_staged_capture)');

CREATE TABLE trapper.orchestrator_listener_checkpoint (
    consumer          TEXT PRIMARY KEY,
    horizon           xid8 NOT NULL DEFAULT '0',     -- every event below it is enriched
    done              xid8[] NOT NULL DEFAULT '{}',  -- transactions at or above it, enriched
    pass_snapshot     pg_snapshot,                   -- the pass in progress, if any
    pass_after_xid    xid8,
    pass_after_id     BIGINT,
    pass_xids         xid8[] NOT NULL DEFAULT '{}',
    events_consumed   BIGINT NOT NULL DEFAULT 0,
    log_tallied_upto  BIGINT NOT NULL DEFAULT 0,     -- job-log rows up to here are counted
    probe_seq         BIGINT,                        -- a pending watermark probe
    probe_vxids       TEXT[],
    staged_polled_upto BIGINT,                       -- capture_staged = poll: rows up to here
    staged_probe_seq  BIGINT,                        --   have their events
    staged_probe_vxids TEXT[],
    holder            TEXT,                          -- who consumes now (host:pid)
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
