-- The durable event log the listener consumes. NOTIFY is only a wake-up carrying the
-- newest id; the truth is this table, read below the snapshot's xmin (docs/ARCHITECTURE.md contract 3).
--
-- Its functions, views and triggers live in functions/wake.sql and triggers/staged_records.sql
-- (re-applied when they change; docs/operations.md, "Installing and uninstalling").

CREATE TABLE trapper.orchestrator_events (
    event_id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind           TEXT NOT NULL,
    source_system  TEXT,
    source_table   TEXT,
    record_ref     TEXT,
    entity_ref     TEXT,
    payload        JSONB NOT NULL DEFAULT '{}',
    created_at     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX orchestrator_events_xid_idx ON trapper.orchestrator_events (xid, event_id);

CREATE TABLE trapper.orchestrator_settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    description TEXT NOT NULL
);
INSERT INTO trapper.orchestrator_settings (key, value, description) VALUES
    ('notify', 'on', 'on: shadow triggers send pg_notify(newest event id) once per transaction; '
                     'off: listeners poll (for hosts with many concurrent small writers)');

CREATE TABLE trapper.orchestrator_shadow_failures (
    failure_id  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    trigger     TEXT NOT NULL,
    sqlstate    TEXT,
    message     TEXT NOT NULL,
    failed_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
