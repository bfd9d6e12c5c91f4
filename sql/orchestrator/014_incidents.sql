-- Issue 19, items 3 and 4: incidents, not alarms; baselines that fit the sources.
--
-- Anomalies of one source that open within a window and share a likely cause form one
-- incident, which gets one Slack message, updated as kinds join, and one resolved message
-- when every member has cleared (docs/health-and-alerts.md, "Incidents"). The volume
-- baseline follows the source's cadence, leaves incidents out of its history and ignores
-- changes below a floor (docs/health-and-alerts.md, "Volume baselines").
--
-- Its functions live in functions/incidents.sql, functions/anomalies.sql,
-- functions/anomaly_detection.sql and functions/alerts.sql (re-applied when they change;
-- docs/operations.md, "Installing and uninstalling").

INSERT INTO trapper.orchestrator_health_settings VALUES
    ('incident_window_minutes', 120,
     'an anomaly joins an open incident of its source with a shared cause opened this recently'),
    ('volume_floor_rows', 50,
     'a batch closer than this many rows to its baseline never alerts (per source: '
     'orchestrator_sources.volume_floor)'),
    ('alert_repeat_max_hours', 168,
     'reminders of an unchanged open incident back off: alert_repeat_hours, then twice as '
     'long each time, at most this long'),
    ('volume_day_of_month_slack', 3,
     'day-of-month baselines compare batches within this many days of the same day');

-- Public holidays: on these days a daily source's batch is compared with Sundays' (a sync on
-- a day the office is closed brings a Sunday's volume). The operator lists them.
CREATE TABLE trapper.orchestrator_holidays (
    day   DATE PRIMARY KEY,
    name  TEXT NOT NULL
);

-- Which kinds may share a cause: two anomalies of one source join the same incident when
-- their kinds share a cause. A kind without a row joins only incidents of its own kind.
CREATE TABLE trapper.orchestrator_incident_causes (
    kind        TEXT NOT NULL,
    cause       TEXT NOT NULL,
    PRIMARY KEY (kind, cause)
);
INSERT INTO trapper.orchestrator_incident_causes (kind, cause) VALUES
    -- the export or sync went wrong: too little, too late, the wrong shape, or not at all
    ('source_silent', 'delivery'), ('batch_volume', 'delivery'), ('schema_drift', 'delivery'),
    ('ingest_failed', 'delivery'),
    -- processing went wrong: errors, stuck or dead jobs, rows piling up
    ('error_burst', 'processing'), ('job_stuck', 'processing'),
    ('job_dead_letter', 'processing'), ('backlog', 'processing'),
    -- a changed shape is also what makes the router fail
    ('schema_drift', 'processing'),
    ('implausible_value', 'data_quality'), ('notify_queue', 'listener');

CREATE TABLE trapper.orchestrator_incidents (
    incident_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system  TEXT NOT NULL,
    source_table   TEXT NOT NULL,
    causes         TEXT[] NOT NULL,        -- the shared causes of its members
    kinds          TEXT[] NOT NULL,        -- every kind that ever joined, in order
    severity       TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    opened_at      TIMESTAMPTZ NOT NULL,
    changed_at     TIMESTAMPTZ NOT NULL,
    resolved_at    TIMESTAMPTZ,
    version        INT NOT NULL DEFAULT 1, -- bumped when a kind joins or the severity rises
    ingest_run_ids BIGINT[] NOT NULL DEFAULT '{}'  -- runs its anomalies named: out of baselines
);
CREATE INDEX orchestrator_incidents_open_idx
    ON trapper.orchestrator_incidents (source_system, source_table) WHERE resolved_at IS NULL;
CREATE INDEX orchestrator_incidents_source_idx
    ON trapper.orchestrator_incidents (source_system, source_table, opened_at);

ALTER TABLE trapper.orchestrator_anomalies
    ADD COLUMN incident_id BIGINT REFERENCES trapper.orchestrator_incidents;
CREATE INDEX orchestrator_anomalies_incident_idx
    ON trapper.orchestrator_anomalies (incident_id);

-- Baselines per source: the seasonality of its volume (NULL: inferred from the gaps between
-- its runs, then from ingest_frequency) and its floor (NULL: volume_floor_rows).
ALTER TABLE trapper.orchestrator_sources
    ADD COLUMN volume_seasonality TEXT
        CHECK (volume_seasonality IN ('weekday', 'day_of_month', 'none')),
    ADD COLUMN volume_floor INT CHECK (volume_floor >= 0);

-- The outbox speaks of incidents: a message is keyed to its incident, and an "update" is the
-- same incident's message again with what joined (Slack incoming webhooks cannot edit a
-- posted message; the incident id in every message ties them together).
ALTER TABLE trapper.orchestrator_alert_outbox
    ADD COLUMN incident_id BIGINT REFERENCES trapper.orchestrator_incidents,
    ADD COLUMN incident_version INT;
ALTER TABLE trapper.orchestrator_alert_outbox
    DROP CONSTRAINT orchestrator_alert_outbox_kind_check,
    ADD CONSTRAINT orchestrator_alert_outbox_kind_check
        CHECK (kind IN ('firing', 'update', 'repeat', 'resolved'));
CREATE INDEX orchestrator_alert_outbox_incident_idx
    ON trapper.orchestrator_alert_outbox (incident_id);

-- What each route has been told about each incident.
CREATE TABLE trapper.orchestrator_incident_alert_state (
    incident_id          BIGINT NOT NULL REFERENCES trapper.orchestrator_incidents,
    route                TEXT NOT NULL,
    notified_version     INT NOT NULL,
    notified_at          TIMESTAMPTZ NOT NULL,
    resolved_notified_at TIMESTAMPTZ,
    repeats              INT NOT NULL DEFAULT 0,   -- reminders since the last change
    PRIMARY KEY (incident_id, route)
);

-- Anomalies open when this migration runs get an incident each, so their resolution is
-- announced like any other.
WITH open AS (
    SELECT a.anomaly_key, a.source_system, a.source_table, a.kind, a.severity, a.first_seen
    FROM trapper.orchestrator_anomalies a WHERE a.resolved_at IS NULL
),
made AS (
    INSERT INTO trapper.orchestrator_incidents
        (source_system, source_table, causes, kinds, severity, opened_at, changed_at)
    SELECT o.source_system, o.source_table,
           coalesce((SELECT array_agg(c.cause ORDER BY c.cause)
                     FROM trapper.orchestrator_incident_causes c WHERE c.kind = o.kind),
                    ARRAY[o.kind]),
           ARRAY[o.kind], o.severity, o.first_seen, o.first_seen
    FROM open o
    ORDER BY o.first_seen
    RETURNING incident_id, source_system, source_table, kinds, opened_at
)
UPDATE trapper.orchestrator_anomalies a SET incident_id = m.incident_id
FROM made m
WHERE a.resolved_at IS NULL AND a.source_system = m.source_system
  AND a.source_table = m.source_table AND a.kind = m.kinds[1] AND a.first_seen = m.opened_at;
