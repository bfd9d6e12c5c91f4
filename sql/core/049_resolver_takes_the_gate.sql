-- data_engine_resolve_identity takes the gate's answer from a caller that asked it already
-- (process_person_fields asks should_be_person for the place and the account: the resolver
-- asked again, 24 µs a record; docs/benchmarks.md, "Like for like with Splink"). New
-- parameters are a new signature: the one without them goes, and functions/identity.sql
-- makes the new one.
DROP FUNCTION IF EXISTS trapper.data_engine_resolve_identity(
    text, text, text, text, text, text, bigint, text, boolean, text);
