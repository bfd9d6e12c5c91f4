-- The detectors' queries call set-returning SQL functions, which the planner costs far above
-- jit_above_cost (100,000) whatever the data: with JIT on (the server default), each pass
-- spent ~6 s compiling a plan that runs in ~90 ms (measured on the small world's database
-- on a 2-core machine), and the listener consumes nothing while it runs. The setting holds
-- for everything the call runs, so every detector is covered.
ALTER FUNCTION trapper.orchestrator_detect_anomalies() SET jit = off;
