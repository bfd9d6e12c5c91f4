-- Staging: immutable raw rows, one ingest run per batch, and the rejects kept raw.
-- Names follow the real system (docs/research/atlas-data.md §1); the fixes it needed are noted inline.
--
-- Its functions, views and triggers live in triggers/staged_records_immutable.sql and
-- views/staged_record_versions.sql (re-applied when they change; docs/operations.md, "Installing and
-- uninstalling").

CREATE SCHEMA IF NOT EXISTS trapper;

CREATE TABLE trapper.ingest_runs (
    ingest_run_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system   text NOT NULL,
    source_table    text NOT NULL,
    source_file     text,
    file_size_bytes bigint,
    file_sha256     text,
    rows_read       integer NOT NULL DEFAULT 0,
    rows_new        integer NOT NULL DEFAULT 0,
    rows_duplicate  integer NOT NULL DEFAULT 0,
    rows_rejected   integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'completed', 'failed')),
    error           text,
    run_by          text NOT NULL DEFAULT current_user,  -- who or what ran it
    tool            text,                                -- 'atlas-orch ingest', 'api', ...
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX ingest_runs_source_idx ON trapper.ingest_runs (source_system, source_table, started_at);

-- Identifier columns use the "C" collation: byte comparison makes every index on them
-- cheaper to maintain, and nobody sorts source ids linguistically.
CREATE TABLE trapper.staged_records (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system         text COLLATE "C" NOT NULL,
    source_table          text COLLATE "C" NOT NULL,
    -- The record's identity in its source; several content versions may share it.
    source_row_id         text COLLATE "C",
    source_file           text,
    -- No foreign key: a per-row RI check cost a third of COPY throughput; ingest writes
    -- the run and its rows in one transaction.
    ingest_run_id         bigint,
    -- One recipe for every writer (listener/rowhash.py): sorted keys, trimmed values,
    -- empty values dropped, SHA-256 kept to 32 hex characters (128 bits, as the real CLI
    -- did). The real system had two recipes that disagreed.
    row_hash              text COLLATE "C" NOT NULL,
    payload               jsonb NOT NULL,
    is_processed          boolean NOT NULL DEFAULT false,
    processed_at          timestamptz,
    processing_error      text,
    processor_name        text,
    resulting_entity_type text,
    resulting_entity_id   uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    -- Payloads are JSON objects: the readers refuse anything else (a CHECK here cost 12%
    -- of COPY throughput for a guarantee ingest already gives).
    CONSTRAINT staged_records_content_key UNIQUE (source_system, source_table, row_hash)
);
-- "every version of this source record, in order"
CREATE INDEX staged_records_versions_idx
    ON trapper.staged_records (source_system, source_table, source_row_id, id);
-- the processors' work list
CREATE INDEX staged_records_unprocessed_idx
    ON trapper.staged_records (source_system, source_table, id)
    WHERE NOT is_processed AND processing_error IS NULL;

-- Rows that could not be staged, kept byte for byte with the reason.
CREATE TABLE trapper.ingest_rejects (
    reject_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ingest_run_id  bigint NOT NULL REFERENCES trapper.ingest_runs,
    source_system  text NOT NULL,
    source_table   text NOT NULL,
    source_file    text,
    row_number     integer,        -- 1-based data row (or line) in the file
    source_row_id  text,
    reason_code    text NOT NULL
                   CHECK (reason_code IN ('undecodable', 'nul_character', 'oversized',
                                          'missing_id', 'malformed', 'not_an_object')),
    reason         text NOT NULL,
    raw            bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingest_rejects_run_idx ON trapper.ingest_rejects (ingest_run_id);
CREATE INDEX ingest_rejects_source_idx
    ON trapper.ingest_rejects (source_system, source_table, created_at);
