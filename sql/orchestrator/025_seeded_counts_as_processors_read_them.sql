-- The seeded colony-count rules read a count as the processors read the same cell
-- (to_count: "~5", "5-10", "1,200", "a dozen"; functions/transforms.sql): to_integer($1), a
-- strict cast, skipped "~5" where process_airtable_trapping_request counted 5, so one cell
-- gave a colony estimate by one path and none by the other (docs/orchestrator.md,
-- "Transforms"). Only a rule still as 003 seeded it: one a user changed stays theirs. Its
-- version moves (triggers/routing_rules_check.sql), so routing decisions name the new rule.
UPDATE trapper.orchestrator_routing_rules
SET transform_expression = 'to_count($1)'
WHERE transform_expression = 'to_integer($1)'
  AND target_function = 'add_colony_estimate' AND target_field = 'total_cats'
  AND (source_system, source_table, source_field) IN (
      ('airtable', 'trapping_requests', 'Total Cats to be trapped'),
      ('web_intake', 'submissions', 'cat_count_estimate'));
