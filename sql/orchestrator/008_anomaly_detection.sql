-- Anomaly detection. Each detector is a set-returning function giving the anomalies that hold
-- now, each with a stable key; orchestrator_detect_anomalies() raises every one of them and
-- resolves the open anomalies of those kinds that no longer hold. The listener runs it on a
-- timer; it is plain SQL, so `SELECT * FROM trapper.orchestrator_detect_anomalies()` works
-- by hand too.
--
-- Its functions, views and triggers live in functions/anomaly_detection.sql (re-applied when
-- they change; docs/operations.md, "Installing and uninstalling").

CREATE TABLE trapper.orchestrator_anomaly_detectors (
    kind        TEXT PRIMARY KEY,
    function    TEXT NOT NULL,
    is_active   BOOLEAN NOT NULL DEFAULT TRUE,
    description TEXT NOT NULL
);
INSERT INTO trapper.orchestrator_anomaly_detectors (kind, function, description) VALUES
    ('source_silent', 'orchestrator_detect_silent', 'a source silent past its window'),
    ('batch_volume', 'orchestrator_detect_volume', 'a batch far from its weekday history'),
    ('schema_drift', 'orchestrator_detect_drift', 'missing, new or retyped fields'),
    ('error_burst', 'orchestrator_detect_errors', 'errors and failed jobs in the last hour'),
    ('backlog', 'orchestrator_detect_backlog', 'unprocessed rows piling up'),
    ('job_stuck', 'orchestrator_detect_jobs', 'jobs without a heartbeat'),
    ('job_dead_letter', 'orchestrator_detect_jobs', 'dead-lettered jobs'),
    ('implausible_value', 'orchestrator_detect_implausible', 'implausible colony sizes');
