-- Poll capture of the engines' own writes: identity decisions and entities created.
--
-- The statement-level triggers of 002 make "a bulk write yield a handful of events", but the
-- engines write these tables one row per statement (one decision per resolve_identity call,
-- one entity per find_or_create), so each trigger costs a full event per record: a
-- subtransaction, a transition table and an insert into orchestrator_events, ~50 µs on a
-- 2-core machine, 4-5% of processing (bench/events.py part 1 prints both modes). In poll
-- mode those triggers are disabled and the listener writes the same events itself, from the
-- rows the engines keep anyway, below a watermark no writer can still fall under
-- (orchestrator_watermark_step, as for staged rows in 003):
--   decisions  <- data_engine_match_decisions (decision_id)
--   entities   <- entity_sources rows with action 'created' (entity_source_id): every engine
--                 records where an entity came from when it creates it
-- Merges stay on their row-level triggers: they are rare and the WHEN clause costs nothing.
--
-- A stream is polled exactly when its mark row has a polled_upto; orchestrator_set_capture
-- switches both the triggers and the mark in one transaction, so every row is evented by
-- the trigger or by the poll, never both and never neither.
--
-- Its functions, views and triggers live in functions/capture.sql (re-applied when they change;
-- docs/operations.md, "Installing and uninstalling").

INSERT INTO trapper.orchestrator_settings (key, value, description) VALUES
    ('capture_decisions', 'trigger',
     'trigger: a statement-level trigger on data_engine_match_decisions writes each '
     'decision''s event; poll: the listener writes them from the decisions table '
     '(set with orchestrator_set_capture or atlas-orch shadow set --capture-engine)'),
    ('capture_entities', 'trigger',
     'trigger: statement-level triggers on sot_people, places and sot_cats write each new '
     'entity''s event; poll: the listener writes them from entity_sources'' created rows '
     '(set with orchestrator_set_capture or atlas-orch shadow set --capture-engine)');

-- One row per engine stream: what the poll reads (a table and its identity column), the
-- triggers it stands in for, and how far it has read.
CREATE TABLE trapper.orchestrator_capture_marks (
    stream       TEXT PRIMARY KEY CHECK (stream IN ('decisions', 'entities')),
    polled       REGCLASS NOT NULL,
    id_column    TEXT NOT NULL,
    triggers     TEXT[] NOT NULL,
    polled_upto  BIGINT,        -- NULL: the stream's triggers capture it
    probe_seq    BIGINT,        -- a pending watermark probe
    probe_vxids  TEXT[],
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO trapper.orchestrator_capture_marks (stream, polled, id_column, triggers) VALUES
    ('decisions', 'trapper.data_engine_match_decisions', 'decision_id',
     ARRAY['orchestrator_match_decision_insert']),
    ('entities', 'trapper.entity_sources', 'entity_source_id',
     ARRAY['orchestrator_person_insert', 'orchestrator_place_insert',
           'orchestrator_cat_insert']);
