-- Ingest runs in data health (issue 15): only a completed run is a source's last ingest, and
-- a run that failed or was abandoned is an anomaly and a gap in "why is this missing?".
--
-- Before this, a refused or crashed ingest counted as the source's last ingest: a stale
-- source turned healthy and its source_silent anomaly resolved although nothing arrived.
-- v_orchestrator_health and orchestrator_detect_silent() read v_orchestrator_last_ingest, so
-- replacing it fixes both; batch_volume and schema_drift already read completed runs only.
--
-- The views and the detector are in views/health.sql, views/why_missing.sql and
-- functions/anomaly_detection.sql; this migration registers the detector.
--
-- Shadow installs: on a host, trapper.ingest_runs may be the host's own. This reads only
-- columns declared in requires.toml (no rows_merged, no backend_pid), and 'abandoned' is
-- only a value compared with, so a host whose runs are never abandoned works unchanged.

INSERT INTO trapper.orchestrator_anomaly_detectors (kind, function, description) VALUES
    ('ingest_failed', 'orchestrator_detect_ingest_failed',
     'a failed or abandoned ingest run not yet followed by a completed one');
