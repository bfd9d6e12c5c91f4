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

-- The sequence's value, then the transactions writing the table (holding its RowExclusiveLock)
-- and their backends' pids, in that order: a writer takes its table lock before it draws a
-- value, so one not listed draws above `seq`. With p_mark, a sequence not past it needs no look
-- at pg_locks (the costly part): nothing has been drawn that a writer could still commit.
-- The live feed keeps the pids (listener/web/feed.py, Watermark): a backend whose transaction
-- it has heard commit by NOTIFY writes above what that transaction wrote from then on.
CREATE OR REPLACE FUNCTION trapper.orchestrator_writers(p_table regclass, p_seq regclass,
                                                        p_mark bigint DEFAULT NULL,
                                                        OUT seq bigint, OUT vxids text[],
                                                        OUT pids int[])
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    seq := coalesce(pg_sequence_last_value(p_seq), 0);
    vxids := '{}';
    pids := '{}';
    IF seq <= p_mark THEN
        RETURN;
    END IF;
    SELECT coalesce(array_agg(w.vxid ORDER BY w.vxid), '{}'),
           coalesce(array_agg(w.pid ORDER BY w.vxid), '{}')
    INTO vxids, pids
    FROM (SELECT DISTINCT l.virtualtransaction AS vxid, l.pid FROM pg_locks l
          WHERE l.locktype = 'relation' AND l.relation = p_table
            AND l.mode = 'RowExclusiveLock'
            AND l.pid IS DISTINCT FROM pg_backend_pid()) w;
END $$;

-- A sequence value below which every row of a table is final: the sequence's value, once every
-- transaction that held the table open for writing when it was read has ended (no later
-- commit can fall below it: orchestrator_writers). Used for the job log's tally (log_seq)
-- and, in poll capture, for staged_records (id).
CREATE OR REPLACE FUNCTION trapper.orchestrator_write_probe(p_table regclass, p_seq regclass,
                                                  OUT seq bigint, OUT vxids text[])
LANGUAGE sql VOLATILE AS $$
    SELECT w.seq, w.vxids FROM trapper.orchestrator_writers(p_table, p_seq) w
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_vxids_alive(p_vxids text[]) RETURNS boolean
LANGUAGE sql VOLATILE AS $$
    SELECT EXISTS (SELECT 1 FROM pg_locks
                   WHERE locktype = 'virtualxid' AND virtualxid = ANY (p_vxids))
$$;

-- One step of a watermark over a table's identity column: settle the pending probe if its
-- writers are gone (the watermark moves to it), then take a new probe; a probe nobody is
-- writing under settles at once. The job-log tally and poll capture of staged rows move their
-- watermarks with this one function (the live feed, whose rows wait on its watermark, keeps a
-- finer one from orchestrator_writers: listener/web/feed.py).
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
