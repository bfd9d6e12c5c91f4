-- The address standard's four tables (012_address_standard.sql) as one lookup for
-- trapper.address_parts: each written word once, with what the parser reads of it. One
-- primary-key lookup per word instead of a four-table join per address, which was half the
-- parser's cost on the atlas load (issue 17; docs/benchmarks.md). Derived data: made by
-- trapper.address_vocabulary_refresh() (functions/normalizers.sql) and kept in step with the
-- four tables by triggers/address_vocabulary.sql; edit the four tables, never this one.
CREATE TABLE trapper.address_vocabulary (
    word  text PRIMARY KEY,
    entry jsonb NOT NULL
);

SELECT trapper.address_vocabulary_refresh();
