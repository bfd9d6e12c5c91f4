-- The listener's enrichment of events into job-log rows (003_listener.sql says how the
-- checkpoint moves), what is waiting, and pruning consumed events.

-- One page of enrichment. Returns what it did; pass_complete means the checkpoint's horizon
-- moved and the listener can wait for the next wake-up.
CREATE OR REPLACE FUNCTION trapper.orchestrator_consume_events(p_consumer text, p_limit int DEFAULT 1000)
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
    v_fast boolean;
    v_retry xid8[] := '{}';
    v_from xid8;
    -- the page's job-log rows, column by column, written by the function's last statement
    a_job uuid[];
    a_action text[];
    a_system text[];
    a_table text[];
    a_record text[];
    a_staged bigint[];
    a_surface text[];
    a_entity uuid[];
    a_reason text[];
    a_details jsonb[];
    a_event bigint[];
    a_at timestamptz[];
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
    -- What is left to read since the last completed pass (007_last_snapshot.sql): that pass
    -- read every transaction its snapshot showed, so only the ones in progress then (its
    -- xip) and the ones from its xmax on can hold unread events. Reading just those keeps a
    -- page from walking again every event of `done`, comparing each with the whole array:
    -- while one long transaction anywhere on the server holds the horizon back, `done` grows
    -- by every writer's commit and a page of 1,000 took seconds (bench/consume_page.py).
    -- The shortcut holds only while the horizon is where that pass left it (a checkpoint
    -- reset by hand is read the slow way).
    v_fast := c.last_snapshot IS NOT NULL
              AND c.horizon = pg_snapshot_xmin(c.last_snapshot);
    IF v_fast THEN
        v_retry := ARRAY(SELECT x FROM pg_snapshot_xip(c.last_snapshot) AS x
                         WHERE x >= c.horizon AND x <> ALL (c.done) ORDER BY x);
        v_from := greatest(c.horizon, pg_snapshot_xmax(c.last_snapshot));
    ELSE
        v_from := c.horizon;
    END IF;

    WITH ev AS MATERIALIZED (
        SELECT u.* FROM (
            -- transactions that were in progress at the last pass: few, each looked up
            (SELECT e.*
             FROM trapper.orchestrator_events e
             WHERE e.xid = ANY (v_retry)
               AND (e.xid, e.event_id) > (c.pass_after_xid, c.pass_after_id)
               AND pg_visible_in_snapshot(e.xid, c.pass_snapshot)
             ORDER BY e.xid, e.event_id
             LIMIT p_limit)
            UNION ALL
            -- and everything from v_from on, in order; `done` holds nothing up there once
            -- v_fast (every xid in it was visible to the last pass, so below its xmax)
            (SELECT e.*
             FROM trapper.orchestrator_events e
             WHERE (e.xid, e.event_id) > (c.pass_after_xid, c.pass_after_id)
               AND e.xid >= v_from
               AND pg_visible_in_snapshot(e.xid, c.pass_snapshot)
               AND (v_fast OR e.xid <> ALL (c.done))
             ORDER BY e.xid, e.event_id
             LIMIT p_limit)
        ) u
        ORDER BY u.xid, u.event_id
        LIMIT p_limit
    ),
    enriched AS (
        SELECT ev.xid, ev.event_id, ev.created_at, ev.kind AS action,
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
    )
    SELECT count(*)::int,
           (array_agg(x.xid ORDER BY x.xid DESC, x.event_id DESC))[1],
           (array_agg(x.event_id ORDER BY x.xid DESC, x.event_id DESC))[1],
           coalesce(array_agg(DISTINCT x.xid) FILTER (WHERE x.xid >= v_xmin), '{}'),
           array_agg(x.job_id ORDER BY x.event_id), array_agg(x.action ORDER BY x.event_id),
           array_agg(x.source_system ORDER BY x.event_id),
           array_agg(x.source_table ORDER BY x.event_id),
           array_agg(x.source_record_id ORDER BY x.event_id),
           array_agg(x.staged_record_id ORDER BY x.event_id),
           array_agg(x.target_surface ORDER BY x.event_id),
           array_agg(x.target_entity_id ORDER BY x.event_id),
           array_agg(x.decision_reason ORDER BY x.event_id),
           array_agg(x.decision_details ORDER BY x.event_id),
           array_agg(x.event_id ORDER BY x.event_id), array_agg(x.created_at ORDER BY x.event_id)
    INTO v_n, v_last_xid, v_last_id, v_xids, a_job, a_action, a_system, a_table, a_record,
         a_staged, a_surface, a_entity, a_reason, a_details, a_event, a_at
    FROM enriched x;

    IF v_n < p_limit THEN
        -- The pass read everything its snapshot shows: below its xmin nothing can still
        -- commit, so the horizon moves there and only later transactions stay in `done`.
        c.done := ARRAY(SELECT DISTINCT x FROM unnest(c.done || c.pass_xids || v_xids) AS x
                        WHERE x >= v_xmin ORDER BY x);
        c.horizon := greatest(c.horizon, v_xmin);
        c.last_snapshot := c.pass_snapshot;
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
        pass_xids = c.pass_xids, last_snapshot = c.last_snapshot, events_consumed = k.events_consumed + v_n,
        updated_at = now()
    WHERE k.consumer = p_consumer;

    -- The job-log rows go in last. Their INSERT takes the log's write lock, and the live
    -- feed's watermark (functions/watermarks.sql) waits for every transaction holding it: taken
    -- while the page was still reading and enriching, it held the feed back for the whole page,
    -- back to back under load (docs/benchmarks.md, "The wide feed").
    -- An empty page takes no lock at all.
    v_rows := 0;
    IF v_n > 0 THEN
        INSERT INTO trapper.orchestrator_job_log
            (job_id, action, source_system, source_table, source_record_id, staged_record_id,
             target_surface, target_entity_id, decision_reason, decision_details, event_id,
             logged_at)
        SELECT * FROM unnest(a_job, a_action, a_system, a_table, a_record, a_staged,
                             a_surface, a_entity, a_reason, a_details, a_event, a_at)
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
    END IF;

    RETURN QUERY SELECT v_n, v_rows, v_n < p_limit, c.horizon;
END $$;

-- Remove consumed events past their retention (events_retention_days). The event table is
-- partitioned by month (006_partitioned_events.sql): a month goes whole, detached and dropped,
-- once it ended more than the retention ago and every event in it is enriched (all its
-- transactions below the checkpoint's horizon); months go oldest first, and a month still
-- holding an unread event keeps the later ones too. Rows that fell into the DEFAULT partition
-- are deleted a bounded slice at a time, as before partitioning. Returns the events removed.
CREATE OR REPLACE FUNCTION trapper.orchestrator_prune_events(p_consumer text, p_limit int DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_horizon xid8;
    v_raw text := (SELECT btrim(value) FROM trapper.orchestrator_settings
                   WHERE key = 'events_retention_days');
    v_days numeric := 7;
    v_before timestamptz;
    v_unread boolean;
    v_n bigint := 0;
    v_rows bigint;
    p record;
BEGIN
    -- a number of days (fractions allowed); anything else ("7 days", a typo) is the default
    -- with a WARNING: a cast error here stopped the listener on every housekeeping tick
    IF v_raw ~ '^[0-9]{1,5}([.][0-9]+)?$' THEN
        v_days := v_raw::numeric;
    ELSIF coalesce(v_raw, '') <> '' THEN
        RAISE WARNING 'orchestrator setting events_retention_days must be a number of days, not %; using 7',
            left(v_raw, 40);
    END IF;
    SELECT horizon INTO v_horizon FROM trapper.orchestrator_listener_checkpoint
    WHERE consumer = p_consumer;
    IF v_horizon IS NULL THEN
        RETURN 0;
    END IF;
    v_before := now() - make_interval(secs => v_days * 86400);
    FOR p IN SELECT * FROM trapper.orchestrator_partitions('trapper.orchestrator_events')
             ORDER BY range_from NULLS FIRST LOOP
        IF p.range_to IS NULL THEN
            EXECUTE format('DELETE FROM %s WHERE (event_id, created_at) IN ('
                           'SELECT event_id, created_at FROM %s WHERE xid < $1 '
                           'AND created_at < $2 ORDER BY xid LIMIT $3)', p.partition, p.partition)
                USING v_horizon, v_before, p_limit;
            GET DIAGNOSTICS v_rows = ROW_COUNT;
            v_n := v_n + v_rows;
            CONTINUE;
        END IF;
        EXIT WHEN p.range_to > v_before;
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE xid >= $1)', p.partition)
            INTO v_unread USING v_horizon;
        EXIT WHEN v_unread;
        v_n := v_n + trapper.orchestrator_drop_partitions_before(
            'trapper.orchestrator_events', p.range_to);
    END LOOP;
    RETURN v_n;
END $$;

-- What is waiting: events not yet enriched (cheap upper bound for progress and health).
CREATE OR REPLACE FUNCTION trapper.orchestrator_events_pending(p_consumer text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM trapper.orchestrator_events e
    WHERE e.xid >= coalesce((SELECT horizon FROM trapper.orchestrator_listener_checkpoint
                             WHERE consumer = p_consumer), '0')
      AND e.xid <> ALL (coalesce((SELECT done FROM trapper.orchestrator_listener_checkpoint
                                  WHERE consumer = p_consumer), '{}'))
$$;
