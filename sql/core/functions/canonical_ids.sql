-- Canonical entity ids: the end of an entity's merged_into pointer.

-- Canonical ids: follow merged_into to the end (bounded; chains cannot form: see
-- triggers/merge_flattening.sql).
CREATE OR REPLACE FUNCTION trapper.get_canonical_person_id(p_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v uuid := p_id;
    nxt uuid;
BEGIN
    FOR i IN 1..100 LOOP
        SELECT merged_into_person_id INTO nxt FROM trapper.sot_people WHERE person_id = v;
        EXIT WHEN nxt IS NULL;
        v := nxt;
    END LOOP;
    RETURN v;
END $$;

CREATE OR REPLACE FUNCTION trapper.get_canonical_place_id(p_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v uuid := p_id;
    nxt uuid;
BEGIN
    FOR i IN 1..100 LOOP
        SELECT merged_into_place_id INTO nxt FROM trapper.places WHERE place_id = v;
        EXIT WHEN nxt IS NULL;
        v := nxt;
    END LOOP;
    RETURN v;
END $$;

CREATE OR REPLACE FUNCTION trapper.get_canonical_cat_id(p_id uuid) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v uuid := p_id;
    nxt uuid;
BEGIN
    FOR i IN 1..100 LOOP
        SELECT merged_into_cat_id INTO nxt FROM trapper.sot_cats WHERE cat_id = v;
        EXIT WHEN nxt IS NULL;
        v := nxt;
    END LOOP;
    RETURN v;
END $$;
