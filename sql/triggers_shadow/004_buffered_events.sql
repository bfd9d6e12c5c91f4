-- Identity decisions and entity inserts arrive one statement per record (the processors call
-- find_or_create_* and write a decision for every source row), so the statement-level
-- triggers of 002 fired once per record, each paying a subtransaction and an event insert:
-- ~20 us a statement, 70 ms of the 1.5 s the small world's processing takes
-- (pg_stat_user_functions, track_functions = pl). Here those two triggers only append the
-- new ids to a buffer local to the transaction, and the events are written in one INSERT:
--   * when the transaction commits: the first buffered statement arms a deferred constraint
--     trigger by inserting a row into orchestrator_event_flush;
--   * before any other event of the transaction is written (staged rows, job changes,
--     merges), so events keep the order of the statements that caused them;
--   * when the buffer passes 8 kB, so a long transaction never copies a large string.
-- The buffer is a GUC set with set_config(..., true): it ends with the transaction, and a
-- subtransaction rolled back (a processor's failed record) takes its items with it, exactly
-- as it takes the rows they name. The events are the same rows 002 wrote, so the listener
-- does not change.
--
-- Contract 2 still holds: the append path only reads the transition table and sets a GUC;
-- arming and flushing run in exception blocks, and a failure to arm flushes at once.

CREATE TABLE trapper.orchestrator_event_flush (
    flush_id  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    armed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
COMMENT ON TABLE trapper.orchestrator_event_flush IS
    'atlas-orchestrator: one row per transaction with buffered shadow events, deleted when '
    'its deferred trigger writes them at commit; rows left here mean a flush failed';

-- Write the buffered items as events, in the order they were buffered. Never raises.
CREATE FUNCTION trapper.orchestrator_flush_events() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_buf text := current_setting('atlas_orch.buffer', true);
BEGIN
    IF v_buf IS NULL OR v_buf = '' THEN
        RETURN;
    END IF;
    -- emptied outside the exception block: a failed write is counted, not retried forever
    PERFORM set_config('atlas_orch.buffer', '', true);
    BEGIN
        -- items: d<decision_id>, p<person uuid>, l<place uuid>, c<cat uuid>
        INSERT INTO trapper.orchestrator_events
                (kind, source_system, source_table, record_ref, entity_ref, payload)
        SELECT CASE WHEN b.t = 'd' THEN 'identity_decision' ELSE 'entity_created' END,
               CASE WHEN b.t = 'd' THEN d.source_system ELSE 'atlas' END,
               CASE b.t WHEN 'd' THEN d.source_table WHEN 'p' THEN 'sot_people'
                        WHEN 'l' THEN 'places' ELSE 'sot_cats' END,
               d.source_row_id,
               CASE WHEN b.t = 'd' THEN d.resulting_person_id::text ELSE b.v END,
               CASE b.t WHEN 'd' THEN jsonb_build_object('decision_id', d.decision_id,
                                                         'staged_record_id', d.staged_record_id)
                        WHEN 'p' THEN '{"entity_type": "person"}'::jsonb
                        WHEN 'l' THEN '{"entity_type": "place"}'::jsonb
                        ELSE '{"entity_type": "cat"}'::jsonb END
        FROM unnest(string_to_array(v_buf, ' ')) WITH ORDINALITY AS u (item, ord)
        CROSS JOIN LATERAL (SELECT left(u.item, 1) AS t, substr(u.item, 2) AS v) b
        -- CASE keeps the cast away from the uuid items whatever join the planner picks
        LEFT JOIN trapper.data_engine_match_decisions d
               ON d.decision_id = CASE WHEN b.t = 'd' THEN b.v::bigint END
        WHERE b.t <> 'd' OR d.decision_id IS NOT NULL
        ORDER BY u.ord;
        IF FOUND AND current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed('orchestrator_flush_events', SQLSTATE,
                                                   SQLERRM);
    END;
END $$;

-- Append items to the transaction's buffer; arm the commit flush on first use.
CREATE FUNCTION trapper.orchestrator_buffer_events(p_items text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_buf text := current_setting('atlas_orch.buffer', true);
BEGIN
    IF v_buf IS NULL OR v_buf = '' THEN
        v_buf := p_items;
    ELSE
        v_buf := v_buf || ' ' || p_items;
    END IF;
    PERFORM set_config('atlas_orch.buffer', v_buf, true);
    IF current_setting('atlas_orch.armed', true) IS DISTINCT FROM 'y' THEN
        BEGIN
            INSERT INTO trapper.orchestrator_event_flush DEFAULT VALUES;
            PERFORM set_config('atlas_orch.armed', 'y', true);
        EXCEPTION WHEN OTHERS THEN
            PERFORM trapper.orchestrator_shadow_failed('orchestrator_event_flush', SQLSTATE,
                                                       SQLERRM);
            PERFORM trapper.orchestrator_flush_events();   -- nothing would write them later
            RETURN;
        END;
    END IF;
    IF octet_length(v_buf) > 8192 THEN
        PERFORM trapper.orchestrator_flush_events();
    END IF;
END $$;

-- The commit hook: deferred to the end of the transaction, once per arming.
CREATE FUNCTION trapper.orchestrator_on_commit_flush() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- re-armed by the next buffered statement if SET CONSTRAINTS fired this early
    PERFORM set_config('atlas_orch.armed', '', true);
    PERFORM trapper.orchestrator_flush_events();
    BEGIN
        DELETE FROM trapper.orchestrator_event_flush WHERE flush_id = NEW.flush_id;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER orchestrator_event_flush_at_commit
    AFTER INSERT ON trapper.orchestrator_event_flush
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION trapper.orchestrator_on_commit_flush();

-- The two per-record triggers now buffer. No exception block is needed around the append:
-- it reads the transition table and sets a GUC; the function it calls guards the rest.
CREATE OR REPLACE FUNCTION trapper.orchestrator_on_match_decision() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_items text;
BEGIN
    SELECT string_agg('d' || n.decision_id, ' ') INTO v_items FROM new_rows n;
    IF v_items IS NOT NULL THEN
        PERFORM trapper.orchestrator_buffer_events(v_items);
    END IF;
    RETURN NULL;
END $$;

-- One function for the three tables: PL/pgSQL prepares each statement on first use, so each
-- branch only ever meets its own table's transition rows.
CREATE OR REPLACE FUNCTION trapper.orchestrator_on_entity_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_items text;
BEGIN
    IF TG_TABLE_NAME = 'sot_people' THEN
        SELECT string_agg('p' || n.person_id, ' ') INTO v_items FROM new_rows n;
    ELSIF TG_TABLE_NAME = 'places' THEN
        SELECT string_agg('l' || n.place_id, ' ') INTO v_items FROM new_rows n;
    ELSE
        SELECT string_agg('c' || n.cat_id, ' ') INTO v_items FROM new_rows n;
    END IF;
    IF v_items IS NOT NULL THEN
        PERFORM trapper.orchestrator_buffer_events(v_items);
    END IF;
    RETURN NULL;
END $$;

-- The other event writers flush the buffer first, so a transaction's events keep the order
-- of its statements (a batch's decisions come before its job_completed). Bodies as in 002.

CREATE OR REPLACE FUNCTION trapper.orchestrator_on_staged_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('atlas_orch.buffer', true) <> '' THEN
        PERFORM trapper.orchestrator_flush_events();
    END IF;
    BEGIN
        INSERT INTO trapper.orchestrator_events
                (kind, source_system, source_table, payload)
            SELECT 'staged', n.source_system, n.source_table,
                   jsonb_build_object('count', count(*), 'min_id', min(n.id),
                                      'max_id', max(n.id),
                                      'ingest_run_id', max(n.ingest_run_id))
            FROM new_rows n
            GROUP BY n.source_system, n.source_table;
        -- inline tests: once the transaction has woken listeners (or notify is off) the
        -- trigger makes no further call
        IF FOUND AND current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_on_job_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('atlas_orch.buffer', true) <> '' THEN
        PERFORM trapper.orchestrator_flush_events();
    END IF;
    BEGIN
        INSERT INTO trapper.orchestrator_events
            (kind, source_system, source_table, record_ref, payload)
        SELECT 'job_queued', n.source_system, n.source_table, n.job_id::text,
               jsonb_build_object('job_id', n.job_id, 'status', n.status,
                                  'trigger_type', n.trigger_type,
                                  'total_records', n.total_records)
        FROM new_rows n;
        IF FOUND AND current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_on_job_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('atlas_orch.buffer', true) <> '' THEN
        PERFORM trapper.orchestrator_flush_events();
    END IF;
    BEGIN
        INSERT INTO trapper.orchestrator_events
            (kind, source_system, source_table, record_ref, payload)
        VALUES (CASE NEW.status
                    WHEN 'processing' THEN 'job_started'
                    WHEN 'completed' THEN 'job_completed'
                    WHEN 'queued' THEN 'job_queued'
                    ELSE 'job_failed'
                END,
                NEW.source_system, NEW.source_table, NEW.job_id::text,
                jsonb_strip_nulls(jsonb_build_object(
                    'job_id', NEW.job_id, 'status', NEW.status, 'previous', OLD.status,
                    'attempt', NEW.attempt_count, 'worker_id', NEW.worker_id,
                    'records_processed', NEW.records_processed,
                    'records_failed', NEW.records_failed,
                    'error', left(NEW.last_error, 500),
                    'next_retry_at', NEW.next_retry_at)));
        IF current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_on_entity_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
    v_into text;
BEGIN
    IF current_setting('atlas_orch.buffer', true) <> '' THEN
        PERFORM trapper.orchestrator_flush_events();
    END IF;
    BEGIN
        IF TG_TABLE_NAME = 'sot_people' THEN
            v_id := NEW.person_id::text;
            v_into := NEW.merged_into_person_id::text;
        ELSIF TG_TABLE_NAME = 'places' THEN
            v_id := NEW.place_id::text;
            v_into := NEW.merged_into_place_id::text;
        ELSE
            v_id := NEW.cat_id::text;
            v_into := NEW.merged_into_cat_id::text;
        END IF;
        INSERT INTO trapper.orchestrator_events (kind, source_system, source_table,
                                                 entity_ref, payload)
        VALUES ('entity_merged', 'atlas', TG_TABLE_NAME, v_id,
                jsonb_build_object('entity_type', TG_ARGV[0], 'merged_into', v_into));
        IF current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;
