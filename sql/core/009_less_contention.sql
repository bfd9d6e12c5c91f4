-- Two workers used to spend half their time waiting on each other (pg_stat_activity sampled
-- through the atlas load: 807 advisory-lock and 159 transaction waits against 824 samples
-- on CPU). Three causes, three changes:
--   1. every identity lookup took its identifiers' advisory locks, held to the end of a
--      500-record batch; now a lookup decides without locks and only a decision that writes
--      a new person or cat takes them, then decides again;
--   2. matches rewrote rows that did not change (the cat "fill" UPDATE, ON CONFLICT DO
--      UPDATE of identifiers already held), each a row lock another batch could be holding;
--   3. 500 records per transaction made every wait as long as a whole batch: 100 halved the
--      processing phase on its own (208 s to 105 s), at no cost to throughput.
-- And two that left a worker idle or busy for nothing: a table with a large backlog now gets
-- a second job so both workers can share it, and a batch no longer counts every remaining
-- record to learn whether any is left.
--
-- The functions it changed live in functions/queue.sql (enqueue_processing),
-- functions/job_work.sql (work_jobs), functions/identity.sql (data_engine_resolve_identity)
-- and functions/cats.sql (find_or_create_cat_by_microchip), re-applied when they change
-- (docs/operations.md, "Installing and uninstalling").

-- only where nobody chose another value
UPDATE trapper.processing_settings SET value = 100
WHERE key = 'record_batch' AND value = 500;

INSERT INTO trapper.processing_settings (key, value, description) VALUES
    ('share_table_records', 10000,
     'a source table with at least this many records waiting gets a second job, so two '
     'workers share it; 0 turns this off')
ON CONFLICT (key) DO NOTHING;

-- Linking looks up each unlinked cat's people (cats_to_places): without an index on cat_id
-- that was a sequential scan of person_cat per cat, 17 s of every linking run at atlas
-- scale; 0.4 s with it.
CREATE INDEX person_cat_cat_idx ON trapper.person_cat (cat_id);
