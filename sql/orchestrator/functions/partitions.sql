-- Monthly range partitions for the orchestrator's two ever-growing tables, the decision log
-- (orchestrator 018) and the event table (triggers_shadow 006): native declarative
-- partitioning, no extension (the embedded server has none). docs/operations.md,
-- "Partitions and retention", says how they are made ahead, found by readers and dropped.
--
-- Months are UTC months, whatever the session's TimeZone, so the same row always lands in
-- the same partition. The functions that step from month to month or read a partition's
-- bounds run under TimeZone UTC (their SET clause): a timestamptz plus '1 month' counts in
-- the session's zone, and under America/Los_Angeles 2026-12-01 00:00Z (Nov 30, 16:00 local)
-- plus a month was Dec 31 00:00Z, so the partitions left January to the DEFAULT one. A partition is named <table>_pYYYYMM, and every partitioned table has
-- a DEFAULT partition (<table>_pdefault) so an insert never fails for want of a month.

-- The first instant of the UTC month holding p_at.
CREATE OR REPLACE FUNCTION trapper.orchestrator_month_start(p_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;

-- A whole number of months from orchestrator_settings (key p_key), 0 to p_max. Empty or absent:
-- p_default. Any other value (a typo, a negative number, "1.5", a number past p_max) is
-- p_default too, with a WARNING naming the setting: these are read on the listener's
-- housekeeping tick, so a bad value must neither stop the listener (a cast error did) nor
-- be taken literally (log_retention_months = -1 dropped the current month's log).
CREATE OR REPLACE FUNCTION trapper.orchestrator_setting_months(
    p_key text, p_default int, p_max int)
RETURNS int
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_raw text := (SELECT btrim(value) FROM trapper.orchestrator_settings WHERE key = p_key);
BEGIN
    IF v_raw IS NULL OR v_raw = '' THEN
        RETURN p_default;
    END IF;
    IF v_raw ~ '^[0-9]{1,6}$' AND v_raw::int <= p_max THEN
        RETURN v_raw::int;
    END IF;
    RAISE WARNING 'orchestrator setting % must be empty or a whole number of months from 0 to %, not %; using %',
        p_key, p_max, left(v_raw, 40), coalesce(p_default::text, 'empty');
    RETURN p_default;
END $$;

-- How many months ahead of the current one are kept ready (setting partitions_ahead_months).
-- plpgsql, not sql: the settings table is the shadow layer's (triggers_shadow 001), which a
-- fresh install makes after this layer.
CREATE OR REPLACE FUNCTION trapper.orchestrator_partitions_ahead() RETURNS int
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF to_regclass('trapper.orchestrator_settings') IS NULL THEN
        RETURN 3;
    END IF;
    RETURN trapper.orchestrator_setting_months('partitions_ahead_months', 3, 120);
END $$;

-- The partitions of a partitioned table with their bounds (the DEFAULT one has NULL bounds).
CREATE OR REPLACE FUNCTION trapper.orchestrator_partitions(p_parent regclass)
RETURNS TABLE (partition regclass, range_from timestamptz, range_to timestamptz)
LANGUAGE sql STABLE SET TimeZone = 'UTC' AS $$
    SELECT i.inhrelid::regclass,
           (substring(pg_get_expr(c.relpartbound, c.oid) FROM E'FROM \\(''([^'']*)''\\)'))::timestamptz,
           (substring(pg_get_expr(c.relpartbound, c.oid) FROM E'TO \\(''([^'']*)''\\)'))::timestamptz
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = p_parent
    ORDER BY 2 NULLS LAST
$$;

-- Make sure every month from p_from's to p_ahead months after the current one has its
-- partition, and that the DEFAULT partition exists; returns how many partitions it made.
-- Rows that an earlier gap sent to the DEFAULT partition move into their month's partition
-- (PostgreSQL refuses to create a partition whose range the DEFAULT one already holds rows
-- of: docs "Table Partitioning", 5.11.2.2). It waits at most p_lock_timeout for the parent's
-- lock and then leaves the work to the next call (the listener's next housekeeping tick).
CREATE OR REPLACE FUNCTION trapper.orchestrator_ensure_partitions(
    p_parent regclass, p_from timestamptz DEFAULT NULL, p_ahead int DEFAULT NULL,
    p_lock_timeout text DEFAULT '2s')
RETURNS int
LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
    v_schema text;
    v_name text;
    v_key text;
    v_default regclass;
    v_month timestamptz;
    v_last timestamptz;
    v_part text;
    v_cols text;
    v_moved boolean;
    v_made int := 0;
    v_prev text := current_setting('lock_timeout');
    v_bad record;
    v_astray text[] := '{}';
    v_earliest timestamptz;
    v_astray_name text;
BEGIN
    SELECT n.nspname, c.relname INTO v_schema, v_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_parent;
    SELECT a.attname INTO v_key
    FROM pg_partitioned_table pt
    JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = p_parent;
    IF v_key IS NULL THEN
        RAISE EXCEPTION '% is not partitioned by a column', p_parent;
    END IF;
    PERFORM set_config('lock_timeout', p_lock_timeout, true);

    SELECT partition INTO v_default FROM trapper.orchestrator_partitions(p_parent)
    WHERE range_from IS NULL;
    IF v_default IS NULL THEN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT',
                       v_schema, v_name || '_pdefault', p_parent);
        v_default := format('%I.%I', v_schema, v_name || '_pdefault')::regclass;
        v_made := v_made + 1;
    END IF;

    SELECT string_agg(format('%I', a.attname), ', ' ORDER BY a.attnum) INTO v_cols
    FROM pg_attribute a
    WHERE a.attrelid = p_parent AND a.attnum > 0 AND NOT a.attisdropped
      AND a.attgenerated = '';
    -- partitions an earlier version stepped in the session's zone (not whole UTC months:
    -- [Dec 1, Dec 31) under Los Angeles' zone, then none for January) are set aside under
    -- another name, the months made whole below, and their rows put back through the parent
    FOR v_bad IN SELECT p.partition, p.range_from FROM trapper.orchestrator_partitions(p_parent) p
                 WHERE p.range_from IS NOT NULL
                   AND (p.range_from <> trapper.orchestrator_month_start(p.range_from)
                        OR p.range_to <> p.range_from + interval '1 month') LOOP
        v_astray_name := left((SELECT relname FROM pg_class WHERE oid = v_bad.partition), 50)
                         || '_astray';
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', p_parent, v_bad.partition);
        EXECUTE format('ALTER TABLE %s RENAME TO %I', v_bad.partition, v_astray_name);
        v_astray := v_astray || format('%I.%I', v_schema, v_astray_name);
        v_earliest := least(v_earliest, v_bad.range_from);
    END LOOP;

    v_month := trapper.orchestrator_month_start(
        least(coalesce(p_from, now()), now(), v_earliest));
    v_last := trapper.orchestrator_month_start(now())
              + make_interval(months => coalesce(p_ahead, trapper.orchestrator_partitions_ahead()));
    WHILE v_month <= v_last LOOP
        v_part := v_name || '_p' || to_char(v_month AT TIME ZONE 'UTC', 'YYYYMM');
        IF to_regclass(format('%I.%I', v_schema, v_part)) IS NULL THEN
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I >= $1 AND %I < $2)',
                           v_default, v_key, v_key)
                INTO v_moved USING v_month, v_month + interval '1 month';
            IF NOT v_moved THEN
                EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                               v_schema, v_part, p_parent, v_month,
                               v_month + interval '1 month');
            ELSE
                -- detach the DEFAULT partition, make the month, move its rows through the
                -- parent (identity values kept), attach the DEFAULT partition again
                EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', p_parent, v_default);
                EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                               v_schema, v_part, p_parent, v_month,
                               v_month + interval '1 month');
                EXECUTE format('WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 '
                               'RETURNING *) INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE '
                               'SELECT %s FROM moved',
                               v_default, v_key, v_key, p_parent, v_cols, v_cols)
                    USING v_month, v_month + interval '1 month';
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %s DEFAULT', p_parent, v_default);
            END IF;
            v_made := v_made + 1;
        END IF;
        v_month := v_month + interval '1 month';
    END LOOP;
    FOR i IN 1 .. cardinality(v_astray) LOOP
        EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s',
                       p_parent, v_cols, v_cols, v_astray[i]);
        EXECUTE format('DROP TABLE %s', v_astray[i]);
    END LOOP;
    PERFORM set_config('lock_timeout', v_prev, true);
    RETURN v_made;
EXCEPTION WHEN lock_not_available THEN
    PERFORM set_config('lock_timeout', v_prev, true);
    RETURN 0;  -- busy now: the next housekeeping tick tries again
END $$;

-- Detach and drop every monthly partition of p_parent whose whole range ends at or before
-- p_before (the DEFAULT partition is never dropped); returns the rows they held. Dropping a
-- partition is the cheap way to delete a month (docs "Table Partitioning", 5.11.2.2): no
-- dead rows, no vacuum, no index bloat.
CREATE OR REPLACE FUNCTION trapper.orchestrator_drop_partitions_before(
    p_parent regclass, p_before timestamptz, p_lock_timeout text DEFAULT '2s')
RETURNS bigint
LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
    p record;
    v_n bigint;
    v_total bigint := 0;
    v_prev text := current_setting('lock_timeout');
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    FOR p IN SELECT * FROM trapper.orchestrator_partitions(p_parent)
             WHERE range_to IS NOT NULL AND range_to <= p_before LOOP
        EXECUTE format('SELECT count(*) FROM %s', p.partition) INTO v_n;
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', p_parent, p.partition);
        EXECUTE format('DROP TABLE %s', p.partition);
        v_total := v_total + v_n;
    END LOOP;
    PERFORM set_config('lock_timeout', v_prev, true);
    RETURN v_total;
EXCEPTION WHEN lock_not_available THEN
    PERFORM set_config('lock_timeout', v_prev, true);
    RETURN 0;  -- busy now: the next housekeeping tick tries again
END $$;

-- The decision log's retention (setting log_retention_months; empty or absent: keep
-- everything): drops the months that ended more than that many months before the current
-- one. Returns the rows dropped.
CREATE OR REPLACE FUNCTION trapper.orchestrator_prune_log() RETURNS bigint
LANGUAGE plpgsql SET TimeZone = 'UTC' AS $$
DECLARE
    -- empty, absent or not a month count (a negative one included): keep everything
    v_months int := trapper.orchestrator_setting_months('log_retention_months', NULL, 1200);
BEGIN
    IF v_months IS NULL THEN
        RETURN 0;
    END IF;
    RETURN trapper.orchestrator_drop_partitions_before(
        'trapper.orchestrator_job_log',
        trapper.orchestrator_month_start(now()) - make_interval(months => v_months));
END $$;

-- Turn an existing table into one range-partitioned by month on p_key, keeping every row,
-- every column whatever migrations added them (LIKE ... INCLUDING), the identity sequences'
-- positions, the indexes (as partitioned indexes, on every partition), the constraints,
-- triggers (with their enabled state), grants and the views that read it. Unique keys gain
-- p_key, which PostgreSQL requires of a partitioned table's unique indexes (docs "Table
-- Partitioning", 5.11.2.3 Limitations). Runs in the caller's transaction (the installer's).
-- Its search_path is pg_catalog alone: the statements it writes name tables and views by
-- regclass and pg_get_*def text, which leave out a schema on the search_path, and a host's
-- search_path (public, trapper) then made the views it puts back in public.
CREATE OR REPLACE FUNCTION trapper.orchestrator_partition_by_month(p_table regclass, p_key text)
RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_schema text;
    v_name text;
    v_old text;
    v_new regclass;
    v_keynum int;
    v_views text[];
    v_view_defs text[];
    v_triggers text[];
    v_trigger_states text[];
    v_trigger_names text[];
    v_indexes text[];
    v_constraints text[];
    v_grants text[];
    v_seqs record;
    v_cols text;
    v_stmt text;
    v_min timestamptz;
    v_n bigint;
    r record;
    i int;
BEGIN
    SELECT n.nspname, c.relname INTO v_schema, v_name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table;
    IF (SELECT relkind FROM pg_class WHERE oid = p_table) = 'p' THEN
        RETURN 0;  -- already partitioned
    END IF;
    SELECT attnum INTO v_keynum FROM pg_attribute
    WHERE attrelid = p_table AND attname = p_key AND NOT attisdropped;
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = p_table AND contype = 'f') THEN
        RAISE EXCEPTION '% is referenced by a foreign key; it cannot be partitioned in place',
            p_table;
    END IF;
    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', p_table);

    -- 1. what depends on the table, read while its name still points at it
    WITH RECURSIVE readers (oid, depth) AS (
        SELECT DISTINCT rw.ev_class, 1
        FROM pg_depend d JOIN pg_rewrite rw ON rw.oid = d.objid
        WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = p_table
          AND rw.ev_class <> p_table
        UNION
        SELECT rw.ev_class, x.depth + 1
        FROM readers x
        JOIN pg_depend d ON d.refobjid = x.oid AND d.classid = 'pg_rewrite'::regclass
        JOIN pg_rewrite rw ON rw.oid = d.objid
        WHERE rw.ev_class <> x.oid
    ),
    deepest AS (SELECT oid, max(depth) AS depth FROM readers GROUP BY oid)
    SELECT array_agg(format('%s', x.oid::regclass) ORDER BY x.depth DESC, x.oid),
           array_agg(format('CREATE VIEW %s%s AS %s', x.oid::regclass,
                            coalesce(' WITH (' || array_to_string(c.reloptions, ', ') || ')', ''),
                            pg_get_viewdef(x.oid)) ORDER BY x.depth, x.oid)
    INTO v_views, v_view_defs
    FROM deepest x JOIN pg_class c ON c.oid = x.oid;

    SELECT array_agg(pg_get_triggerdef(t.oid) ORDER BY t.oid),
           array_agg(t.tgenabled::text ORDER BY t.oid),
           array_agg(t.tgname::text ORDER BY t.oid)
    INTO v_triggers, v_trigger_states, v_trigger_names
    FROM pg_trigger t WHERE t.tgrelid = p_table AND NOT t.tgisinternal;

    -- primary keys and unique constraints gain the partition key; other constraints that
    -- LIKE leaves out (foreign keys) are copied as they are
    SELECT array_agg(CASE WHEN co.contype IN ('p', 'u') THEN
               format('ALTER TABLE %s ADD CONSTRAINT %I %s (%s)', p_table, co.conname,
                      CASE co.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END,
                      (SELECT string_agg(format('%I', a.attname), ', ' ORDER BY k.ord)
                       FROM unnest(co.conkey || CASE WHEN v_keynum = ANY (co.conkey)
                                                     THEN '{}'::int2[]
                                                     ELSE ARRAY[v_keynum::int2] END)
                            WITH ORDINALITY AS k (attnum, ord)
                       JOIN pg_attribute a ON a.attrelid = p_table AND a.attnum = k.attnum))
           ELSE format('ALTER TABLE %s ADD CONSTRAINT %I %s', p_table, co.conname,
                       pg_get_constraintdef(co.oid)) END ORDER BY co.oid)
    INTO v_constraints
    FROM pg_constraint co
    WHERE co.conrelid = p_table AND co.contype IN ('p', 'u', 'f');

    -- indexes not behind a constraint: unique ones gain the partition key as a last column
    SELECT array_agg(CASE WHEN ix.indisunique AND NOT (v_keynum = ANY (ix.indkey::int2[])) THEN
               format('CREATE UNIQUE INDEX %I ON %s USING %s (%s, %I)%s', c.relname, p_table,
                      am.amname,
                      (SELECT string_agg(pg_get_indexdef(ix.indexrelid, k, true), ', ' ORDER BY k)
                       FROM generate_series(1, ix.indnkeyatts) AS k),
                      p_key,
                      coalesce(' WHERE ' || pg_get_expr(ix.indpred, ix.indrelid, true), ''))
           ELSE pg_get_indexdef(ix.indexrelid) END ORDER BY ix.indexrelid)
    INTO v_indexes
    FROM pg_index ix
    JOIN pg_class c ON c.oid = ix.indexrelid
    JOIN pg_am am ON am.oid = c.relam
    WHERE ix.indrelid = p_table
      AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = ix.indexrelid
                                                      AND co.conrelid = p_table);

    SELECT array_agg(format('GRANT %s ON %s TO %s', a.privilege_type, p_table,
                            CASE a.grantee WHEN 0 THEN 'PUBLIC'
                                 ELSE quote_ident(a.grantee::regrole::text) END))
    INTO v_grants
    FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = p_table AND a.grantee <> c.relowner;

    -- 2. the old table steps aside: views go, its name, indexes and sequences change
    IF v_views IS NOT NULL THEN
        EXECUTE 'DROP VIEW ' || array_to_string(v_views, ', ');
    END IF;
    v_old := left(v_name, 40) || '_unpartitioned';
    EXECUTE format('ALTER TABLE %s RENAME TO %I', p_table, v_old);
    FOR r IN SELECT ix.indexrelid::regclass AS idx, c.relname
             FROM pg_index ix JOIN pg_class c ON c.oid = ix.indexrelid
             WHERE ix.indrelid = p_table LOOP
        EXECUTE format('ALTER INDEX %s RENAME TO %I', r.idx,
                       left(r.relname, 40) || '_o' || r.idx::oid);
    END LOOP;
    -- (CHECK and foreign-key names are per table: LIKE and step 3 reuse them as they are)
    FOR r IN SELECT d.objid::regclass AS seq, c.relname
             FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
             WHERE d.refobjid = p_table AND d.classid = 'pg_class'::regclass
               AND c.relkind = 'S' LOOP
        EXECUTE format('ALTER SEQUENCE %s RENAME TO %I', r.seq,
                       left(r.relname, 40) || '_o' || r.seq::oid);
    END LOOP;

    -- 3. the partitioned table under the old name, with every column the old one has
    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING IDENTITY '
                   'INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING COMMENTS '
                   'INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING STATISTICS) '
                   'PARTITION BY RANGE (%I)', v_schema, v_name, p_table, p_key);
    v_new := format('%I.%I', v_schema, v_name)::regclass;
    EXECUTE format('SELECT min(%I) FROM %s', p_key, p_table) INTO v_min;
    PERFORM trapper.orchestrator_ensure_partitions(v_new, v_min, NULL, '0');

    FOREACH v_stmt IN ARRAY coalesce(v_constraints, '{}') || coalesce(v_indexes, '{}') LOOP
        EXECUTE v_stmt;  -- names resolve to the new table now
    END LOOP;

    -- 4. the rows, with their identity values, and the sequences where the old ones were
    SELECT string_agg(format('%I', attname), ', ' ORDER BY attnum) INTO v_cols
    FROM pg_attribute
    WHERE attrelid = p_table AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s',
                   v_new, v_cols, v_cols, p_table);
    GET DIAGNOSTICS v_n = ROW_COUNT;
    FOR r IN SELECT a.attname, pg_get_serial_sequence(p_table::text, a.attname) AS old_seq,
                    pg_get_serial_sequence(v_new::text, a.attname) AS new_seq
             FROM pg_attribute a
             WHERE a.attrelid = p_table AND a.attidentity <> '' AND NOT a.attisdropped LOOP
        EXECUTE format('SELECT setval(%L, last_value, is_called) FROM %s', r.new_seq, r.old_seq);
    END LOOP;

    -- 5. the old table goes; triggers, grants and views come back on the new one
    EXECUTE format('DROP TABLE %s', p_table);
    FOR i IN 1 .. coalesce(array_length(v_triggers, 1), 0) LOOP
        EXECUTE v_triggers[i];
        IF v_trigger_states[i] <> 'O' THEN
            EXECUTE format('ALTER TABLE %s %s TRIGGER %I', v_new,
                           CASE v_trigger_states[i] WHEN 'D' THEN 'DISABLE'
                                WHEN 'R' THEN 'ENABLE REPLICA' ELSE 'ENABLE ALWAYS' END,
                           v_trigger_names[i]);
        END IF;
    END LOOP;
    FOREACH v_stmt IN ARRAY coalesce(v_grants, '{}') || coalesce(v_view_defs, '{}') LOOP
        EXECUTE v_stmt;
    END LOOP;
    RETURN v_n;
END $$;
