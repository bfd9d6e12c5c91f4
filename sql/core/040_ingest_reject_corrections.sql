-- A rejected row that a later file carries correctly (docs/ingest.md, "Rejects corrected by
-- a later file"). Before this a reject stayed "missing because rejected" for ever, even once
-- the steward had fixed the row and it was staged: why-missing kept listing it.
--
-- content_key: what identifies the rejected row, so that a later run can recognise it
-- (listener/ingest/corrections.py computes it, for the reject and for every row staged):
--     id:<record id>      the row's id in its source, where it was known (a row too big, a
--                         JSON record whose container named it)
--     values:<hash>       a row read but with no id (missing_id): its values, without the id
--                         columns and whatever their headers (a renamed column keeps them)
--     raw:<hash>          a row the reader could not read at all (undecodable, malformed,
--                         ...): its bytes, which read correctly later (--encoding, a raised
--                         limit) are the same bytes
-- corrected_at, corrected_by_run: when and by which ingest run a row with the same key was
-- staged (or found staged already); corrected_record_id: the record id it stands under now.

ALTER TABLE trapper.ingest_rejects
    ADD COLUMN IF NOT EXISTS content_key text,
    ADD COLUMN IF NOT EXISTS corrected_at timestamptz,
    ADD COLUMN IF NOT EXISTS corrected_by_run bigint REFERENCES trapper.ingest_runs,
    ADD COLUMN IF NOT EXISTS corrected_record_id text;

-- The open rejects of a source by key: what each ingest run looks up before it stages.
CREATE INDEX IF NOT EXISTS ingest_rejects_open_key_idx
    ON trapper.ingest_rejects (source_system, source_table, content_key)
    WHERE corrected_at IS NULL;

-- The rejects already kept get their key where it can be derived from what they kept: the
-- record id, or the raw bytes of a row the reader could not read. A missing_id reject kept
-- only its bytes, whose columns only its file's header names: it keeps no key, and stays
-- listed until it is corrected by hand. Re-runnable: only rows without a key are touched.
UPDATE trapper.ingest_rejects
SET content_key = CASE
        WHEN source_row_id IS NOT NULL THEN 'id:' || source_row_id
        ELSE 'raw:' || left(encode(sha256(raw), 'hex'), 32) END
WHERE content_key IS NULL
  AND (source_row_id IS NOT NULL OR reason_code NOT IN ('missing_id', 'oversized'));

-- A reject whose record a later run staged under the same id was corrected by that run (the
-- first such run); rows of later runs are recognised by the ingest itself from now on.
UPDATE trapper.ingest_rejects ir
SET corrected_at = c.created_at, corrected_by_run = c.ingest_run_id,
    corrected_record_id = c.source_row_id
FROM (SELECT r.reject_id, s.created_at, s.ingest_run_id, s.source_row_id
      FROM trapper.ingest_rejects r
      CROSS JOIN LATERAL (
          SELECT s.created_at, s.ingest_run_id, s.source_row_id
          FROM trapper.staged_records s
          -- (staged_records keeps its run without a foreign key: a run that is there)
          JOIN trapper.ingest_runs ru ON ru.ingest_run_id = s.ingest_run_id
          WHERE s.source_system = r.source_system AND s.source_table = r.source_table
            AND s.source_row_id = r.source_row_id AND s.ingest_run_id > r.ingest_run_id
          ORDER BY s.id
          LIMIT 1) s
      WHERE r.corrected_at IS NULL AND r.source_row_id IS NOT NULL) c
WHERE ir.reject_id = c.reject_id;
