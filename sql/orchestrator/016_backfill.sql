-- Issue 18, item 4: history on day one (docs/operations.md, "Backfilling history").
--
-- Installed in shadow mode onto a database with years of data, the decision log starts
-- empty: the shadow triggers and the poll capture see only what happens after the install.
-- `atlas-orch backfill` writes the log rows the listener would have written for what came
-- before, from the host's own audit tables, and keeps its progress here, one row per stream:
--   staged     <- staged_records (id)              one 'staged' row per source and ingest run
--   decisions  <- data_engine_match_decisions (decision_id)   'identity_decision'
--   entities   <- entity_sources created rows (entity_source_id)  'entity_created'
--   jobs       <- processing_jobs                  'job_queued', 'job_started', 'job_completed'
--                                                  or 'job_failed' (its last state only)
--   merges     <- sot_people, places, sot_cats merged_into_*  'entity_merged'
-- Backfilled rows carry decision_details.backfilled = true and no event_id.
--
-- The id streams end at `upto`, fixed on the first run: below the first row the listener
-- has an event or a log row for (or the poll capture's mark), every row predates the
-- shadow layer. done_upto moves with each batch in the batch's own transaction, so a
-- killed run continues where its last batch committed and a finished stream adds nothing.
-- Jobs and merges have no id to cut at: each is written unless the listener already holds
-- an event or a log row for that job and state (or that merge), in one transaction.

CREATE TABLE trapper.orchestrator_backfill (
    stream        TEXT PRIMARY KEY
        CHECK (stream IN ('staged', 'decisions', 'entities', 'jobs', 'merges')),
    upto          BIGINT,          -- id streams: rows up to here predate the shadow layer
    done_upto     BIGINT NOT NULL DEFAULT 0,   -- id streams: rows up to here are written
    rows_written  BIGINT NOT NULL DEFAULT 0,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,     -- set when the stream is complete; a later run skips it
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
