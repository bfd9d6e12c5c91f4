-- ORCH_003, data health: the thresholds, the anomalies, and the three views of the seed
-- (v_orchestrator_health, v_data_why_missing, v_routing_anomalies), on real columns only.
-- The seed's first drafts read columns that do not exist (sot_cats.name,
-- staged_records.staged_at) and counted every failure ever as a "24h" failure.
--
-- Its functions, views and triggers live in functions/anomalies.sql, views/health.sql,
-- views/why_missing.sql and views/routing_anomalies.sql (re-applied when they change; docs/operations.md,
-- "Installing and uninstalling").

CREATE TABLE trapper.orchestrator_health_windows (
    ingest_frequency TEXT PRIMARY KEY
        CHECK (ingest_frequency IN ('realtime', 'daily', 'weekly', 'monthly', 'on_demand')),
    stale_after      INTERVAL,          -- NULL: never stale (on demand)
    description      TEXT NOT NULL
);
INSERT INTO trapper.orchestrator_health_windows VALUES
    ('realtime', '2 hours', 'a realtime source quiet for 2 hours has stopped'),
    ('daily', '2 days', 'a daily sync that missed one day is late, two is stale'),
    ('weekly', '10 days', 'a weekly export gets three days of grace'),
    ('monthly', '40 days', 'a monthly export gets ten days of grace'),
    ('on_demand', NULL, 'loaded when someone has data; never stale');

CREATE TABLE trapper.orchestrator_health_settings (
    key         TEXT PRIMARY KEY,
    value       NUMERIC NOT NULL,
    description TEXT NOT NULL
);
INSERT INTO trapper.orchestrator_health_settings VALUES
    ('backlog_rows', 1000, 'unprocessed staged rows above which a source is backlogged'),
    ('backlog_min_age_minutes', 30,
     'a backlog anomaly needs its oldest unprocessed row to be at least this old'),
    ('processing_behind_hours', 6,
     'oldest unprocessed staged row older than this: processing_behind'),
    ('why_missing_unprocessed_hours', 1,
     'staged rows waiting longer than this appear in v_data_why_missing'),
    ('error_burst_count', 10, 'errors and failed jobs in the last hour that make a burst'),
    ('volume_z', 3, 'a batch this many standard deviations from its history is anomalous'),
    ('volume_min_history', 4, 'same-weekday batches needed before volume alerts'),
    ('volume_history', 8, 'trailing same-weekday batches compared'),
    ('implausible_colony_size', 100, 'a colony estimate above this is implausible'),
    ('implausible_window_days', 7, 'implausible values of the last N days keep the anomaly open'),
    ('many_identifiers', 5, 'a person with more identifiers than this may be a shared account'),
    ('stale_staged_days', 7, 'unprocessed staged rows older than this are stale'),
    ('stale_staged_min_rows', 10, 'how many such rows a source needs to be listed'),
    ('stuck_job_minutes', 30, 'a processing job without a heartbeat this long is stuck'),
    ('drift_sample_rows', 500, 'rows of the newest batch read for schema drift');

-- Per source and hour, what happened (folded from the job log by the listener, exactly once):
-- the health views' 24-hour figures and the page's sparklines.
CREATE TABLE trapper.orchestrator_source_hourly (
    source_system     TEXT NOT NULL,
    source_table      TEXT NOT NULL,
    hour              TIMESTAMPTZ NOT NULL,
    staged            BIGINT NOT NULL DEFAULT 0,
    routed            BIGINT NOT NULL DEFAULT 0,
    skipped           BIGINT NOT NULL DEFAULT 0,
    rejected          BIGINT NOT NULL DEFAULT 0,
    errors            BIGINT NOT NULL DEFAULT 0,
    anomalies         BIGINT NOT NULL DEFAULT 0,
    entities_created  BIGINT NOT NULL DEFAULT 0,
    jobs_completed    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (source_system, source_table, hour)
);
CREATE INDEX orchestrator_source_hourly_hour_idx ON trapper.orchestrator_source_hourly (hour);

-- Anomalies: one row per stable key, reopened when it comes back. Raising and resolving
-- write anomaly_flagged / anomaly_resolved job-log rows, so they sit in every timeline.
CREATE TABLE trapper.orchestrator_anomalies (
    anomaly_key    TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    severity       TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    source_system  TEXT NOT NULL,
    source_table   TEXT NOT NULL,
    summary        TEXT NOT NULL,
    suggested_fix  TEXT,
    details        JSONB NOT NULL DEFAULT '{}',
    first_seen     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen      TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at    TIMESTAMPTZ,
    occurrences    INT NOT NULL DEFAULT 1
);
CREATE INDEX orchestrator_anomalies_open_idx
    ON trapper.orchestrator_anomalies (source_system, source_table) WHERE resolved_at IS NULL;
