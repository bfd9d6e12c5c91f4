-- Place contexts, with manual > AI precedence.

-- Classify a place. Manual outranks AI: an AI or inferred assignment never overrides a
-- verified or manual one, and an assignment's confidence only rises. Returns what holds.
CREATE OR REPLACE FUNCTION trapper.assign_place_context(
    p_place_id uuid, p_context_type text, p_valid_from date DEFAULT NULL,
    p_evidence_type text DEFAULT 'inferred', p_evidence_notes text DEFAULT NULL,
    p_confidence numeric DEFAULT 0.5, p_source text DEFAULT NULL,
    p_is_verified boolean DEFAULT false
) RETURNS trapper.place_contexts
LANGUAGE plpgsql AS $$
DECLARE
    cur trapper.place_contexts;
BEGIN
    SELECT * INTO cur FROM trapper.place_contexts
    WHERE place_id = p_place_id AND context_type = p_context_type AND valid_to IS NULL
    FOR UPDATE;
    IF cur.context_id IS NULL THEN
        INSERT INTO trapper.place_contexts (place_id, context_type, valid_from, evidence_type,
            evidence_notes, confidence, source, is_verified)
        VALUES (p_place_id, p_context_type, p_valid_from, p_evidence_type, p_evidence_notes,
                p_confidence, p_source, p_is_verified)
        RETURNING * INTO cur;
        RETURN cur;
    END IF;
    IF (cur.is_verified OR cur.evidence_type = 'manual')
       AND p_evidence_type <> 'manual' AND NOT p_is_verified THEN
        RETURN cur;   -- manual > AI: the machine never overrides a person
    END IF;
    UPDATE trapper.place_contexts SET
        evidence_type = CASE WHEN p_evidence_type = 'manual' OR p_is_verified
                             THEN p_evidence_type ELSE evidence_type END,
        evidence_notes = coalesce(p_evidence_notes, evidence_notes),
        confidence = greatest(confidence, p_confidence),
        source = coalesce(p_source, source),
        is_verified = is_verified OR p_is_verified,
        valid_from = coalesce(valid_from, p_valid_from),
        updated_at = now()
    WHERE context_id = cur.context_id
    RETURNING * INTO cur;
    RETURN cur;
END $$;
