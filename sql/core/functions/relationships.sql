-- The link_* functions relationships are written through, and colony estimates.

CREATE OR REPLACE FUNCTION trapper.link_person_place(
    p_person uuid, p_place uuid, p_role text, p_source text, p_conf numeric DEFAULT 0.8
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_person IS NOT NULL AND p_place IS NOT NULL THEN
        INSERT INTO trapper.person_place (person_id, place_id, role, confidence, source_system)
        VALUES (p_person, p_place, p_role, p_conf, p_source)
        ON CONFLICT DO NOTHING;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION trapper.link_person_cat(
    p_person uuid, p_cat uuid, p_relationship text, p_source text, p_conf numeric DEFAULT 0.8
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_person IS NOT NULL AND p_cat IS NOT NULL THEN
        INSERT INTO trapper.person_cat (person_id, cat_id, relationship, confidence, source_system)
        VALUES (p_person, p_cat, p_relationship, p_conf, p_source)
        ON CONFLICT DO NOTHING;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION trapper.link_cat_place(
    p_cat uuid, p_place uuid, p_relationship text, p_source text, p_conf numeric DEFAULT 0.8
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_cat IS NOT NULL AND p_place IS NOT NULL THEN
        INSERT INTO trapper.cat_place (cat_id, place_id, relationship, confidence, source_system)
        VALUES (p_cat, p_place, p_relationship, p_conf, p_source)
        ON CONFLICT DO NOTHING;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION trapper.add_colony_estimate(
    p_place uuid, p_total integer, p_adults integer, p_kittens integer, p_source_type text,
    p_observed date, p_staged_record_id bigint
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_place IS NULL OR p_total IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO trapper.place_colony_estimates
        (place_id, total_cats, adult_count, kitten_count, source_type, observation_date,
         source_system, source_record_id)
    SELECT p_place, p_total, p_adults, p_kittens, p_source_type, p_observed, s.source_system,
           s.source_row_id
    FROM trapper.staged_records s
    WHERE s.id = p_staged_record_id
    ON CONFLICT (source_system, source_record_id, place_id) DO UPDATE
        SET total_cats = EXCLUDED.total_cats;
END $$;
