-- A hyphenated house number whose second part is exactly two digits ("45-67 Main St", as
-- Queens, NY numbers its houses) is one house number, kept whole in the key
-- (functions/normalizers.sql; docs/identity.md, "Places"): it had been read as a range and
-- keyed by its first number, so 45-67 and 45-89 Main St were one place. The places already
-- made take their keys again; places that were joined that way stay joined (their records
-- say which addresses they came from: trapper.entity_sources).
SELECT trapper.rekey_places();
