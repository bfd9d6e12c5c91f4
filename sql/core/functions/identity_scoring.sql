-- The person score, in one place: the weights and thresholds, each field's weight and the
-- outcome ladder. data_engine_resolve_identity (sql/core/functions/identity.sql) decides
-- with them and orchestrator_explain_person_pair (sql/orchestrator/functions/explain.sql)
-- explains with them, so the two cannot drift apart (docs/identity.md, "Explaining a match").
--
-- All three are LANGUAGE sql, one SELECT, no SET clause, not STRICT: the planner inlines
-- them into the calling statement, so the engine's hot path pays no function call for them
-- (a non-inlined SQL function is planned again on every call: see identity.sql's note).
-- The two table functions are set-returning on purpose: PostgreSQL inlines a SQL function
-- in FROM only when it returns a set.

-- Every weight (log2 of m/u from fellegi_sunter_parameters) and threshold (identity_config):
-- one row.
CREATE OR REPLACE FUNCTION trapper.identity_weights()
RETURNS TABLE (
    email_agree double precision, email_disagree double precision,
    phone double precision, phone_shared double precision,
    name_exact double precision, name_close double precision, name_different double precision,
    address double precision, address_different double precision,
    auto double precision, review double precision, shared_n integer
)
LANGUAGE sql STABLE AS $$
    SELECT max(p.w_agree) FILTER (WHERE p.field = 'email'),
           max(p.w_disagree) FILTER (WHERE p.field = 'email'),
           max(p.w_agree) FILTER (WHERE p.field = 'phone'),
           max(p.w_agree) FILTER (WHERE p.field = 'phone_shared'),
           max(p.w_agree) FILTER (WHERE p.field = 'name_exact'),
           max(p.w_agree) FILTER (WHERE p.field = 'name_close'),
           max(p.w_agree) FILTER (WHERE p.field = 'name_different'),
           max(p.w_agree) FILTER (WHERE p.field = 'address'),
           max(p.w_agree) FILTER (WHERE p.field = 'address_different'),
           (SELECT c.value FROM trapper.identity_config c
            WHERE c.key = 'auto_match_threshold')::double precision,
           (SELECT c.value FROM trapper.identity_config c
            WHERE c.key = 'review_threshold')::double precision,
           (SELECT c.value FROM trapper.identity_config c
            WHERE c.key = 'shared_identifier_people')::integer
    FROM trapper.fellegi_sunter_parameters p
$$;

-- Each field's weight for one candidate, from its agreement and the weights above (passed
-- in, read once by the caller from identity_weights()):
--   email: agrees (p_email_conf, the candidate's holding, is set) -> agree weight x the
--          lesser of that confidence and p_source_conf (the incoming source's; NULL when the
--          caller passes the lesser of two holdings already); both have emails but none in
--          common -> disagree weight
--   phone: agrees (p_phone_conf set) -> the phone weight, or the weaker shared-phone weight
--          when p_holders people hold it (at least shared_n), x the same lesser confidence
--   name:  name_compare's level -> its weight ('unknown' adds nothing)
--   address: the same address key -> agree weight; known on both sides but different ->
--          the different-address weight; else nothing
CREATE OR REPLACE FUNCTION trapper.identity_field_weights(
    p_email_conf double precision, p_email_disagree boolean,
    p_phone_conf double precision, p_holders bigint,
    p_name_level text, p_same_address boolean, p_source_conf double precision,
    p_email_agree double precision, p_email_disagree_w double precision,
    p_phone double precision, p_phone_shared double precision, p_shared_n integer,
    p_name_exact double precision, p_name_close double precision,
    p_name_different double precision,
    p_address double precision, p_address_different double precision
)
RETURNS TABLE (w_email double precision, w_phone double precision,
               w_name double precision, w_address double precision)
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_email_conf IS NOT NULL THEN p_email_agree * least(p_email_conf, p_source_conf)
                WHEN p_email_disagree THEN p_email_disagree_w ELSE 0 END,
           CASE WHEN p_phone_conf IS NULL THEN 0
                WHEN p_holders >= p_shared_n THEN p_phone_shared * least(p_phone_conf, p_source_conf)
                ELSE p_phone * least(p_phone_conf, p_source_conf) END,
           CASE p_name_level WHEN 'exact' THEN p_name_exact
                             WHEN 'close' THEN p_name_close
                             WHEN 'different' THEN p_name_different
                             -- the given name's agreement with the surname's disagreement
                             WHEN 'first_only' THEN p_name_close + p_name_different
                             ELSE 0 END,
           CASE WHEN p_same_address THEN p_address
                WHEN p_same_address = false THEN p_address_different
                ELSE 0 END
$$;

-- The outcome ladder for the best candidate: the same person only at or above auto-match
-- with names that agree (or are unknown); names that differ on a shared identifier are a
-- household member, never the same person; at or above review, a pair for a person to
-- look at (the same given name with another surname, first_only, at best: a surname
-- changed, or a relative); else a new person (first_only on a shared identifier: a
-- household member). (The engine then lets a settled review keep a review pair
-- apart: identity.sql.)
-- p_sole_holder: no one but this candidate holds any of the record's emails and phones (one
-- candidate, and a phone held by fewer than shared_n people). With no name on one side
-- ('unknown') nothing then tells the record from that person, and a new person would be a
-- nameless double of it: the identifiers decide from the review threshold up (core 044; an
-- email alone from a source of confidence 0.9 weighs 11.9, below auto-match, and each
-- nameless row of one email made one more person).
CREATE OR REPLACE FUNCTION trapper.identity_outcome(
    p_score double precision, p_name_level text, p_shares_identifier boolean,
    p_auto double precision, p_review double precision, p_sole_holder boolean DEFAULT false
) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_score >= p_auto AND p_name_level IN ('exact', 'close', 'unknown')
                THEN 'auto_match'
                WHEN p_name_level = 'unknown' AND p_sole_holder AND p_score >= p_review
                THEN 'auto_match'
                WHEN p_name_level = 'different' AND p_shares_identifier
                THEN 'household_member'
                WHEN p_score >= p_review THEN 'review_pending'
                WHEN p_name_level = 'first_only' AND p_shares_identifier
                THEN 'household_member'
                ELSE 'new_entity' END
$$;
