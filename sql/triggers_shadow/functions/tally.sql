-- Folding job-log rows into per-source counters and hourly buckets, exactly once.

-- Fold job-log rows (p_from, p_to] into hourly buckets and the sources' counters.
CREATE OR REPLACE FUNCTION trapper.orchestrator_tally_range(p_from bigint, p_to bigint) RETURNS bigint
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
CREATE OR REPLACE FUNCTION trapper.orchestrator_tally_log(p_consumer text)
RETURNS TABLE (tallied bigint, upto bigint, pending boolean)
LANGUAGE plpgsql AS $$
DECLARE
    c trapper.orchestrator_listener_checkpoint;
    w record;
    v_total bigint := 0;
BEGIN
    -- First a look without a lock: a step that moves nothing writes nothing, so the
    -- listener's step commits without waiting for a WAL flush (as in orchestrator_capture).
    SELECT * INTO c FROM trapper.orchestrator_listener_checkpoint WHERE consumer = p_consumer;
    IF FOUND THEN
        SELECT * INTO w FROM trapper.orchestrator_watermark_step(
            'trapper.orchestrator_job_log', 'log_seq', c.log_tallied_upto, c.probe_seq,
            c.probe_vxids);
        IF (w.mark, w.probe_seq, w.probe_vxids)
           IS NOT DISTINCT FROM (c.log_tallied_upto, c.probe_seq, c.probe_vxids) THEN
            RETURN QUERY SELECT 0::bigint, w.mark,
                                w.probe_seq IS NOT NULL OR c.staged_probe_seq IS NOT NULL;
            RETURN;
        END IF;
    END IF;
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
