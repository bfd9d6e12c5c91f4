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

-- The events the stream's triggers would have written, for its rows (from, to].
CREATE FUNCTION trapper.orchestrator_capture_engine_range(p_stream text, p_from bigint,
                                                           p_to bigint)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_n bigint;
BEGIN
    IF p_stream = 'decisions' THEN
        INSERT INTO trapper.orchestrator_events
            (kind, source_system, source_table, record_ref, entity_ref, payload, created_at)
        SELECT 'identity_decision', d.source_system, d.source_table, d.source_row_id,
               d.resulting_person_id::text,
               jsonb_build_object('decision_id', d.decision_id,
                                  'staged_record_id', d.staged_record_id, 'captured', 'poll'),
               d.created_at
        FROM trapper.data_engine_match_decisions d
        WHERE d.decision_id > p_from AND d.decision_id <= p_to
        ORDER BY d.decision_id;
    ELSE
        INSERT INTO trapper.orchestrator_events
            (kind, source_system, source_table, entity_ref, payload, created_at)
        SELECT 'entity_created', 'atlas',
               CASE s.entity_type WHEN 'person' THEN 'sot_people' WHEN 'place' THEN 'places'
                                  ELSE 'sot_cats' END,
               s.entity_id::text,
               jsonb_build_object('entity_type', s.entity_type, 'captured', 'poll'),
               s.created_at
        FROM trapper.entity_sources s
        WHERE s.entity_source_id > p_from AND s.entity_source_id <= p_to
          AND s.action = 'created' AND s.entity_type IN ('person', 'place', 'cat')
        ORDER BY s.entity_source_id;
    END IF;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END $$;

-- One step of every capture the listener does: staged rows (003) and the engine streams in
-- poll mode. Returns the events written and whether a probe still waits for writers.
CREATE FUNCTION trapper.orchestrator_capture(p_consumer text,
                                              OUT events bigint, OUT pending boolean)
LANGUAGE plpgsql AS $$
DECLARE
    m trapper.orchestrator_capture_marks;
    w record;
BEGIN
    events := trapper.orchestrator_capture_staged(p_consumer);
    pending := false;
    FOR m IN SELECT * FROM trapper.orchestrator_capture_marks
             WHERE polled_upto IS NOT NULL ORDER BY stream FOR UPDATE LOOP
        SELECT * INTO w FROM trapper.orchestrator_watermark_step(
            m.polled, m.id_column, m.polled_upto, m.probe_seq, m.probe_vxids);
        IF w.mark > m.polled_upto THEN
            events := events + trapper.orchestrator_capture_engine_range(
                m.stream, m.polled_upto, w.mark);
        END IF;
        UPDATE trapper.orchestrator_capture_marks
        SET polled_upto = w.mark, probe_seq = w.probe_seq, probe_vxids = w.probe_vxids,
            updated_at = now()
        WHERE stream = m.stream;
        pending := pending OR w.probe_seq IS NOT NULL;
    END LOOP;
END $$;

-- Switch how a stream is captured: 'staged', 'decisions' or 'entities'; 'engine' means both
-- of the engine streams. ALTER TABLE waits for the writers in flight on the stream's tables,
-- so at the switch every row is either evented by its trigger or left for the poll. (An
-- entity's created row in entity_sources is written after the entity, in the same
-- transaction, so waiting on the entity tables is waiting on those rows too.)
CREATE FUNCTION trapper.orchestrator_set_capture(p_stream text, p_mode text,
                                                  p_consumer text DEFAULT 'listener')
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    m trapper.orchestrator_capture_marks;
    v_last bigint;
    t record;
BEGIN
    IF p_mode NOT IN ('trigger', 'poll') THEN
        RAISE EXCEPTION 'capture mode must be trigger or poll, not %', p_mode
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_stream = 'staged' THEN
        RETURN trapper.orchestrator_set_staged_capture(p_mode, p_consumer);
    END IF;
    IF p_stream NOT IN ('decisions', 'entities', 'engine') THEN
        RAISE EXCEPTION 'capture stream must be staged, decisions, entities or engine, not %',
                        p_stream USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR m IN SELECT * FROM trapper.orchestrator_capture_marks
             WHERE p_stream IN (stream, 'engine') ORDER BY stream FOR UPDATE LOOP
        FOR t IN SELECT tg.tgname, tg.tgrelid::regclass AS rel FROM pg_trigger tg
                 WHERE tg.tgname = ANY (m.triggers) ORDER BY tg.tgname LOOP
            EXECUTE format('ALTER TABLE %s %s TRIGGER %I', t.rel,
                           CASE p_mode WHEN 'poll' THEN 'DISABLE' ELSE 'ENABLE' END, t.tgname);
        END LOOP;
        v_last := coalesce(pg_sequence_last_value(
            pg_get_serial_sequence(m.polled::text, m.id_column)::regclass), 0);
        IF p_mode = 'poll' THEN
            IF m.polled_upto IS NULL THEN
                UPDATE trapper.orchestrator_capture_marks
                SET polled_upto = v_last, probe_seq = NULL, probe_vxids = NULL,
                    updated_at = now()
                WHERE stream = m.stream;
            END IF;
        ELSE
            -- what the poll had not captured yet is captured now, before the triggers take over
            IF m.polled_upto IS NOT NULL AND v_last > m.polled_upto THEN
                PERFORM trapper.orchestrator_capture_engine_range(m.stream, m.polled_upto,
                                                                  v_last);
            END IF;
            UPDATE trapper.orchestrator_capture_marks
            SET polled_upto = NULL, probe_seq = NULL, probe_vxids = NULL, updated_at = now()
            WHERE stream = m.stream;
        END IF;
        UPDATE trapper.orchestrator_settings SET value = p_mode
        WHERE key = 'capture_' || m.stream;
    END LOOP;
    RETURN p_mode;
END $$;

