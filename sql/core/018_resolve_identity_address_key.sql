-- data_engine_resolve_identity takes the address's key from a caller that has read the
-- address already (process_person_fields reads it once for the place and the person:
-- docs/benchmarks.md, "Identity"). A new parameter is a new signature: the one without it
-- goes, and functions/identity.sql (below this file in order.txt) makes the new one.
DROP FUNCTION IF EXISTS trapper.data_engine_resolve_identity(
    text, text, text, text, text, text, bigint, text, boolean);
