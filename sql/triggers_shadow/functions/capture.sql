-- Poll capture: the events the shadow triggers would have written, written by the listener
-- from rows the engines keep anyway (staged rows, identity decisions, entities created), and
-- the switches between trigger and poll capture (004_engine_capture.sql says why).

-- Poll capture of staged rows: the events the staged_records trigger would have written,
-- one per source and ingest run, for rows (from, to]. Written by the listener's transaction.
CREATE OR REPLACE FUNCTION trapper.orchestrator_capture_staged_range(p_from bigint, p_to bigint)
RETURNS bigint
LANGUAGE sql AS $$
    WITH ins AS (
        INSERT INTO trapper.orchestrator_events
            (kind, source_system, source_table, payload, created_at)
        SELECT 'staged', r.source_system, r.source_table,
               jsonb_build_object('count', count(*), 'min_id', min(r.id), 'max_id', max(r.id),
                                  'ingest_run_id', r.ingest_run_id, 'captured', 'poll'),
               max(r.created_at)
        FROM trapper.staged_records r
        WHERE r.id > p_from AND r.id <= p_to
        GROUP BY r.source_system, r.source_table, r.ingest_run_id
        RETURNING 1
    )
    SELECT count(*) FROM ins
$$;

-- One step of poll capture (a no-op while capture_staged = trigger): move staged_records'
-- watermark one step and write the events of the rows it passed. Returns events written.
CREATE OR REPLACE FUNCTION trapper.orchestrator_capture_staged(p_consumer text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    c trapper.orchestrator_listener_checkpoint;
    w record;
    v_events bigint := 0;
BEGIN
    IF coalesce((SELECT value FROM trapper.orchestrator_settings
                 WHERE key = 'capture_staged'), 'trigger') <> 'poll' THEN
        RETURN 0;
    END IF;
    INSERT INTO trapper.orchestrator_listener_checkpoint (consumer) VALUES (p_consumer)
    ON CONFLICT DO NOTHING;
    SELECT * INTO c FROM trapper.orchestrator_listener_checkpoint
    WHERE consumer = p_consumer FOR UPDATE;
    IF c.staged_polled_upto IS NULL THEN
        -- poll capture was switched on without orchestrator_set_staged_capture: start from
        -- the rows the trigger can no longer have seen, i.e. everything not yet evented
        c.staged_polled_upto := coalesce((SELECT max((payload ->> 'max_id')::bigint)
                                          FROM trapper.orchestrator_events
                                          WHERE kind = 'staged'), 0);
    END IF;
    SELECT * INTO w FROM trapper.orchestrator_watermark_step(
        'trapper.staged_records', 'id', c.staged_polled_upto, c.staged_probe_seq,
        c.staged_probe_vxids);
    IF w.mark > c.staged_polled_upto THEN
        v_events := trapper.orchestrator_capture_staged_range(c.staged_polled_upto, w.mark);
    END IF;
    c.staged_polled_upto := w.mark;
    c.staged_probe_seq := w.probe_seq;
    c.staged_probe_vxids := w.probe_vxids;
    UPDATE trapper.orchestrator_listener_checkpoint
    SET staged_polled_upto = c.staged_polled_upto, staged_probe_seq = c.staged_probe_seq,
        staged_probe_vxids = c.staged_probe_vxids, updated_at = now()
    WHERE consumer = p_consumer;
    RETURN v_events;
END $$;

-- Switch how staged rows are captured. The ALTER TABLE waits for in-flight inserts into
-- staged_records, so at the switch every row is either evented by the trigger or left for
-- the poll, and none is both or neither.
CREATE OR REPLACE FUNCTION trapper.orchestrator_set_staged_capture(p_mode text,
                                                        p_consumer text DEFAULT 'listener')
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
    v_from bigint;
BEGIN
    PERFORM trapper.orchestrator_require_one_of('capture mode', p_mode, '{trigger,poll}');
    IF p_mode = 'poll' THEN
        ALTER TABLE trapper.staged_records DISABLE TRIGGER orchestrator_staged_insert;
    ELSE
        ALTER TABLE trapper.staged_records ENABLE TRIGGER orchestrator_staged_insert;
    END IF;
    v_last := trapper.orchestrator_drawn('trapper.staged_records', 'id');
    INSERT INTO trapper.orchestrator_listener_checkpoint (consumer) VALUES (p_consumer)
    ON CONFLICT DO NOTHING;
    IF p_mode = 'poll' THEN
        UPDATE trapper.orchestrator_listener_checkpoint
        SET staged_polled_upto = v_last, staged_probe_seq = NULL, staged_probe_vxids = NULL
        WHERE consumer = p_consumer;
    ELSE
        -- what the poll had not captured yet is captured now, before the trigger takes over
        SELECT staged_polled_upto INTO v_from FROM trapper.orchestrator_listener_checkpoint
        WHERE consumer = p_consumer;
        IF v_from IS NOT NULL AND v_last > v_from THEN
            PERFORM trapper.orchestrator_capture_staged_range(v_from, v_last);
        END IF;
        UPDATE trapper.orchestrator_listener_checkpoint
        SET staged_polled_upto = NULL, staged_probe_seq = NULL, staged_probe_vxids = NULL
        WHERE consumer = p_consumer;
    END IF;
    UPDATE trapper.orchestrator_settings SET value = p_mode WHERE key = 'capture_staged';
    RETURN p_mode;
END $$;

-- The events the stream's triggers would have written, for its rows (from, to].
CREATE OR REPLACE FUNCTION trapper.orchestrator_capture_engine_range(p_stream text, p_from bigint,
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

-- One step of every capture the listener does: staged rows (above) and the engine streams in
-- poll mode. Returns the events written and whether a probe still waits for writers.
CREATE OR REPLACE FUNCTION trapper.orchestrator_capture(p_consumer text,
                                              OUT events bigint, OUT pending boolean)
LANGUAGE plpgsql AS $$
DECLARE
    m trapper.orchestrator_capture_marks;
    w record;
BEGIN
    events := trapper.orchestrator_capture_staged(p_consumer);
    pending := false;
    -- A stream nobody wrote to since its mark, with no probe pending, has nothing to capture.
    -- When that holds for all of them, the step takes no row lock and writes nothing, so the
    -- listener's step commits without waiting for a WAL flush (a few ms on every busy step,
    -- where the live feed's rows wait: bench/feed.py part 3). A writer that starts after this
    -- look draws values above the sequence's, and the next step sees them.
    IF NOT EXISTS (
        SELECT 1 FROM trapper.orchestrator_capture_marks k
        WHERE k.polled_upto IS NOT NULL
          AND (k.probe_seq IS NOT NULL
               OR trapper.orchestrator_drawn(k.polled, k.id_column) > k.polled_upto)) THEN
        RETURN;
    END IF;
    FOR m IN SELECT * FROM trapper.orchestrator_capture_marks
             WHERE polled_upto IS NOT NULL ORDER BY stream FOR UPDATE LOOP
        SELECT * INTO w FROM trapper.orchestrator_watermark_step(
            m.polled, m.id_column, m.polled_upto, m.probe_seq, m.probe_vxids);
        IF w.mark > m.polled_upto THEN
            events := events + trapper.orchestrator_capture_engine_range(
                m.stream, m.polled_upto, w.mark);
        END IF;
        IF (w.mark, w.probe_seq, w.probe_vxids)
           IS DISTINCT FROM (m.polled_upto, m.probe_seq, m.probe_vxids) THEN
            UPDATE trapper.orchestrator_capture_marks
            SET polled_upto = w.mark, probe_seq = w.probe_seq, probe_vxids = w.probe_vxids,
                updated_at = now()
            WHERE stream = m.stream;
        END IF;
        pending := pending OR w.probe_seq IS NOT NULL;
    END LOOP;
END $$;

-- Switch how a stream is captured: 'staged', 'decisions' or 'entities'; 'engine' means both
-- of the engine streams. ALTER TABLE waits for the writers in flight on the stream's tables,
-- so at the switch every row is either evented by its trigger or left for the poll. (An
-- entity's created row in entity_sources is written after the entity, in the same
-- transaction, so waiting on the entity tables is waiting on those rows too.)
CREATE OR REPLACE FUNCTION trapper.orchestrator_set_capture(p_stream text, p_mode text,
                                                  p_consumer text DEFAULT 'listener')
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    m trapper.orchestrator_capture_marks;
    v_last bigint;
    t record;
BEGIN
    PERFORM trapper.orchestrator_require_one_of('capture mode', p_mode, '{trigger,poll}');
    PERFORM trapper.orchestrator_require_one_of('capture stream', p_stream,
                                                '{staged,decisions,entities,engine}',
                                                'engine is decisions and entities together');
    IF p_stream = 'staged' THEN
        RETURN trapper.orchestrator_set_staged_capture(p_mode, p_consumer);
    END IF;
    FOR m IN SELECT * FROM trapper.orchestrator_capture_marks
             WHERE p_stream IN (stream, 'engine') ORDER BY stream FOR UPDATE LOOP
        FOR t IN SELECT tg.tgname, tg.tgrelid::regclass AS rel FROM pg_trigger tg
                 WHERE tg.tgname = ANY (m.triggers) ORDER BY tg.tgname LOOP
            EXECUTE format('ALTER TABLE %s %s TRIGGER %I', t.rel,
                           CASE p_mode WHEN 'poll' THEN 'DISABLE' ELSE 'ENABLE' END, t.tgname);
        END LOOP;
        v_last := trapper.orchestrator_drawn(m.polled, m.id_column);
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
