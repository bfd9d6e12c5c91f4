-- Plans that a load which starts on empty tables keeps, and two workers waiting on each
-- other (issue 17: the whole load in 60 s, and our engines on the person records alone
-- faster than Splink; docs/benchmarks.md).
--
-- PL/pgSQL keeps the generic plan of each statement of a function for the life of the
-- session. place_of_address_parts' lookups by address key (the key, or a range of keys by
-- their prefix) were planned, in a load that began with the person tables, while `places`
-- was empty: every index then costs the same, and the planner took places_location_idx, a
-- GiST index of the coordinates whose predicate (merged_into_place_id IS NULL) the lookups
-- imply, as a full scan with the key for a filter. The plan then read every live place for
-- every record (3,000-8,000 rows a lookup, 14 M over the person tables; 1.9 ms a call against
-- 0.09 ms). The whole load met it too whenever a worker planned them before the first
-- places were made (1.25 ms a call in one run of two). Only the 10 m lookup by
-- coordinates names `location`, with `<@`, a strict operator, which implies
-- `location IS NOT NULL`: with that in the predicate no other statement can use the index
-- (the planner considers a partial index without a condition only when the statement implies
-- its predicate), and it no longer holds the places that wait for the geocoder.
DROP INDEX IF EXISTS trapper.places_location_idx;
CREATE INDEX places_location_idx ON trapper.places USING gist (location)
    WHERE merged_into_place_id IS NULL AND location IS NOT NULL;

-- A merge re-points whatever was merged into the merged place (places_flatten_merge); by a
-- sequential scan of `places` it read the whole table for every merge. Merged places are
-- few: an index of them alone.
CREATE INDEX IF NOT EXISTS places_merged_idx ON trapper.places (merged_into_place_id)
    WHERE merged_into_place_id IS NOT NULL;

-- A transaction's records by time as well as by count: the worker sizes each transaction to
-- about transaction_target_ms of work at the pace of its last one (listener/queue/worker.py,
-- next_record_budget), at most record_batch. A worker that must create a person, place or
-- cat takes that key's lock until its transaction ends (data_engine_resolve_identity,
-- place_of_address_parts), and the other worker, meeting the same person in another table,
-- waits out the rest of that transaction: in the person tables alone a fifth to a quarter of
-- the workers' time went to those waits at 100 records a transaction. 50 a transaction
-- halved them but cost the cat and appointment tables, whose records are quick, their
-- longer batches (more commits and batch statements: the whole load 15% slower); by time,
-- person records run ~50 a transaction and the quick ones keep 100 (docs/benchmarks.md,
-- "Identity"). 0 turns it off: record_batch records every time.
INSERT INTO trapper.processing_settings (key, value, description) VALUES
    ('transaction_target_ms', 25,
     'a worker sizes each transaction to about this much work, at most record_batch records (0: record_batch always)')
ON CONFLICT (key) DO NOTHING;
