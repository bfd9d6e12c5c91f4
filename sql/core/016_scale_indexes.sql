-- Issue 20 (a 10x world at the same per-row cost): a lookup that read the whole decision log.
--
-- trapper.review_kept_apart, asked for every person in the review band (docs/identity.md,
-- "Reviewing"), read every decision by a sequential scan during the atlas load (931 scans,
-- 57 M rows: 64 ms a call at atlas, ~100 ms at atlas2, so its cost per row grew with the
-- data) although match_decisions_source_idx serves it: the planner, with the decision log
-- growing under it, costed the scan lower. Only reviewed pairs are 'kept_separate', a few
-- rows at most: an index of those alone is the cheapest plan at any size, and costs the
-- load's inserts nothing.
CREATE INDEX match_decisions_kept_separate_idx
    ON trapper.data_engine_match_decisions (source_system, source_table, source_row_id)
    WHERE review_status = 'kept_separate';
