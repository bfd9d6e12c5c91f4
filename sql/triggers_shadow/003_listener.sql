-- The listener's state and its two server-side steps.
--
-- 1. orchestrator_consume_events: enrich a page of events into job-log rows and move the
--    checkpoint, in one transaction. Events are read by (xid, event_id) and only from
--    transactions visible in the pass's snapshot; the horizon only moves to that snapshot's
--    xmin, below which no transaction can still commit. Transactions above the horizon that
--    were already read are remembered in `done`, so a later pass neither skips a slow
--    transaction nor reads a fast one twice (DESIGN.md contract 3).
-- 2. orchestrator_tally_log: fold job-log rows into per-source counters and hourly buckets,
--    exactly once, up to a log_seq below which no transaction can still add a row.

INSERT INTO trapper.orchestrator_settings (key, value, description) VALUES
    ('events_retention_days', '7',
     'consumed events older than this are deleted by the listener (the job log keeps the story)'),
    ('notify_queue_alert', '0.5',
     'fraction of the NOTIFY queue in use at which the listener raises an anomaly'),
    ('capture_staged', 'trigger',
     'trigger: a statement-level trigger writes one event per insert statement into '
     'staged_records; poll: that trigger is disabled and the listener finds new staged rows '
     'itself, at no cost to the host''s writers (set with orchestrator_set_staged_capture)');

CREATE TABLE trapper.orchestrator_listener_checkpoint (
    consumer          TEXT PRIMARY KEY,
    horizon           xid8 NOT NULL DEFAULT '0',     -- every event below it is enriched
    done              xid8[] NOT NULL DEFAULT '{}',  -- transactions at or above it, enriched
    pass_snapshot     pg_snapshot,                   -- the pass in progress, if any
    pass_after_xid    xid8,
    pass_after_id     BIGINT,
    pass_xids         xid8[] NOT NULL DEFAULT '{}',
    events_consumed   BIGINT NOT NULL DEFAULT 0,
    log_tallied_upto  BIGINT NOT NULL DEFAULT 0,     -- job-log rows up to here are counted
    probe_seq         BIGINT,                        -- a pending watermark probe
    probe_vxids       TEXT[],
    staged_polled_upto BIGINT,                       -- capture_staged = poll: rows up to here
    staged_probe_seq  BIGINT,                        --   have their events
    staged_probe_vxids TEXT[],
    holder            TEXT,                          -- who consumes now (host:pid)
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One page of enrichment. Returns what it did; pass_complete means the checkpoint's horizon
-- moved and the listener can wait for the next wake-up.
CREATE FUNCTION trapper.orchestrator_consume_events(p_consumer text, p_limit int DEFAULT 1000)
RETURNS TABLE (events int, log_rows int, pass_complete boolean, horizon xid8)
LANGUAGE plpgsql AS $$
DECLARE
    c trapper.orchestrator_listener_checkpoint;
    v_xmin xid8;
    v_n int;
    v_rows int;
    v_last_xid xid8;
    v_last_id bigint;
    v_xids xid8[];
BEGIN
    INSERT INTO trapper.orchestrator_listener_checkpoint (consumer) VALUES (p_consumer)
    ON CONFLICT DO NOTHING;
    SELECT * INTO c FROM trapper.orchestrator_listener_checkpoint
    WHERE consumer = p_consumer FOR UPDATE;
    IF c.pass_snapshot IS NULL THEN
        c.pass_snapshot := pg_current_snapshot();
        c.pass_after_xid := c.horizon;
        c.pass_after_id := 0;
        c.pass_xids := '{}';
    END IF;
    v_xmin := pg_snapshot_xmin(c.pass_snapshot);

    WITH ev AS MATERIALIZED (
        SELECT e.*
        FROM trapper.orchestrator_events e
        WHERE (e.xid, e.event_id) > (c.pass_after_xid, c.pass_after_id)
          AND e.xid >= c.horizon
          AND pg_visible_in_snapshot(e.xid, c.pass_snapshot)
          AND e.xid <> ALL (c.done)
        ORDER BY e.xid, e.event_id
        LIMIT p_limit
    ),
    enriched AS (
        SELECT ev.event_id, ev.created_at, ev.kind AS action,
               coalesce(es.source_system, ev.source_system, 'atlas') AS source_system,
               coalesce(es.source_table, ev.source_table, 'unknown') AS source_table,
               CASE WHEN ev.kind = 'identity_decision' THEN coalesce(d.source_row_id,
                                                                     ev.record_ref)
                    WHEN ev.kind LIKE 'entity_%' THEN es.source_row_id END
                   AS source_record_id,
               CASE WHEN ev.kind = 'identity_decision'
                        THEN coalesce(d.staged_record_id,
                                      (ev.payload ->> 'staged_record_id')::bigint)
                    WHEN ev.kind LIKE 'entity_%' THEN es.staged_record_id END
                   AS staged_record_id,
               CASE WHEN ev.kind LIKE 'job_%' THEN (ev.payload ->> 'job_id')::uuid END AS job_id,
               CASE WHEN ev.kind = 'identity_decision' THEN 'sot_people'
                    WHEN ev.kind LIKE 'entity_%' THEN ev.source_table END AS target_surface,
               CASE WHEN ev.kind = 'identity_decision' THEN d.resulting_person_id
                    WHEN ev.kind LIKE 'entity_%' THEN ev.entity_ref::uuid END
                   AS target_entity_id,
               CASE ev.kind
                   WHEN 'staged' THEN format('%s record(s) staged (ids %s to %s, ingest run %s)',
                        ev.payload ->> 'count', ev.payload ->> 'min_id',
                        ev.payload ->> 'max_id', coalesce(ev.payload ->> 'ingest_run_id', '-'))
                   WHEN 'job_queued' THEN 'job queued'
                   WHEN 'job_started' THEN format('job started by %s (attempt %s)',
                        coalesce(ev.payload ->> 'worker_id', 'a worker'),
                        coalesce(ev.payload ->> 'attempt', '1'))
                   WHEN 'job_completed' THEN format('job completed: %s processed, %s failed',
                        coalesce(ev.payload ->> 'records_processed', '0'),
                        coalesce(ev.payload ->> 'records_failed', '0'))
                   WHEN 'job_failed' THEN format('job %s: %s', ev.payload ->> 'status',
                        coalesce(ev.payload ->> 'error', 'no error recorded'))
                   WHEN 'identity_decision' THEN coalesce(
                        d.decision_type || ': ' || d.decision_reason,
                        'identity decision (the decision row is gone)')
                   WHEN 'entity_created' THEN format('%s created',
                        ev.payload ->> 'entity_type')
                   WHEN 'entity_merged' THEN format('%s merged into %s',
                        ev.payload ->> 'entity_type', ev.payload ->> 'merged_into')
                   ELSE ev.kind
               END AS decision_reason,
               CASE WHEN ev.kind = 'identity_decision' THEN jsonb_strip_nulls(
                        jsonb_build_object('decision_id', d.decision_id,
                                           'decision_type', d.decision_type,
                                           'score', d.top_candidate_score,
                                           'fs_score', d.fs_score,
                                           'top_candidate_id', d.top_candidate_id,
                                           'household_id', d.household_id))
                    ELSE ev.payload END AS decision_details
        FROM ev
        LEFT JOIN trapper.data_engine_match_decisions d
               ON ev.kind = 'identity_decision'
              AND d.decision_id = (ev.payload ->> 'decision_id')::bigint
        LEFT JOIN LATERAL (
            SELECT s.source_system, s.source_table, s.source_row_id, s.staged_record_id
            FROM trapper.entity_sources s
            WHERE ev.kind LIKE 'entity_%' AND s.entity_id = ev.entity_ref::uuid
            -- not ORDER BY entity_source_id alone: that walks the primary key, not the
            -- entity's few rows
            ORDER BY s.action <> 'created', s.entity_source_id
            LIMIT 1
        ) es ON true
    ),
    ins AS (
        INSERT INTO trapper.orchestrator_job_log
            (job_id, action, source_system, source_table, source_record_id, staged_record_id,
             target_surface, target_entity_id, decision_reason, decision_details, event_id,
             logged_at)
        SELECT job_id, action, source_system, source_table, source_record_id,
               staged_record_id, target_surface, target_entity_id, decision_reason,
               decision_details, event_id, created_at
        FROM enriched
        ORDER BY event_id
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*)::int,
           (SELECT count(*)::int FROM ins),
           (array_agg(ev.xid ORDER BY ev.xid DESC, ev.event_id DESC))[1],
           (array_agg(ev.event_id ORDER BY ev.xid DESC, ev.event_id DESC))[1],
           coalesce(array_agg(DISTINCT ev.xid) FILTER (WHERE ev.xid >= v_xmin), '{}')
    INTO v_n, v_rows, v_last_xid, v_last_id, v_xids
    FROM ev;

    IF v_n < p_limit THEN
        -- The pass read everything its snapshot shows: below its xmin nothing can still
        -- commit, so the horizon moves there and only later transactions stay in `done`.
        c.done := ARRAY(SELECT DISTINCT x FROM unnest(c.done || c.pass_xids || v_xids) AS x
                        WHERE x >= v_xmin ORDER BY x);
        c.horizon := greatest(c.horizon, v_xmin);
        c.pass_snapshot := NULL;
        c.pass_after_xid := NULL;
        c.pass_after_id := NULL;
        c.pass_xids := '{}';
    ELSE
        c.pass_after_xid := v_last_xid;
        c.pass_after_id := v_last_id;
        c.pass_xids := c.pass_xids || v_xids;
    END IF;

    UPDATE trapper.orchestrator_listener_checkpoint AS k
    SET horizon = c.horizon, done = c.done, pass_snapshot = c.pass_snapshot,
        pass_after_xid = c.pass_after_xid, pass_after_id = c.pass_after_id,
        pass_xids = c.pass_xids, events_consumed = k.events_consumed + v_n,
        updated_at = now()
    WHERE k.consumer = p_consumer;

    RETURN QUERY SELECT v_n, v_rows, v_n < p_limit, c.horizon;
END $$;

-- A sequence value below which every row of a table is final: the sequence's value, once every
-- transaction that held the table open for writing when it was read has ended. A writer takes
-- its table lock before it draws a value, so no later commit can fall below it. Used for the
-- job log (log_seq) and, in poll capture, for staged_records (id).
CREATE FUNCTION trapper.orchestrator_write_probe(p_table regclass, p_seq regclass,
                                                  OUT seq bigint, OUT vxids text[])
LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(pg_sequence_last_value(p_seq), 0),
           ARRAY(SELECT DISTINCT l.virtualtransaction FROM pg_locks l
                 WHERE l.locktype = 'relation' AND l.relation = p_table
                   AND l.mode = 'RowExclusiveLock'
                   AND l.pid IS DISTINCT FROM pg_backend_pid())
$$;

CREATE FUNCTION trapper.orchestrator_vxids_alive(p_vxids text[]) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'virtualxid' AND virtualxid = ANY (p_vxids))
$$;

-- One step of a watermark over a table's identity column: settle the pending probe if its
-- writers are gone (the watermark moves to it), then take a new probe; a probe nobody is
-- writing under settles at once. The job-log tally, poll capture of staged rows and the live
-- feed all move their watermarks with this one function.
CREATE FUNCTION trapper.orchestrator_watermark_step(
    p_table regclass, p_column text, p_mark bigint, p_probe_seq bigint, p_probe_vxids text[],
    OUT mark bigint, OUT probe_seq bigint, OUT probe_vxids text[]
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_probe record;
BEGIN
    mark := p_mark;
    probe_seq := p_probe_seq;
    probe_vxids := p_probe_vxids;
    IF probe_seq IS NOT NULL AND NOT trapper.orchestrator_vxids_alive(probe_vxids) THEN
        mark := greatest(mark, probe_seq);
        probe_seq := NULL;
        probe_vxids := NULL;
    END IF;
    IF probe_seq IS NULL THEN
        SELECT * INTO v_probe FROM trapper.orchestrator_write_probe(
            p_table, pg_get_serial_sequence(p_table::text, p_column)::regclass);
        IF v_probe.seq > mark THEN
            IF cardinality(v_probe.vxids) = 0 THEN
                mark := v_probe.seq;
            ELSE
                probe_seq := v_probe.seq;
                probe_vxids := v_probe.vxids;
            END IF;
        END IF;
    END IF;
END $$;

-- Fold job-log rows (p_from, p_to] into hourly buckets and the sources' counters.
CREATE FUNCTION trapper.orchestrator_tally_range(p_from bigint, p_to bigint) RETURNS bigint
LANGUAGE sql AS $$
    WITH r AS MATERIALIZED (
        SELECT l.source_system, l.source_table, l.action, l.logged_at,
               CASE WHEN l.action = 'staged'
                    THEN coalesce((l.decision_details ->> 'count')::bigint, 1) ELSE 1 END AS n,
               CASE WHEN l.action = 'staged'
                    THEN (l.decision_details ->> 'ingest_run_id')::bigint END AS run
        FROM trapper.orchestrator_job_log l
        WHERE l.log_seq > p_from AND l.log_seq <= p_to
    ),
    hourly AS (
        INSERT INTO trapper.orchestrator_source_hourly AS h
            (source_system, source_table, hour, staged, routed, skipped, rejected, errors,
             anomalies, entities_created, jobs_completed)
        SELECT source_system, source_table, date_trunc('hour', logged_at),
               coalesce(sum(n) FILTER (WHERE action = 'staged'), 0),
               count(*) FILTER (WHERE action = 'routed'),
               count(*) FILTER (WHERE action = 'skipped'),
               count(*) FILTER (WHERE action = 'rejected'),
               count(*) FILTER (WHERE action IN ('error', 'job_failed')),
               count(*) FILTER (WHERE action = 'anomaly_flagged'),
               count(*) FILTER (WHERE action = 'entity_created'),
               count(*) FILTER (WHERE action = 'job_completed')
        FROM r
        GROUP BY 1, 2, 3
        ON CONFLICT (source_system, source_table, hour) DO UPDATE SET
            staged = h.staged + excluded.staged,
            routed = h.routed + excluded.routed,
            skipped = h.skipped + excluded.skipped,
            rejected = h.rejected + excluded.rejected,
            errors = h.errors + excluded.errors,
            anomalies = h.anomalies + excluded.anomalies,
            entities_created = h.entities_created + excluded.entities_created,
            jobs_completed = h.jobs_completed + excluded.jobs_completed
        RETURNING 1
    ),
    runs AS (
        -- the newest ingest run per source in this slice, with its size
        SELECT DISTINCT ON (r.source_system, r.source_table)
               r.source_system, r.source_table,
               coalesce(ir.rows_new, sum(r.n)) AS last_count
        FROM r
        LEFT JOIN trapper.ingest_runs ir ON ir.ingest_run_id = r.run
        WHERE r.action = 'staged'
        GROUP BY r.source_system, r.source_table, r.run, ir.rows_new
        ORDER BY r.source_system, r.source_table, max(r.logged_at) DESC
    ),
    src AS (
        UPDATE trapper.orchestrator_sources s
        SET last_ingest_at = greatest(s.last_ingest_at, t.last_at),
            last_ingest_record_count = coalesce(t.last_count, s.last_ingest_record_count),
            total_records_ingested = s.total_records_ingested + t.staged,
            total_entities_created = s.total_entities_created + t.created,
            updated_at = now()
        FROM (
            SELECT r.source_system, r.source_table,
                   max(r.logged_at) FILTER (WHERE r.action = 'staged') AS last_at,
                   coalesce(sum(r.n) FILTER (WHERE r.action = 'staged'), 0) AS staged,
                   count(*) FILTER (WHERE r.action = 'entity_created') AS created,
                   max(runs.last_count) AS last_count
            FROM r
            LEFT JOIN runs USING (source_system, source_table)
            GROUP BY r.source_system, r.source_table
        ) t
        WHERE s.source_system = t.source_system AND s.source_table = t.source_table
        RETURNING 1
    )
    SELECT count(*) + 0 * (SELECT count(*) FROM hourly) + 0 * (SELECT count(*) FROM src)
    FROM r
$$;

-- Move the job log's watermark one step and tally the rows it passed. Returns how many
-- job-log rows were counted, up to where, and whether a probe (this one or poll capture's)
-- still waits for writers to finish.
CREATE FUNCTION trapper.orchestrator_tally_log(p_consumer text)
RETURNS TABLE (tallied bigint, upto bigint, pending boolean)
LANGUAGE plpgsql AS $$
DECLARE
    c trapper.orchestrator_listener_checkpoint;
    w record;
    v_total bigint := 0;
BEGIN
    INSERT INTO trapper.orchestrator_listener_checkpoint (consumer) VALUES (p_consumer)
    ON CONFLICT DO NOTHING;
    SELECT * INTO c FROM trapper.orchestrator_listener_checkpoint
    WHERE consumer = p_consumer FOR UPDATE;
    SELECT * INTO w FROM trapper.orchestrator_watermark_step(
        'trapper.orchestrator_job_log', 'log_seq', c.log_tallied_upto, c.probe_seq,
        c.probe_vxids);
    IF w.mark > c.log_tallied_upto THEN
        v_total := trapper.orchestrator_tally_range(c.log_tallied_upto, w.mark);
    END IF;
    UPDATE trapper.orchestrator_listener_checkpoint
    SET log_tallied_upto = w.mark, probe_seq = w.probe_seq, probe_vxids = w.probe_vxids,
        updated_at = now()
    WHERE consumer = p_consumer;
    RETURN QUERY SELECT v_total, w.mark,
                        w.probe_seq IS NOT NULL OR c.staged_probe_seq IS NOT NULL;
END $$;

-- Delete consumed events past their retention, a bounded slice at a time.
CREATE FUNCTION trapper.orchestrator_prune_events(p_consumer text, p_limit int DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_horizon xid8;
    v_days numeric := coalesce((SELECT value::numeric FROM trapper.orchestrator_settings
                                WHERE key = 'events_retention_days'), 7);
    v_n bigint;
BEGIN
    SELECT horizon INTO v_horizon FROM trapper.orchestrator_listener_checkpoint
    WHERE consumer = p_consumer;
    IF v_horizon IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM trapper.orchestrator_events
    WHERE event_id IN (SELECT event_id FROM trapper.orchestrator_events
                       WHERE xid < v_horizon
                         AND created_at < now() - make_interval(secs => v_days * 86400)
                       ORDER BY xid LIMIT p_limit);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END $$;

-- What is waiting: events not yet enriched (cheap upper bound for progress and health).
CREATE FUNCTION trapper.orchestrator_events_pending(p_consumer text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM trapper.orchestrator_events e
    WHERE e.xid >= coalesce((SELECT horizon FROM trapper.orchestrator_listener_checkpoint
                             WHERE consumer = p_consumer), '0')
      AND e.xid <> ALL (coalesce((SELECT done FROM trapper.orchestrator_listener_checkpoint
                                  WHERE consumer = p_consumer), '{}'))
$$;

-- Poll capture of staged rows: the events the staged_records trigger would have written,
-- one per source and ingest run, for rows (from, to]. Written by the listener's transaction.
CREATE FUNCTION trapper.orchestrator_capture_staged_range(p_from bigint, p_to bigint)
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
CREATE FUNCTION trapper.orchestrator_capture_staged(p_consumer text) RETURNS bigint
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
CREATE FUNCTION trapper.orchestrator_set_staged_capture(p_mode text,
                                                        p_consumer text DEFAULT 'listener')
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
    v_from bigint;
BEGIN
    IF p_mode NOT IN ('trigger', 'poll') THEN
        RAISE EXCEPTION 'capture mode must be trigger or poll, not %', p_mode
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_mode = 'poll' THEN
        ALTER TABLE trapper.staged_records DISABLE TRIGGER orchestrator_staged_insert;
    ELSE
        ALTER TABLE trapper.staged_records ENABLE TRIGGER orchestrator_staged_insert;
    END IF;
    v_last := coalesce(pg_sequence_last_value(
        pg_get_serial_sequence('trapper.staged_records', 'id')::regclass), 0);
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
