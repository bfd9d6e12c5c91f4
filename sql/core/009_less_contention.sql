-- Two workers used to spend half their time waiting on each other (pg_stat_activity sampled
-- through the atlas load: 807 advisory-lock and 159 transaction waits against 824 samples
-- on CPU). Three causes, three changes:
--   1. every identity lookup took its identifiers' advisory locks, held to the end of a
--      500-record batch; now a lookup decides without locks and only a decision that writes
--      a new person or cat takes them, then decides again;
--   2. matches rewrote rows that did not change (the cat "fill" UPDATE, ON CONFLICT DO
--      UPDATE of identifiers already held), each a row lock another batch could be holding;
--   3. 500 records per transaction made every wait as long as a whole batch: 100 halved the
--      processing phase on its own (208 s to 105 s), at no cost to throughput.
-- And two that left a worker idle or busy for nothing: a table with a large backlog now gets
-- a second job so both workers can share it, and a batch no longer counts every remaining
-- record to learn whether any is left.

-- only where nobody chose another value
UPDATE trapper.processing_settings SET value = 100
WHERE key = 'record_batch' AND value = 500;

INSERT INTO trapper.processing_settings (key, value, description) VALUES
    ('share_table_records', 10000,
     'a source table with at least this many records waiting gets a second job, so two '
     'workers share it; 0 turns this off')
ON CONFLICT (key) DO NOTHING;

CREATE OR REPLACE FUNCTION trapper.enqueue_processing(
    p_source_system text,
    p_source_table  text,
    p_trigger_type  text DEFAULT 'manual',
    p_trigger_id    text DEFAULT NULL,
    p_priority      integer DEFAULT 0
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_job uuid;
    v_pending integer;
    v_share numeric := coalesce(trapper.processing_setting('share_table_records'), 0);
BEGIN
    PERFORM pg_advisory_xact_lock(
        hashtextextended('enqueue:' || p_source_system || '/' || p_source_table, 0));
    SELECT count(*) INTO v_pending
    FROM trapper.staged_records
    WHERE source_system = p_source_system AND source_table = p_source_table
      AND NOT is_processed AND processing_error IS NULL;
    SELECT job_id INTO v_job
    FROM trapper.processing_jobs
    WHERE source_system = p_source_system AND source_table = p_source_table
      AND status = 'queued'
    LIMIT 1;
    IF v_job IS NOT NULL THEN
        UPDATE trapper.processing_jobs
        SET total_records = v_pending, priority = greatest(priority, p_priority)
        WHERE source_system = p_source_system AND source_table = p_source_table
          AND status = 'queued';
    ELSE
        INSERT INTO trapper.processing_jobs
            (trigger_type, trigger_id, source_system, source_table, priority, total_records)
        VALUES (p_trigger_type, p_trigger_id, p_source_system, p_source_table, p_priority,
                v_pending)
        RETURNING job_id INTO v_job;
    END IF;
    -- A large backlog gets a second queued job, so that two workers share the table instead
    -- of one working it while the other idles (each claims records SKIP LOCKED, so no record
    -- is worked twice). Without it the atlas load's last table ran alone for ~50 s.
    IF v_share > 0 AND v_pending >= v_share AND (
            SELECT count(*) FROM trapper.processing_jobs
            WHERE source_system = p_source_system AND source_table = p_source_table
              AND status = 'queued') < 2 THEN
        INSERT INTO trapper.processing_jobs
            (trigger_type, trigger_id, source_system, source_table, priority, total_records)
        VALUES ('share', v_job::text, p_source_system, p_source_table, p_priority, v_pending);
    END IF;
    RETURN v_job;
END $$;

CREATE OR REPLACE FUNCTION trapper.work_jobs(p_job_ids uuid[], p_worker text, p_record_budget integer)
RETURNS TABLE (job_id uuid, status text, processed integer, failed integer,
               remaining integer, error text)
LANGUAGE plpgsql AS $$
DECLARE
    v_job trapper.processing_jobs;
    v_fn text;
    v_route text;
    v_budget integer := p_record_budget;
    v_batch record;
    v_left integer;
    v_idle uuid[] := '{}';
    v_route_idle boolean := false;
BEGIN
    -- Rows are read unlocked; a job is locked only when it has records to work, and idle
    -- jobs are completed by one UPDATE that re-checks ownership. Locking every job first
    -- doubled the writes per no-op job.
    FOR v_job IN
        SELECT * FROM trapper.processing_jobs j
        WHERE j.job_id = ANY (p_job_ids) AND j.worker_id = p_worker AND j.status = 'processing'
        ORDER BY array_position(p_job_ids, j.job_id)
    LOOP
        job_id := v_job.job_id;
        processed := 0; failed := 0; remaining := NULL; error := NULL;
        IF v_budget <= 0 THEN
            status := 'processing';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF v_route IS DISTINCT FROM v_job.source_system || '/' || v_job.source_table THEN
            v_route := v_job.source_system || '/' || v_job.source_table;
            SELECT p.processor_function INTO v_fn FROM trapper.data_engine_processors p
            WHERE p.source_system = v_job.source_system
              AND p.source_table = v_job.source_table AND p.is_active;
            v_route_idle := false;
        END IF;
        IF v_fn IS NULL THEN
            -- Retrying cannot help a job no processor claims: dead-letter it at once, loudly.
            error := format('no active processor is registered for %s', v_route);
            UPDATE trapper.processing_jobs
            SET attempt_count = max_attempts WHERE processing_jobs.job_id = v_job.job_id;
            status := trapper.fail_job(v_job.job_id, error);
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- A table found without work stays so for the rest of this call (one probe, not one
        -- per job: a burst of jobs for one table is common).
        IF v_route_idle OR NOT EXISTS (
                SELECT 1 FROM trapper.staged_records s
                WHERE s.source_system = v_job.source_system
                  AND s.source_table = v_job.source_table
                  AND NOT s.is_processed AND s.processing_error IS NULL) THEN
            v_route_idle := true;
            v_idle := v_idle || v_job.job_id;
            CONTINUE;
        END IF;
        PERFORM 1 FROM trapper.processing_jobs j
        WHERE j.job_id = v_job.job_id AND j.worker_id = p_worker AND j.status = 'processing'
        FOR UPDATE;
        IF NOT FOUND THEN
            CONTINUE;   -- reclaimed by another worker since we read it: not ours any more
        END IF;
        BEGIN
            BEGIN
                SELECT * INTO v_batch FROM trapper.run_processor_batch(
                    v_fn, v_job.source_system, v_job.source_table, v_budget, false);
            EXCEPTION WHEN OTHERS THEN
                IF trapper.is_transient_error(SQLSTATE) THEN
                    RAISE;
                END IF;
                -- One record is bad: redo the batch record by record so the rest go through.
                SELECT * INTO v_batch FROM trapper.run_processor_batch(
                    v_fn, v_job.source_system, v_job.source_table, v_budget, true);
            END;
        EXCEPTION WHEN OTHERS THEN
            error := SQLERRM;
            IF SQLSTATE IN ('40P01', '40001') THEN
                -- A deadlock or serialization failure with another worker: nothing was
                -- done, so try again at once rather than wait out a retry backoff.
                status := 'processing';
                processed := 0;
                RETURN NEXT;
                CONTINUE;
            END IF;
            status := trapper.fail_job(v_job.job_id, error);
            RETURN NEXT;
            CONTINUE;
        END;
        processed := v_batch.processed;
        failed := v_batch.failed;
        IF processed + failed < v_budget THEN
            v_left := 0;   -- the batch took every record it could see
        ELSIF EXISTS (
                SELECT 1 FROM trapper.staged_records s
                WHERE s.source_system = v_job.source_system
                  AND s.source_table = v_job.source_table
                  AND NOT s.is_processed AND s.processing_error IS NULL) THEN
            -- Whether any is left decides; how many is only shown, so it is estimated from
            -- the job's counters: counting the rest cost ~10 ms a batch (heap visits for
            -- every remaining row), 12 s of the atlas load.
            v_left := greatest(v_job.total_records - v_job.records_processed
                               - v_job.records_failed - processed - failed, 1);
        ELSE
            v_left := 0;
        END IF;
        v_budget := v_budget - processed - failed;
        remaining := v_left;
        UPDATE trapper.processing_jobs j
        SET records_processed = j.records_processed + v_batch.processed,
            records_failed = j.records_failed + v_batch.failed,
            entities_created = CASE WHEN v_batch.created = '{}' THEN j.entities_created ELSE (
                SELECT jsonb_object_agg(k, coalesce((j.entities_created ->> k)::int, 0)
                                           + coalesce((v_batch.created ->> k)::int, 0))
                FROM jsonb_object_keys(j.entities_created || v_batch.created) AS k) END,
            heartbeat_at = now(),
            status = CASE WHEN v_left = 0 THEN 'completed' ELSE j.status END,
            completed_at = CASE WHEN v_left = 0 THEN now() END,
            worker_id = CASE WHEN v_left = 0 THEN NULL ELSE j.worker_id END,
            result = CASE WHEN v_left = 0 THEN jsonb_build_object(
                'records_processed', j.records_processed + v_batch.processed,
                'records_failed', j.records_failed + v_batch.failed) END
        WHERE j.job_id = v_job.job_id
        RETURNING j.status INTO status;
        RETURN NEXT;
    END LOOP;
    IF cardinality(v_idle) > 0 THEN
        RETURN QUERY
        UPDATE trapper.processing_jobs j
        SET status = 'completed', completed_at = now(), worker_id = NULL, heartbeat_at = now(),
            result = jsonb_build_object('records_processed', j.records_processed,
                                        'records_failed', j.records_failed)
        WHERE j.job_id = ANY (v_idle) AND j.worker_id = p_worker AND j.status = 'processing'
        RETURNING j.job_id, j.status, 0, 0, 0, NULL::text;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION trapper.data_engine_resolve_identity(
    p_email text, p_phone text, p_first text, p_last text, p_address text,
    p_source_system text, p_staged_record_id bigint DEFAULT NULL,
    p_cell text DEFAULT NULL, p_allow_name_only boolean DEFAULT false,
    OUT person_id uuid, OUT decision_type text, OUT confidence_score numeric,
    OUT household_id uuid, OUT decision_id bigint, OUT decision_reason text
)
LANGUAGE plpgsql
-- Its statements take parameters whose custom plans were no better than the generic ones,
-- yet PL/pgSQL kept planning them afresh on every call: half of the ~1 ms a call cost at
-- atlas scale (2,000 calls: 2.1 s, 1.0 s with generic plans). No statement here (or in the
-- helpers it calls) depends on a constant for its plan, such as a LIKE prefix.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_email text := trapper.usable_email(p_email);
    v_phones text[] := array_remove(ARRAY[trapper.usable_phone(p_phone),
                                          trapper.usable_phone(p_cell)], NULL);
    v_addr text := trapper.address_key(p_address);
    v_conf numeric;
    v_auto double precision;
    v_review double precision;
    v_shared_n integer;
    v_gate record;
    v_best record;
    fsw record;
    v_src record;
    v_first text := nullif(btrim(p_first), '');
    v_last text := nullif(btrim(p_last), '');
    v_name text;
    v_locked boolean := false;
BEGIN
    v_phones := ARRAY(SELECT DISTINCT x FROM unnest(v_phones) x ORDER BY x);
    -- every weight, threshold and the source's confidence in one statement
    SELECT max(w_agree) FILTER (WHERE field = 'email') AS email_agree,
           max(w_disagree) FILTER (WHERE field = 'email') AS email_disagree,
           max(w_agree) FILTER (WHERE field = 'phone') AS phone,
           max(w_agree) FILTER (WHERE field = 'phone_shared') AS phone_shared,
           max(w_agree) FILTER (WHERE field = 'name_exact') AS name_exact,
           max(w_agree) FILTER (WHERE field = 'name_close') AS name_close,
           max(w_agree) FILTER (WHERE field = 'name_different') AS name_different,
           max(w_agree) FILTER (WHERE field = 'address') AS address,
           max(w_agree) FILTER (WHERE field = 'address_different') AS address_different,
           (SELECT value FROM trapper.identity_config WHERE key = 'auto_match_threshold') AS auto,
           (SELECT value FROM trapper.identity_config WHERE key = 'review_threshold') AS review,
           (SELECT value FROM trapper.identity_config WHERE key = 'shared_identifier_people')
               AS shared_n,
           coalesce((SELECT confidence FROM trapper.source_identity_confidence
                     WHERE source_system = p_source_system), 0.8) AS conf
    INTO fsw FROM trapper.fellegi_sunter_parameters;
    v_conf := fsw.conf::numeric;
    v_auto := fsw.auto;
    v_review := fsw.review;
    v_shared_n := fsw.shared_n;
    v_name := btrim(coalesce(v_first, '') || ' ' || coalesce(v_last, ''));
    SELECT s.source_system, s.source_table, s.source_row_id INTO v_src
    FROM trapper.staged_records s WHERE s.id = p_staged_record_id;
    v_gate := trapper.should_be_person(v_first, v_last);
    -- Decide without locks: most records match someone already there, and matching needs
    -- no turn-taking. Only a decision that writes a new person takes the identifiers' locks
    -- (keys in a fixed order) and decides again, since a worker that held them may have
    -- just created this very person. Locking every lookup made two workers wait on each
    -- other's whole batch (half of all samples in pg_stat_activity were advisory-lock waits).
    LOOP
        person_id := NULL; decision_type := NULL; confidence_score := NULL;
        household_id := NULL; decision_reason := NULL;
        -- so that the audit row below can read it on every path
        SELECT NULL::uuid AS pid, NULL::double precision AS score,
               NULL::double precision AS w_email, NULL::double precision AS w_phone,
               NULL::double precision AS w_name, NULL::text AS name_level,
               NULL::double precision AS w_address, NULL::bigint AS holders INTO v_best;
        IF v_gate.kind <> 'person' THEN
            decision_type := 'rejected';
            decision_reason := 'not a person: ' || v_gate.reason;
        ELSIF v_email IS NULL AND cardinality(v_phones) = 0 AND NOT p_allow_name_only THEN
            decision_type := 'rejected';
            decision_reason := 'no usable email or phone (never matched or created on a name alone)';
        ELSIF v_email IS NULL AND cardinality(v_phones) = 0 THEN
            decision_type := 'new_entity';
            decision_reason := 'name only, from a source allowed to create people without identifiers';
        ELSE
            -- Score every person who holds one of the incoming identifiers.
            WITH cand AS (
                SELECT DISTINCT trapper.get_canonical_person_id(pi.person_id) AS pid
                FROM trapper.person_identifiers pi
                WHERE (pi.id_type = 'email' AND pi.id_value_norm = v_email)
                   OR (pi.id_type = 'phone' AND pi.id_value_norm = ANY (v_phones))
            ),
            scored AS (
                SELECT c.pid, sp.first_name, sp.last_name, sp.household_id AS hh,
                       em.conf AS email_conf, ph.conf AS phone_conf, ph.holders,
                       trapper.name_compare(v_first, v_last, sp.first_name, sp.last_name) AS name_level,
                       addr.same_address
                FROM cand c
                JOIN trapper.sot_people sp ON sp.person_id = c.pid
                LEFT JOIN LATERAL (
                    SELECT max(pi.confidence) AS conf FROM trapper.person_identifiers pi
                    WHERE pi.person_id = c.pid AND pi.id_type = 'email' AND pi.id_value_norm = v_email
                ) em ON true
                LEFT JOIN LATERAL (
                    SELECT max(pi.confidence) AS conf,
                           max((SELECT count(DISTINCT o.person_id) FROM trapper.person_identifiers o
                                WHERE o.id_type = 'phone' AND o.id_value_norm = pi.id_value_norm))
                               AS holders
                    FROM trapper.person_identifiers pi
                    WHERE pi.person_id = c.pid AND pi.id_type = 'phone'
                      AND pi.id_value_norm = ANY (v_phones)
                ) ph ON true
                LEFT JOIN LATERAL (
                    SELECT bool_or(pl.address_key = v_addr) AS same_address
                    FROM trapper.person_place pp JOIN trapper.places pl ON pl.place_id = pp.place_id
                    WHERE pp.person_id = c.pid AND v_addr IS NOT NULL
                ) addr ON true
            ),
            weights AS (
                SELECT s.*,
                    CASE WHEN s.email_conf IS NOT NULL
                         THEN fsw.email_agree * least(s.email_conf, v_conf)
                         WHEN v_email IS NOT NULL AND EXISTS (
                             SELECT 1 FROM trapper.person_identifiers o
                             WHERE o.person_id = s.pid AND o.id_type = 'email')
                         THEN fsw.email_disagree ELSE 0 END AS w_email,
                    CASE WHEN s.phone_conf IS NOT NULL THEN
                             CASE WHEN s.holders >= v_shared_n THEN fsw.phone_shared ELSE fsw.phone END
                             * least(s.phone_conf, v_conf)
                         ELSE 0 END AS w_phone,
                    CASE s.name_level WHEN 'exact' THEN fsw.name_exact
                                      WHEN 'close' THEN fsw.name_close
                                      WHEN 'different' THEN fsw.name_different
                                      ELSE 0 END AS w_name,
                    CASE WHEN s.same_address THEN fsw.address
                         WHEN s.same_address = false THEN fsw.address_different
                         ELSE 0 END AS w_address
                FROM scored s
            )
            SELECT w.*, w.w_email + w.w_phone + w.w_name + w.w_address AS score
            INTO v_best
            FROM weights w
            ORDER BY w.w_email + w.w_phone + w.w_name + w.w_address DESC, w.pid
            LIMIT 1;

            IF v_best.pid IS NULL THEN
                decision_type := 'new_entity';
                decision_reason := 'no person holds this email or phone';
            ELSE
                confidence_score := round(v_best.score::numeric, 2);
                IF v_best.score >= v_auto AND v_best.name_level IN ('exact', 'close', 'unknown') THEN
                    decision_type := 'auto_match';
                    person_id := v_best.pid;
                    decision_reason := format('matched existing person via %s (log-odds %s, name %s)',
                        concat_ws(' and ', CASE WHEN v_best.email_conf IS NOT NULL THEN 'email' END,
                                           CASE WHEN v_best.phone_conf IS NOT NULL THEN
                                               CASE WHEN v_best.holders >= v_shared_n
                                                    THEN 'shared phone' ELSE 'phone' END END),
                        confidence_score, v_best.name_level);
                ELSIF v_best.name_level = 'different' AND (v_best.holders >= 1 OR v_best.email_conf IS NOT NULL) THEN
                    -- Same identifier, another name: a household member (shared landline,
                    -- shared family email), never the same person.
                    decision_type := 'household_member';
                    household_id := v_best.hh;
                    decision_reason := format('shares %s with %s %s but the names differ: a new person in the same household',
                        CASE WHEN v_best.email_conf IS NOT NULL THEN 'an email' ELSE 'a phone' END,
                        coalesce(v_best.first_name, ''), coalesce(v_best.last_name, ''));
                ELSIF v_best.score >= v_review THEN
                    decision_type := 'review_pending';
                    decision_reason := format('possible match (log-odds %s, below the %s auto-match threshold): new person, queued for review',
                                              confidence_score, v_auto);
                ELSE
                    decision_type := 'new_entity';
                    decision_reason := format('best candidate scored %s, below review', confidence_score);
                END IF;
            END IF;
        END IF;
        EXIT WHEN v_locked
              OR decision_type NOT IN ('new_entity', 'review_pending', 'household_member')
              OR (v_email IS NULL AND cardinality(v_phones) = 0);
        IF v_email IS NOT NULL THEN
            PERFORM pg_advisory_xact_lock(hashtextextended('email:' || v_email, 42));
        END IF;
        IF cardinality(v_phones) > 0 THEN
            PERFORM pg_advisory_xact_lock(hashtextextended('phone:' || x, 42))
            FROM unnest(v_phones) x;
        END IF;
        v_locked := true;
    END LOOP;

    IF decision_type IN ('new_entity', 'review_pending', 'household_member') THEN
        IF decision_type = 'household_member' AND household_id IS NULL THEN
            INSERT INTO trapper.households (reason) VALUES ('shared identifier')
            RETURNING households.household_id INTO household_id;
            UPDATE trapper.sot_people SET household_id = data_engine_resolve_identity.household_id
            WHERE sot_people.person_id = v_best.pid;
        END IF;
        INSERT INTO trapper.sot_people
            (display_name, first_name, last_name, primary_email, primary_phone, data_source,
             household_id, data_quality)
        VALUES (nullif(v_name, ''), v_first, v_last, v_email, v_phones[1], p_source_system,
                household_id,
                CASE WHEN v_email IS NULL AND cardinality(v_phones) = 0 THEN 'name_only'
                     ELSE 'normal' END)
        RETURNING sot_people.person_id INTO person_id;
    END IF;

    IF person_id IS NOT NULL THEN
        -- all of the record's identifiers in one statement
        INSERT INTO trapper.person_identifiers
            (person_id, id_type, id_value_norm, id_value_raw, source_system, source_table,
             source_row_id, staged_record_id, confidence)
        SELECT data_engine_resolve_identity.person_id, x.t, x.v, x.raw, v_src.source_system,
               v_src.source_table, v_src.source_row_id, p_staged_record_id, v_conf
        FROM (SELECT 'email' AS t, v_email AS v, p_email AS raw
              UNION ALL SELECT 'phone', ph, ph FROM unnest(v_phones) ph) x
        WHERE x.v IS NOT NULL
          -- an identifier the person already holds as firmly is left alone: ON CONFLICT DO
          -- UPDATE would rewrite it and wait on any worker holding the row
          AND NOT EXISTS (SELECT 1 FROM trapper.person_identifiers h
                          WHERE h.person_id = data_engine_resolve_identity.person_id
                            AND h.id_type = x.t AND h.id_value_norm = x.v
                            AND h.confidence >= v_conf)
        ON CONFLICT ON CONSTRAINT person_identifiers_person_id_id_type_id_value_norm_key
        DO UPDATE
            SET confidence = greatest(trapper.person_identifiers.confidence,
                                      EXCLUDED.confidence);
        IF v_src.source_system IS NOT NULL THEN
            INSERT INTO trapper.entity_sources
                (entity_type, entity_id, source_system, source_table, source_row_id,
                 staged_record_id, action, detail)
            VALUES ('person', person_id, v_src.source_system, v_src.source_table,
                    v_src.source_row_id, p_staged_record_id,
                    CASE WHEN decision_type = 'auto_match' THEN 'matched' ELSE 'created' END,
                    decision_type);
        END IF;
    END IF;

    INSERT INTO trapper.data_engine_match_decisions
        (source_system, source_table, source_row_id, staged_record_id, incoming_email,
         incoming_phone, incoming_name, incoming_address, top_candidate_id, top_candidate_score,
         decision_type, decision_reason, resulting_person_id, household_id, score_breakdown,
         fs_score, review_status)
    VALUES (coalesce(v_src.source_system, p_source_system), coalesce(v_src.source_table, ''),
            v_src.source_row_id, p_staged_record_id, p_email,
            concat_ws(' / ', nullif(p_phone, ''), nullif(p_cell, '')), nullif(v_name, ''),
            p_address, v_best.pid, round(v_best.score::numeric, 2), decision_type, decision_reason,
            person_id, household_id,
            CASE WHEN v_best.pid IS NOT NULL THEN jsonb_build_object(
                'email', round(v_best.w_email::numeric, 2), 'phone', round(v_best.w_phone::numeric, 2),
                'name', round(v_best.w_name::numeric, 2), 'name_level', v_best.name_level,
                'address', round(v_best.w_address::numeric, 2), 'phone_holders', v_best.holders,
                'source_confidence', v_conf,
                'thresholds', jsonb_build_object('auto', v_auto, 'review', v_review)) END,
            round(v_best.score::numeric, 2),
            CASE WHEN decision_type = 'review_pending' THEN 'pending' ELSE 'not_required' END)
    RETURNING data_engine_match_decisions.decision_id INTO decision_id;
END $$;

CREATE OR REPLACE FUNCTION trapper.find_or_create_cat_by_microchip(
    p_microchip text, p_name text DEFAULT NULL, p_sex text DEFAULT NULL,
    p_breed text DEFAULT NULL, p_altered_status text DEFAULT NULL,
    p_color text DEFAULT NULL, p_source text DEFAULT NULL,
    p_clinichq_animal_id text DEFAULT NULL, p_ownership_type text DEFAULT NULL,
    p_secondary_color text DEFAULT NULL, p_shelterluv_id text DEFAULT NULL,
    p_petlink_id text DEFAULT NULL, p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_chip text := trapper.validate_microchip(p_microchip);
    v_name text := nullif(btrim(p_name), '');
    v_id uuid;
    v_action text := 'matched';
    v_detail text;
    v_fmt record;
    v_locked boolean := false;
BEGIN
    IF v_chip IS NULL AND v_name IS NOT NULL AND v_name ~ '^[0-9A-Fa-f\s.-]{9,}$' THEN
        v_chip := trapper.validate_microchip(v_name);   -- the chip typed into the name
        IF v_chip IS NOT NULL THEN
            v_name := NULL;
            v_detail := 'microchip found in the name field';
        END IF;
    END IF;
    -- Look first, lock only to create: a cat seen before (most calls) needs no turn-taking.
    -- A miss takes the keys' locks and looks again, since a worker that held them may have
    -- just created this cat.
    LOOP
        v_id := coalesce(
            trapper.cat_by_identifier('microchip', v_chip),
            trapper.cat_by_identifier('clinichq_animal_id',
                                      nullif(btrim(p_clinichq_animal_id), '')),
            trapper.cat_by_identifier('shelterluv_animal_id', nullif(btrim(p_shelterluv_id), '')),
            trapper.cat_by_identifier('petlink_pet_id', nullif(btrim(p_petlink_id), '')));
        EXIT WHEN v_id IS NOT NULL OR v_locked;
        PERFORM trapper.lock_identity_key('chip', v_chip);
        PERFORM trapper.lock_identity_key('clinichq', p_clinichq_animal_id);
        v_locked := true;
    END LOOP;
    IF v_id IS NULL THEN
        IF v_chip IS NULL AND nullif(btrim(p_clinichq_animal_id), '') IS NULL
           AND nullif(btrim(p_shelterluv_id), '') IS NULL
           AND nullif(btrim(p_petlink_id), '') IS NULL THEN
            RETURN NULL;   -- nothing identifies this cat
        END IF;
        INSERT INTO trapper.sot_cats (display_name, sex, breed, altered_status, primary_color,
                                      secondary_color, ownership_type, clinichq_animal_id)
        VALUES (v_name, nullif(p_sex, ''), nullif(p_breed, ''), nullif(p_altered_status, ''),
                nullif(p_color, ''), nullif(p_secondary_color, ''),
                nullif(p_ownership_type, ''), nullif(btrim(p_clinichq_animal_id), ''))
        RETURNING cat_id INTO v_id;
        v_action := 'created';
    ELSE
        -- fill what the cat does not have yet; never overwrite
        UPDATE trapper.sot_cats SET
            display_name = coalesce(display_name, CASE WHEN v_name <> 'Unknown' THEN v_name END),
            sex = coalesce(sex, nullif(p_sex, '')), breed = coalesce(breed, nullif(p_breed, '')),
            altered_status = coalesce(altered_status, nullif(p_altered_status, '')),
            primary_color = coalesce(primary_color, nullif(p_color, '')),
            secondary_color = coalesce(secondary_color, nullif(p_secondary_color, '')),
            clinichq_animal_id = coalesce(clinichq_animal_id,
                                          nullif(btrim(p_clinichq_animal_id), '')),
            updated_at = now()
        WHERE cat_id = v_id
          -- only when something is missing: a no-op update still writes a row version and
          -- waits on any worker holding the row
          AND ((display_name IS NULL AND v_name <> 'Unknown')
               OR (sex IS NULL AND nullif(p_sex, '') IS NOT NULL)
               OR (breed IS NULL AND nullif(p_breed, '') IS NOT NULL)
               OR (altered_status IS NULL AND nullif(p_altered_status, '') IS NOT NULL)
               OR (primary_color IS NULL AND nullif(p_color, '') IS NOT NULL)
               OR (secondary_color IS NULL AND nullif(p_secondary_color, '') IS NOT NULL)
               OR (clinichq_animal_id IS NULL
                   AND nullif(btrim(p_clinichq_animal_id), '') IS NOT NULL));
    END IF;
    IF v_chip IS NOT NULL THEN
        v_fmt := trapper.microchip_format(v_chip);
        PERFORM trapper.add_cat_identifier(v_id, 'microchip', v_chip, p_source, v_fmt.confidence);
    END IF;
    PERFORM trapper.add_cat_identifier(v_id, 'clinichq_animal_id',
                                       nullif(btrim(p_clinichq_animal_id), ''), p_source);
    PERFORM trapper.add_cat_identifier(v_id, 'shelterluv_animal_id',
                                       nullif(btrim(p_shelterluv_id), ''), p_source);
    PERFORM trapper.add_cat_identifier(v_id, 'petlink_pet_id', nullif(btrim(p_petlink_id), ''),
                                       p_source);
    IF p_staged_record_id IS NOT NULL THEN
        PERFORM trapper.record_entity_source('cat', v_id, p_staged_record_id, v_action, v_detail);
    END IF;
    RETURN v_id;
END $$;

-- Linking looks up each unlinked cat's people (cats_to_places): without an index on cat_id
-- that was a sequential scan of person_cat per cat, 17 s of every linking run at atlas
-- scale; 0.4 s with it.
CREATE INDEX person_cat_cat_idx ON trapper.person_cat (cat_id);
