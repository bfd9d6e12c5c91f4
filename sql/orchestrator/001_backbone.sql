-- ORCH_001, the minimal backbone: the source registry, the routing rules and the decision
-- log, with what the seed forgot (the staged record on each decision, a monotonic log_seq
-- for cursors, and the rule's version so a decision names the rule as it was).

CREATE TABLE trapper.orchestrator_sources (
    source_id                UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    source_system            TEXT NOT NULL,
    source_table             TEXT NOT NULL,
    display_name             TEXT NOT NULL,
    expected_fields          JSONB NOT NULL DEFAULT '[]',
    id_field_candidates      TEXT[],
    entity_types_produced    TEXT[],
    processor_name           TEXT,
    ingest_method            TEXT NOT NULL
        CHECK (ingest_method IN ('file_upload', 'api_sync', 'webhook', 'manual_entry', 'realtime')),
    ingest_frequency         TEXT
        CHECK (ingest_frequency IN ('realtime', 'daily', 'weekly', 'monthly', 'on_demand')),
    last_ingest_at           TIMESTAMPTZ,
    last_ingest_record_count INT,
    total_records_ingested   BIGINT NOT NULL DEFAULT 0,
    total_entities_created   BIGINT NOT NULL DEFAULT 0,
    is_active                BOOLEAN NOT NULL DEFAULT TRUE,
    notes                    TEXT,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    UNIQUE (source_system, source_table)
);

CREATE TABLE trapper.orchestrator_routing_rules (
    rule_id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    source_system         TEXT NOT NULL,
    source_table          TEXT NOT NULL,
    source_field          TEXT NOT NULL,
    target_surface        TEXT NOT NULL,
    target_field          TEXT,
    target_function       TEXT,
    routing_type          TEXT NOT NULL DEFAULT 'direct'
        CHECK (routing_type IN ('direct', 'transform', 'function_call')),
    transform_expression  TEXT,
    is_required           BOOLEAN NOT NULL DEFAULT FALSE,
    skip_if_empty         BOOLEAN NOT NULL DEFAULT TRUE,
    provenance_template   JSONB,
    rule_version          INT NOT NULL DEFAULT 1,
    is_active             BOOLEAN NOT NULL DEFAULT TRUE,
    notes                 TEXT,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    FOREIGN KEY (source_system, source_table)
        REFERENCES trapper.orchestrator_sources (source_system, source_table)
);
CREATE INDEX orchestrator_routing_rules_source_idx
    ON trapper.orchestrator_routing_rules (source_system, source_table) WHERE is_active;

CREATE TABLE trapper.orchestrator_job_log (
    log_id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    log_seq           BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    job_id            UUID,
    action            TEXT NOT NULL
        CHECK (action IN ('routed', 'skipped', 'merged', 'rejected', 'anomaly_flagged',
                          'error', 'staged', 'job_queued', 'job_started', 'job_completed',
                          'job_failed', 'identity_decision', 'entity_created',
                          'entity_merged', 'replayed', 'anomaly_resolved')),
    source_system     TEXT NOT NULL,
    source_table      TEXT NOT NULL,
    source_record_id  TEXT,
    staged_record_id  BIGINT,
    target_surface    TEXT,
    target_entity_id  UUID,
    routing_rule_id   UUID,
    rule_version      INT,
    decision_reason   TEXT,
    decision_details  JSONB,
    event_id          BIGINT,
    logged_at         TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- "what happened to this source record?"
CREATE INDEX idx_orchestrator_job_log_source
    ON trapper.orchestrator_job_log (source_system, source_table, source_record_id);
-- "where did this entity come from?"
CREATE INDEX idx_orchestrator_job_log_target
    ON trapper.orchestrator_job_log (target_entity_id) WHERE target_entity_id IS NOT NULL;
-- "what errors happened today?"
CREATE INDEX idx_orchestrator_job_log_errors
    ON trapper.orchestrator_job_log (logged_at DESC)
    WHERE action IN ('error', 'anomaly_flagged', 'rejected');
CREATE INDEX idx_orchestrator_job_log_staged
    ON trapper.orchestrator_job_log (staged_record_id) WHERE staged_record_id IS NOT NULL;
-- one log row per (event, action, target): re-processing an event adds nothing
CREATE UNIQUE INDEX idx_orchestrator_job_log_event
    ON trapper.orchestrator_job_log (event_id, action, coalesce(target_entity_id::text, ''))
    WHERE event_id IS NOT NULL;
