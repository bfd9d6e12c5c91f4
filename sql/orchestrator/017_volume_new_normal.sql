-- Issue 19, follow-up of items 3 and 4: a volume false alarm must be able to end.
--
-- Batches that come while an incident of their source is open stay out of its volume
-- baseline (014), so one bad week does not hide the next. The other side: when a baseline's
-- spread was underestimated (a weekly source with five batches of history), every later
-- batch is compared with the same frozen history and the false alarm stayed open for weeks
-- (bench/incidents.py: 28 days). Now a batch_volume anomaly flagged on
-- volume_accept_batches consecutive batches is resolved as the source's new normal, and
-- those batches rejoin its baseline (docs/health-and-alerts.md, "Volume baselines").

INSERT INTO trapper.orchestrator_health_settings VALUES
    ('volume_accept_batches', 3,
     'a batch_volume anomaly flagged on this many consecutive batches resolves as the new '
     'normal and those batches join the baseline (0: never)');

-- The batches an incident's batch_volume anomaly was accepted on: back in volume baselines
-- (the incident's other runs, and the rest of its open period, stay out).
ALTER TABLE trapper.orchestrator_incidents
    ADD COLUMN accepted_run_ids BIGINT[] NOT NULL DEFAULT '{}';
