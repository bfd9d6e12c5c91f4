-- The shadow triggers: AFTER triggers on the engines' tables, each appending compact rows to
-- orchestrator_events and waking listeners at most once per transaction. Inserts are
-- statement-level with transition tables (a COPY of 40,000 staged rows is one event); status
-- changes and merges are row-level with a WHEN clause, since the rows they watch are updated
-- far more often than the watched column changes. A notifying transaction holds a cluster-wide lock through its
-- commit (research/events-and-notify.md §2), so one NOTIFY per transaction is the ceiling
-- and the `notify` setting can turn it off for hosts with many small concurrent writers.
--
-- Contract 2: nothing here may raise into the host's transaction. Each trigger body runs in
-- its own exception block; a failure is counted in orchestrator_shadow_failures (when even
-- that is possible) and raised as a WARNING, and the host's write commits.

-- Is NOTIFY on? The GUC atlas_orch.notify (ALTER DATABASE … SET, or per role or session)
-- wins when set, since it costs nothing to read; otherwise orchestrator_settings.notify.
CREATE FUNCTION trapper.orchestrator_notify_enabled() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text := current_setting('atlas_orch.notify', true);
BEGIN
    IF v IS NULL OR v = '' THEN
        v := (SELECT value FROM trapper.orchestrator_settings WHERE key = 'notify');
    END IF;
    RETURN coalesce(v, 'on') = 'on';
END $$;

-- The events channel carries an empty payload: identical notifications in one transaction
-- are folded into one by PostgreSQL, so a transaction wakes listeners once however many
-- statements fired, at no bookkeeping cost; the listener reads the table, not the payload.
CREATE FUNCTION trapper.orchestrator_wake() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF trapper.orchestrator_notify_enabled() THEN
        PERFORM pg_notify('orchestrator_events', '');
    END IF;
    -- a transaction-local flag: the triggers skip this call for the rest of the transaction
    -- (set_config(..., true) ends with the transaction, or with a subtransaction rolled back)
    PERFORM set_config('atlas_orch.woke', 'y', true);
END $$;

-- The job log's channel carries the newest log_seq, once per transaction (a flag local to
-- the transaction: set_config(..., true) ends with it, or with a subtransaction rolled back).
CREATE FUNCTION trapper.orchestrator_notify_once(p_channel text, p_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_flag text := 'atlas_orch.notified_' || p_channel;
BEGIN
    IF current_setting(v_flag, true) = 'y' THEN
        RETURN;
    END IF;
    IF trapper.orchestrator_notify_enabled() THEN
        PERFORM pg_notify(p_channel, p_id::text);
    END IF;
    PERFORM set_config(v_flag, 'y', true);
END $$;

-- The failure path of every shadow trigger: count it where a person will see it, warn, and
-- never raise. If even the count fails (the orchestrator's tables are gone), the WARNING is
-- all that is left, and it says so.
CREATE FUNCTION trapper.orchestrator_shadow_failed(p_trigger text, p_state text, p_message text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO trapper.orchestrator_shadow_failures (trigger, sqlstate, message)
        VALUES (p_trigger, p_state, p_message);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'atlas-orchestrator: shadow trigger % failed (%: %) and the failure '
                      'could not be counted (%)', p_trigger, p_state, p_message, SQLERRM;
        RETURN;
    END;
    RAISE WARNING 'atlas-orchestrator: shadow trigger % failed (%: %); the host write '
                  'went through, counted in trapper.orchestrator_shadow_failures',
                  p_trigger, p_state, p_message;
END $$;

-- Staged rows: one event per statement and source, however many rows it inserted.
CREATE OR REPLACE FUNCTION trapper.orchestrator_on_staged_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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

-- Jobs: one event per job queued (statement level: enqueue can insert many) and per status
-- change (row level with a WHEN clause: heartbeats and progress counters update jobs far more
-- often than their status changes, and the WHEN test costs them almost nothing).
CREATE FUNCTION trapper.orchestrator_on_job_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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

CREATE FUNCTION trapper.orchestrator_on_job_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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

CREATE TRIGGER orchestrator_job_insert
    AFTER INSERT ON trapper.processing_jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_job_insert();
CREATE TRIGGER orchestrator_job_status
    AFTER UPDATE OF status ON trapper.processing_jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status <> 'linking')
    EXECUTE FUNCTION trapper.orchestrator_on_job_status();

-- Identity decisions: the event names the decision; the listener reads its reason and score.
CREATE FUNCTION trapper.orchestrator_on_match_decision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO trapper.orchestrator_events
                (kind, source_system, source_table, record_ref, entity_ref, payload)
            SELECT 'identity_decision', n.source_system, n.source_table, n.source_row_id,
                   n.resulting_person_id::text,
                   jsonb_build_object('decision_id', n.decision_id,
                                      'staged_record_id', n.staged_record_id)
            FROM new_rows n;
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

CREATE TRIGGER orchestrator_match_decision_insert
    AFTER INSERT ON trapper.data_engine_match_decisions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_match_decision();

-- Entities created: one statement-level trigger per table. One function serves the three
-- tables; PL/pgSQL prepares a statement on first use, so each branch only ever meets its own
-- table's transition rows and no column name is spliced into SQL.
CREATE FUNCTION trapper.orchestrator_on_entity_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        IF TG_TABLE_NAME = 'sot_people' THEN
            INSERT INTO trapper.orchestrator_events (kind, source_system, source_table,
                                                     entity_ref, payload)
            SELECT 'entity_created', 'atlas', 'sot_people', n.person_id::text,
                   '{"entity_type": "person"}'
            FROM new_rows n;
        ELSIF TG_TABLE_NAME = 'places' THEN
            INSERT INTO trapper.orchestrator_events (kind, source_system, source_table,
                                                     entity_ref, payload)
            SELECT 'entity_created', 'atlas', 'places', n.place_id::text,
                   '{"entity_type": "place"}'
            FROM new_rows n;
        ELSE
            INSERT INTO trapper.orchestrator_events (kind, source_system, source_table,
                                                     entity_ref, payload)
            SELECT 'entity_created', 'atlas', 'sot_cats', n.cat_id::text,
                   '{"entity_type": "cat"}'
            FROM new_rows n;
        END IF;
        IF FOUND AND current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

-- Entities merged: a row-level trigger whose WHEN clause picks out the merge itself. Entity
-- tables are updated all the time (survivorship, geocoding, links) and merges are rare, so
-- a statement-level trigger would make every one of those updates pay for two transition
-- tables; the WHEN clause is tested in C and costs almost nothing.
CREATE FUNCTION trapper.orchestrator_on_entity_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
    v_into text;
BEGIN
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

CREATE TRIGGER orchestrator_person_insert
    AFTER INSERT ON trapper.sot_people REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_entity_insert();
CREATE TRIGGER orchestrator_person_merge
    AFTER UPDATE OF merged_into_person_id ON trapper.sot_people FOR EACH ROW
    WHEN (OLD.merged_into_person_id IS NULL AND NEW.merged_into_person_id IS NOT NULL)
    EXECUTE FUNCTION trapper.orchestrator_on_entity_merge('person');
CREATE TRIGGER orchestrator_place_insert
    AFTER INSERT ON trapper.places REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_entity_insert();
CREATE TRIGGER orchestrator_place_merge
    AFTER UPDATE OF merged_into_place_id ON trapper.places FOR EACH ROW
    WHEN (OLD.merged_into_place_id IS NULL AND NEW.merged_into_place_id IS NOT NULL)
    EXECUTE FUNCTION trapper.orchestrator_on_entity_merge('place');
CREATE TRIGGER orchestrator_cat_insert
    AFTER INSERT ON trapper.sot_cats REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_entity_insert();
CREATE TRIGGER orchestrator_cat_merge
    AFTER UPDATE OF merged_into_cat_id ON trapper.sot_cats FOR EACH ROW
    WHEN (OLD.merged_into_cat_id IS NULL AND NEW.merged_into_cat_id IS NOT NULL)
    EXECUTE FUNCTION trapper.orchestrator_on_entity_merge('cat');

-- The live feed's wake-up: the job log is the orchestrator's own table, but the router writes
-- it inside the host's processing transactions, so it follows the same once-per-transaction
-- rule and the same setting.
CREATE FUNCTION trapper.orchestrator_on_log_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
BEGIN
    BEGIN
        SELECT max(log_seq) INTO v_last FROM new_rows;
        IF v_last IS NOT NULL THEN
            PERFORM trapper.orchestrator_notify_once('orchestrator_job_log', v_last);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE TRIGGER orchestrator_job_log_insert
    AFTER INSERT ON trapper.orchestrator_job_log REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_log_insert();
