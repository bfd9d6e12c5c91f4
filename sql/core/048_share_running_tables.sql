-- A worker with nothing queued helps with a table another worker is still working
-- (functions/queue.sql, claim_share; docs/processing.md, "Jobs"): while at least this many
-- records per worker would be left to each.
INSERT INTO trapper.processing_settings (key, value, description) VALUES
    ('share_running_records', 1000,
     'a worker with nothing queued joins a table another worker is working while at least '
     'this many records per worker are left; 0 turns this off')
ON CONFLICT (key) DO NOTHING;
