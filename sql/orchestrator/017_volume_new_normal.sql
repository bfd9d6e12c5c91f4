-- Issue 19, follow-up of items 3 and 4: a volume false alarm must be able to end.
--
-- Batches that come while an incident of their source is open stay out of its volume
-- baseline (014), so one bad week does not hide the next. The other side: when a baseline's
-- spread was underestimated (a weekly source with five batches of history), every later
-- batch is compared with the same frozen history and the false alarm stayed open for weeks
-- (bench/incidents.py: 28 days). Now a batch_volume anomaly flagged on
-- volume_accept_batches consecutive batches is resolved as the source's new normal, and
-- those batches rejoin its baseline (docs/health-and-alerts.md, "Volume baselines").

-- And fewer false alarms to begin with: the z-score treats the spread of 4 to 8 batches as
-- if it were known, and a spread estimated from so few is often low (bench/incidents.py: 8
-- false alarms in 90 days, all batch_volume). With volume_small_sample on, a batch is
-- compared with the prediction interval of its history instead: Student's t with n - 1
-- degrees of freedom at volume_z's level, times sqrt(1 + 1/n)
-- (functions/anomaly_detection.sql, orchestrator_volume_threshold()).
INSERT INTO trapper.orchestrator_health_settings VALUES
    ('volume_small_sample', 1,
     '1: volume_z is widened for short histories (Student''s t prediction interval); '
     '0: a plain z-score'),
    ('volume_accept_batches', 3,
     'a batch_volume anomaly flagged on this many consecutive batches resolves as the new '
     'normal and those batches join the baseline (0: never)');

-- The batches an incident's batch_volume anomaly was accepted on: back in volume baselines
-- (the incident's other runs, and the rest of its open period, stay out).
ALTER TABLE trapper.orchestrator_incidents
    ADD COLUMN accepted_run_ids BIGINT[] NOT NULL DEFAULT '{}';
