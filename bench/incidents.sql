-- bench/incidents.py: the replay's detection passes, run in the database so that the hours
-- between two arrivals of data cost one round trip, not four per hour. Still one detection
-- pass (and one planner pass) per simulated detection interval, in order.

-- name: make_passes
CREATE FUNCTION pg_temp.bench_passes(p_from timestamptz, p_n int, p_step interval,
                                     p_routes jsonb) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz := p_from;
BEGIN
    FOR i IN 1 .. p_n LOOP
        -- a hung job comes back when its worker restarts (completed_at is when)
        UPDATE trapper.processing_jobs SET status = 'completed'
        WHERE trigger_type = 'bench' AND status = 'processing' AND completed_at <= t;
        PERFORM * FROM trapper.orchestrator_detect_anomalies_at(t);
        PERFORM * FROM trapper.orchestrator_plan_alerts_at(p_routes, t);
        t := t + p_step;
    END LOOP;
    RETURN p_n;
END $$;

-- name: passes
SELECT pg_temp.bench_passes($1, $2, $3, $4::jsonb);
