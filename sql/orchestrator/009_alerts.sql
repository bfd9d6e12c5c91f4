-- The durable alert outbox: anomalies become Slack messages here, in the same transaction
-- that marks them notified, so a message is never lost because Slack (or the listener) was
-- down, and never planned twice. webhooks/sender.py delivers what is due.
--
-- Routes (which webhook gets which severity or source) are configuration, passed in as JSON
-- by name; webhook URLs never enter the database.
--
-- Its functions, views and triggers live in functions/alerts.sql (re-applied when they change;
-- docs/operations.md, "Installing and uninstalling").

INSERT INTO trapper.orchestrator_health_settings VALUES
    ('alert_group_wait_s', 30,
     'anomalies of one source raised within this many seconds go out as one message'),
    ('alert_repeat_hours', 4, 'an anomaly still open is sent again after this many hours'),
    ('alert_max_attempts', 8, 'delivery attempts before a message is dead-lettered'),
    ('alert_max_anomalies', 40, 'anomalies listed in one message (Slack allows 50 blocks)');

CREATE TABLE trapper.orchestrator_alert_outbox (
    alert_id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    route            TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('firing', 'repeat', 'resolved')),
    severity         TEXT NOT NULL,
    source_system    TEXT NOT NULL,
    source_table     TEXT NOT NULL,
    anomaly_keys     TEXT[] NOT NULL,
    anomalies        JSONB NOT NULL,        -- a snapshot, rendered to Block Kit when sent
    status           TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         INT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_attempt_at  TIMESTAMPTZ,
    last_http_status INT,
    last_error       TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at     TIMESTAMPTZ
);
CREATE INDEX orchestrator_alert_outbox_due_idx
    ON trapper.orchestrator_alert_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX orchestrator_alert_outbox_created_idx
    ON trapper.orchestrator_alert_outbox (created_at DESC);

-- What each route has been told about each anomaly.
CREATE TABLE trapper.orchestrator_alert_state (
    anomaly_key          TEXT NOT NULL,
    route                TEXT NOT NULL,
    notified_occurrence  INT NOT NULL,
    notified_at          TIMESTAMPTZ NOT NULL,
    resolved_notified_at TIMESTAMPTZ,
    PRIMARY KEY (anomaly_key, route)
);
