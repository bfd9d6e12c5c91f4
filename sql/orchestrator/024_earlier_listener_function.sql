-- Functions of the shadow layer's 003_listener.sql as main had it on 2026-11-26 (af45a31,
-- the release of 1de08d7), which triggers_shadow/superseded.toml now lets such a database
-- upgrade from (849b206 and 730ff81 edited the file before superseded.toml existed, and the
-- database was refused for good as "edited"). This runs before the shadow layer's
-- definition files:
-- - orchestrator_log_probe: the listener stopped calling it at 730ff81 and no file makes it
--   now; it goes, with its record (verify would report it dropped by hand).
-- - orchestrator_tally_log(text) returned (tallied, upto); functions/tally.sql returns
--   (tallied, upto, pending), which CREATE OR REPLACE cannot change: the old one goes, and
--   the file makes the new one (its record, the same identity, stays).
-- A database installed later never had either: nothing happens.
DROP FUNCTION IF EXISTS trapper.orchestrator_log_probe();
DELETE FROM trapper.orchestrator_objects
 WHERE object_type = 'function' AND object_identity LIKE 'trapper.orchestrator\_log\_probe(%';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc p
                WHERE p.oid = to_regprocedure('trapper.orchestrator_tally_log(text)')
                  AND NOT ('pending' = ANY (p.proargnames))) THEN
        DROP FUNCTION trapper.orchestrator_tally_log(text);
    END IF;
END $$;
