-- The review queue's one write path (issue 18, item 1; docs/identity.md, "Reviewing"):
-- settle a `review_pending` identity decision by merging the two people, keeping them apart,
-- or deferring it. listener/admin/review.py calls it; the tables are 015_review_queue.sql.

-- Act on one pending decision. p_verdict is 'merge', 'keep_separate' or 'defer'.
--
-- Concurrency: the decision row is locked first (FOR UPDATE), so of two reviewers acting on
-- the same item one waits, then finds it no longer pending and is refused (SQLSTATE 55000,
-- object_not_in_prerequisite_state: the API's 409). Both people are then locked in id
-- order (no deadlock between two reviews touching the same people) and resolved to their
-- canonical ids again after the lock, so a merge committed meanwhile is followed to its
-- survivor. The merge itself is the engines' own path: setting merged_into_person_id, whose
-- trigger (core triggers/merge_flattening.sql) resolves the target and re-points anything
-- merged into the row, so no chain forms.
--
-- Each action writes one decision-log row per person (orchestrator_job_log, action
-- identity_decision, the decision's source record), so it shows in both people's
-- provenance and in the record's timeline.
CREATE OR REPLACE FUNCTION trapper.orchestrator_review_act(
    p_decision_id bigint, p_verdict text, p_by text, p_note text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    d trapper.data_engine_match_decisions;
    prior trapper.orchestrator_identity_reviews;
    v_person uuid;
    v_cand uuid;
    v_survivor uuid;
    v_status text;
    v_verdict text;
    v_reason text;
    v_kept record;
    v_seqs bigint[];
    v_details jsonb;
    v_note text := nullif(btrim(p_note), '');
    v_by text := nullif(btrim(p_by), '');
BEGIN
    PERFORM trapper.orchestrator_require_one_of('verdict', p_verdict,
                                                '{merge,keep_separate,defer}');
    PERFORM trapper.orchestrator_require_text('reviewed by', v_by,
                                              'a review needs who made it');
    SELECT * INTO d FROM trapper.data_engine_match_decisions
    WHERE decision_id = p_decision_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no identity decision %', p_decision_id USING ERRCODE = 'no_data_found';
    END IF;
    IF d.review_status <> 'pending' THEN
        SELECT * INTO prior FROM trapper.orchestrator_identity_reviews
        WHERE decision_id = p_decision_id;
        RAISE EXCEPTION 'decision % is not pending review: %', p_decision_id,
            CASE WHEN prior.decision_id IS NOT NULL
                 THEN format('%s by %s at %s', replace(d.review_status, '_', ' '),
                             prior.reviewed_by, to_char(prior.reviewed_at AT TIME ZONE 'UTC',
                                                        'YYYY-MM-DD HH24:MI:SS "UTC"'))
                 ELSE format('its review status is %s', d.review_status) END
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF d.resulting_person_id IS NULL OR d.top_candidate_id IS NULL THEN
        RAISE EXCEPTION 'decision % names no person and candidate to compare', p_decision_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    -- lock both people (canonical, in id order), then resolve again: a merge that committed
    -- while this waited has moved one of them
    LOOP
        v_person := trapper.get_canonical_person_id(d.resulting_person_id);
        v_cand := trapper.get_canonical_person_id(d.top_candidate_id);
        PERFORM 1 FROM trapper.sot_people
        WHERE person_id IN (v_person, v_cand) ORDER BY person_id FOR UPDATE;
        EXIT WHEN v_person = trapper.get_canonical_person_id(d.resulting_person_id)
              AND v_cand = trapper.get_canonical_person_id(d.top_candidate_id);
    END LOOP;

    IF p_verdict = 'merge' THEN
        SELECT k.decided_by, k.decided_at, k.decision_id INTO v_kept
        FROM trapper.orchestrator_kept_separate k
        WHERE least(trapper.get_canonical_person_id(k.person_a),
                    trapper.get_canonical_person_id(k.person_b)) = least(v_person, v_cand)
          AND greatest(trapper.get_canonical_person_id(k.person_a),
                       trapper.get_canonical_person_id(k.person_b)) = greatest(v_person, v_cand)
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'people % and % were kept separate by % (review of decision %); not merged',
                v_person, v_cand, v_kept.decided_by, coalesce(v_kept.decision_id::text, '-')
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        v_survivor := v_cand;
        IF v_person <> v_cand THEN
            -- the incoming record's person goes into the candidate, who was there first
            UPDATE trapper.sot_people
            SET merged_into_person_id = v_cand, merged_at = now(),
                merge_reason = format('review of identity decision %s by %s%s', p_decision_id,
                                      v_by, ': ' || v_note)
            WHERE person_id = v_person;
            v_reason := format('review: person %s merged into %s (decision %s) by %s', v_person,
                               v_cand, p_decision_id, v_by);
        ELSE
            v_reason := format('review: already one person %s (merged meanwhile); decision %s closed by %s',
                               v_cand, p_decision_id, v_by);
        END IF;
        v_status := 'merged';
        v_verdict := 'merged';
    ELSIF p_verdict = 'keep_separate' THEN
        IF v_person = v_cand THEN
            RAISE EXCEPTION 'decision %: the two are already one person (%), merged meanwhile; nothing to keep apart',
                p_decision_id, v_person USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        INSERT INTO trapper.orchestrator_kept_separate
            (person_a, person_b, decision_id, decided_by, note)
        VALUES (least(v_person, v_cand), greatest(v_person, v_cand), p_decision_id, v_by, v_note)
        ON CONFLICT (person_a, person_b) DO NOTHING;
        v_reason := format('review: persons %s and %s kept separate (decision %s) by %s',
                           v_person, v_cand, p_decision_id, v_by);
        v_status := 'kept_separate';
        v_verdict := 'kept_separate';
    ELSE
        v_reason := format('review: decision %s deferred by %s', p_decision_id, v_by);
        v_status := 'pending';
        v_verdict := 'deferred';
    END IF;
    IF v_note IS NOT NULL THEN
        v_reason := v_reason || ': ' || v_note;
    END IF;

    UPDATE trapper.data_engine_match_decisions SET review_status = v_status
    WHERE decision_id = p_decision_id AND review_status = 'pending';

    v_details := jsonb_strip_nulls(jsonb_build_object(
        'review', v_verdict, 'decision_id', p_decision_id, 'by', v_by, 'note', v_note,
        'person_id', v_person, 'candidate_id', v_cand, 'survivor_id', v_survivor,
        'recorded_person_id', d.resulting_person_id, 'recorded_candidate_id', d.top_candidate_id,
        'followed_merge', (v_person <> d.resulting_person_id OR v_cand <> d.top_candidate_id),
        'score', d.fs_score));
    WITH ins AS (
        INSERT INTO trapper.orchestrator_job_log
            (action, source_system, source_table, source_record_id, staged_record_id,
             target_surface, target_entity_id, decision_reason, decision_details)
        SELECT 'identity_decision', d.source_system, d.source_table, d.source_row_id,
               d.staged_record_id, 'sot_people', p, v_reason, v_details
        FROM unnest(ARRAY[v_person, v_cand]) WITH ORDINALITY AS t (p, n)
        WHERE n = 1 OR p <> v_person
        ORDER BY n
        RETURNING log_seq
    )
    SELECT array_agg(log_seq ORDER BY log_seq) INTO v_seqs FROM ins;

    INSERT INTO trapper.orchestrator_identity_reviews
        (decision_id, verdict, reviewed_by, note, person_id, candidate_id, survivor_id, log_seq)
    VALUES (p_decision_id, v_verdict, v_by, v_note, v_person, v_cand, v_survivor, v_seqs[1])
    ON CONFLICT (decision_id) DO UPDATE
    SET verdict = EXCLUDED.verdict, reviewed_by = EXCLUDED.reviewed_by, note = EXCLUDED.note,
        person_id = EXCLUDED.person_id, candidate_id = EXCLUDED.candidate_id,
        survivor_id = EXCLUDED.survivor_id, log_seq = EXCLUDED.log_seq, reviewed_at = now();

    RETURN v_details || jsonb_build_object('review_status', v_status, 'reason', v_reason,
                                           'log_seq', to_jsonb(v_seqs));
END $$;
