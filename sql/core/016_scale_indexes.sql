-- Issue 20 (a 10x world at the same per-row cost): lookups that read every live place.
--
-- find_or_create_place_deduped looks for "the same house, street and unit with no town" and
-- "the same house with a directional left out" by the key's prefix (address_key LIKE
-- 'house|%'). Under the C.UTF-8 collation and PL/pgSQL's generic plans no btree serves a
-- LIKE with a parameter, so each lookup read every live place: at the atlas world ~5 ms per
-- new address, at ten times the places ~10x that per address, 100x in all. The house number
-- (the key's first field) is selective (at most a few dozen places share one at 10x) and an
-- equality on it can use an index in a generic plan.
CREATE INDEX places_house_idx ON trapper.places ((split_part(address_key, '|', 1)))
    WHERE merged_into_place_id IS NULL;

-- trapper.review_kept_apart, asked for every person in the review band (docs/identity.md,
-- "Reviewing"), read every decision by a sequential scan during the atlas load (931 scans,
-- 57 M rows: 64 ms a call, growing with the log) although match_decisions_source_idx
-- serves it: the planner, with the decision log growing under it, costed the scan lower.
-- Only reviewed pairs are 'kept_separate', a few rows at most: an index of those alone is
-- the cheapest plan at any size, and costs the load's inserts nothing.
CREATE INDEX match_decisions_kept_separate_idx
    ON trapper.data_engine_match_decisions (source_system, source_table, source_row_id)
    WHERE review_status = 'kept_separate';
