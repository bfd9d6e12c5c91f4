-- The job queue: one job per source table with work to do, claimed with SKIP LOCKED,
-- worked in batches of records, kept alive by heartbeats, retried with backoff and
-- dead-lettered when out of attempts. Fixes the real system's queue bugs
-- (docs/research/atlas-data.md §1): no hard-coded CASE (the registry routes), exhausted jobs are never
-- claimed again, and jobs whose worker died are reclaimed instead of only listed.
--
-- Its functions, views and triggers live in functions/queue.sql, functions/job_work.sql and
-- triggers/processor_registry_check.sql (re-applied when they change; docs/operations.md, "Installing and
-- uninstalling").

CREATE TABLE trapper.processing_settings (
    key         text PRIMARY KEY,
    value       numeric NOT NULL,
    description text NOT NULL
);
INSERT INTO trapper.processing_settings (key, value, description) VALUES
    ('heartbeat_interval_s', 10, 'how often a worker beats for the jobs it holds'),
    ('stale_after_s', 15, 'a processing job whose last beat is older than this is reclaimed'),
    ('retry_base_s', 60, 'first retry delay; doubles with each attempt'),
    ('record_batch', 500, 'records worked per transaction');

-- The registry process_next_job routes by. processor_function names a function
-- (staged_record_id bigint) -> jsonb; it is resolved through regprocedure, never run as text.
CREATE TABLE trapper.data_engine_processors (
    processor_id       integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    processor_name     text NOT NULL UNIQUE,
    source_system      text NOT NULL,
    source_table       text NOT NULL,
    entity_type        text,
    processor_function text NOT NULL,
    priority           integer NOT NULL DEFAULT 100,   -- lower runs first
    is_active          boolean NOT NULL DEFAULT true,
    config             jsonb NOT NULL DEFAULT '{}',
    stats              jsonb NOT NULL DEFAULT '{}',
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX data_engine_processors_route_idx
    ON trapper.data_engine_processors (source_system, source_table) WHERE is_active;

CREATE TABLE trapper.processing_jobs (
    job_id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    trigger_type      text NOT NULL DEFAULT 'manual',  -- ingest | cron | manual | replay
    trigger_id        text,
    source_system     text NOT NULL,
    source_table      text NOT NULL,
    status            text NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'processing', 'linking', 'completed',
                                        'failed', 'retry_pending', 'expired', 'dead_letter')),
    priority          integer NOT NULL DEFAULT 0,       -- higher first
    total_records     integer,
    records_processed integer NOT NULL DEFAULT 0,
    records_failed    integer NOT NULL DEFAULT 0,
    entities_created  jsonb NOT NULL DEFAULT '{}',
    linking_results   jsonb,
    errors            jsonb NOT NULL DEFAULT '[]',
    queued_at         timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    completed_at      timestamptz,
    heartbeat_at      timestamptz,
    worker_id         text,
    attempt_count     integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3 CHECK (max_attempts > 0),
    next_retry_at     timestamptz,
    last_error        text,
    result            jsonb
);
CREATE INDEX processing_jobs_claim_idx
    ON trapper.processing_jobs (priority DESC, queued_at)
    WHERE status IN ('queued', 'retry_pending');
CREATE INDEX processing_jobs_running_idx
    ON trapper.processing_jobs (heartbeat_at) WHERE status = 'processing';
-- enqueue_processing's "is a job for this table already queued?". Partial, so that only
-- the enqueue writes it: every other index a job's state changes touch costs the claim
-- and the completion of every job.
CREATE INDEX processing_jobs_queued_source_idx
    ON trapper.processing_jobs (source_system, source_table) WHERE status = 'queued';
