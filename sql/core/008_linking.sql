-- Post-processing: the six linking operations of run_all_entity_linking() (each returns
-- its count and records what it could not link, and why), place context with manual > AI
-- precedence, and the AI extraction queue (filled with a trigger reason; the AI itself is
-- out of scope).
--
-- Its functions, views and triggers live in functions/linking.sql,
-- functions/place_contexts.sql, triggers/request_extraction.sql and
-- functions/planner_statistics.sql (re-applied when they change; docs/operations.md, "Installing and
-- uninstalling").

CREATE TABLE trapper.entity_linking_skipped (
    entity_type  text NOT NULL,
    entity_id    uuid NOT NULL,
    operation    text NOT NULL,
    reason       text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, entity_id, operation)
);

CREATE TABLE trapper.place_contexts (
    context_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    place_id       uuid NOT NULL REFERENCES trapper.places,
    context_type   text NOT NULL,
    valid_from     date,
    valid_to       date,
    evidence_type  text NOT NULL CHECK (evidence_type IN ('manual', 'ai', 'inferred')),
    evidence_notes text,
    confidence     numeric(3, 2) NOT NULL DEFAULT 0.5,
    source         text,
    is_verified    boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (place_id, context_type, valid_to)
);

CREATE TABLE trapper.extraction_queue (
    extraction_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_type       text NOT NULL,
    entity_id         uuid NOT NULL,
    source_table      text,
    source_record_id  text,
    priority          integer NOT NULL DEFAULT 50 CHECK (priority BETWEEN 1 AND 100),
    trigger_reason    text NOT NULL
        CHECK (trigger_reason IN ('new_record', 'related_update', 'weekly_refresh', 'manual')),
    queued_at         timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    completed_at      timestamptz,
    error_message     text
);
CREATE UNIQUE INDEX extraction_queue_pending_idx
    ON trapper.extraction_queue (entity_type, entity_id) WHERE completed_at IS NULL;

INSERT INTO trapper.processing_settings (key, value, description) VALUES
    ('analyze_every_records', 20000,
     'a worker refreshes planner statistics after this many records (0: never)');
