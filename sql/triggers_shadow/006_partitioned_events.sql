-- TS_006: the event table becomes range-partitioned by month on created_at, like the decision
-- log (orchestrator 018; docs/operations.md, "Partitions and retention"). The primary key
-- becomes (event_id, created_at), as PostgreSQL requires of a partitioned table's unique keys;
-- event_id alone still comes from one identity and stays unique. Consumed events past
-- events_retention_days now go a whole month at a time (functions/events.sql,
-- orchestrator_prune_events).

SELECT trapper.orchestrator_partition_by_month('trapper.orchestrator_events', 'created_at');

INSERT INTO trapper.orchestrator_settings (key, value, description) VALUES
    ('partitions_ahead_months', '3',
     'months after the current one whose partitions of the job log and the event table are '
     'made ahead (by the installer and the listener''s housekeeping)'),
    ('log_retention_months', '',
     'empty: keep the job log forever; N: the listener drops (detaches and drops) the job '
     'log''s monthly partitions that ended more than N months before the current month');
