-- Watermarks over a table's identity column: a value below which no writer can still commit
-- a row. The job-log tally, poll capture and the live feed move theirs with these.

-- What has been drawn from the sequence of a table's identity column (0 before its first
-- value), committed or not: a watermark's upper bound, and how the listener and the feed see
-- that a table was written at all without reading it.
CREATE OR REPLACE FUNCTION trapper.orchestrator_drawn(p_table regclass, p_column text)
RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(pg_sequence_last_value(
               pg_get_serial_sequence(p_table::text, p_column)::regclass), 0)
$$;

-- A sequence value below which every row of a table is final: the sequence's value, once every
-- transaction that held the table open for writing when it was read has ended. A writer takes
-- its table lock before it draws a value, so no later commit can fall below it. Used for the
-- job log (log_seq) and, in poll capture, for staged_records (id).
CREATE OR REPLACE FUNCTION trapper.orchestrator_write_probe(p_table regclass, p_seq regclass,
                                                  OUT seq bigint, OUT vxids text[])
LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(pg_sequence_last_value(p_seq), 0),
           ARRAY(SELECT DISTINCT l.virtualtransaction FROM pg_locks l
                 WHERE l.locktype = 'relation' AND l.relation = p_table
                   AND l.mode = 'RowExclusiveLock'
                   AND l.pid IS DISTINCT FROM pg_backend_pid())
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_vxids_alive(p_vxids text[]) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'virtualxid' AND virtualxid = ANY (p_vxids))
$$;

-- One step of a watermark over a table's identity column: settle the pending probe if its
-- writers are gone (the watermark moves to it), then take a new probe; a probe nobody is
-- writing under settles at once. The job-log tally, poll capture of staged rows and the live
-- feed all move their watermarks with this one function.
CREATE OR REPLACE FUNCTION trapper.orchestrator_watermark_step(
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
    -- nothing drawn past the mark: no writer to look for (pg_locks is the costly part)
    IF probe_seq IS NULL AND trapper.orchestrator_drawn(p_table, p_column) <= mark THEN
        RETURN;
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
