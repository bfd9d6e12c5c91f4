-- Merges never chain: the triggers that flatten every merge target on write.

-- No merge chains, ever: a merge target is resolved to its canonical entity before the
-- row is written, a self-merge is refused, and whatever was merged into the row being
-- merged is re-pointed at the new target.
CREATE OR REPLACE FUNCTION trapper.people_flatten_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merged_into_person_id IS NOT NULL
       AND NEW.merged_into_person_id IS DISTINCT FROM OLD.merged_into_person_id THEN
        NEW.merged_into_person_id := trapper.get_canonical_person_id(NEW.merged_into_person_id);
        IF NEW.merged_into_person_id = NEW.person_id THEN
            RAISE EXCEPTION 'person % cannot be merged into itself', NEW.person_id;
        END IF;
        NEW.merged_at := coalesce(NEW.merged_at, now());
        UPDATE trapper.sot_people SET merged_into_person_id = NEW.merged_into_person_id
        WHERE merged_into_person_id = NEW.person_id;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER sot_people_flatten_merge
    BEFORE UPDATE OF merged_into_person_id ON trapper.sot_people
    FOR EACH ROW EXECUTE FUNCTION trapper.people_flatten_merge();

CREATE OR REPLACE FUNCTION trapper.places_flatten_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merged_into_place_id IS NOT NULL
       AND NEW.merged_into_place_id IS DISTINCT FROM OLD.merged_into_place_id THEN
        NEW.merged_into_place_id := trapper.get_canonical_place_id(NEW.merged_into_place_id);
        IF NEW.merged_into_place_id = NEW.place_id THEN
            RAISE EXCEPTION 'place % cannot be merged into itself', NEW.place_id;
        END IF;
        NEW.merged_at := coalesce(NEW.merged_at, now());
        UPDATE trapper.places SET merged_into_place_id = NEW.merged_into_place_id
        WHERE merged_into_place_id = NEW.place_id;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER places_flatten_merge
    BEFORE UPDATE OF merged_into_place_id ON trapper.places
    FOR EACH ROW EXECUTE FUNCTION trapper.places_flatten_merge();

CREATE OR REPLACE FUNCTION trapper.cats_flatten_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merged_into_cat_id IS NOT NULL
       AND NEW.merged_into_cat_id IS DISTINCT FROM OLD.merged_into_cat_id THEN
        NEW.merged_into_cat_id := trapper.get_canonical_cat_id(NEW.merged_into_cat_id);
        IF NEW.merged_into_cat_id = NEW.cat_id THEN
            RAISE EXCEPTION 'cat % cannot be merged into itself', NEW.cat_id;
        END IF;
        NEW.merged_at := coalesce(NEW.merged_at, now());
        UPDATE trapper.sot_cats SET merged_into_cat_id = NEW.merged_into_cat_id
        WHERE merged_into_cat_id = NEW.cat_id;
        -- a cat is fixed once and stays so: a merged cat's Yes is the survivor's
        -- (docs/processing.md, "A cat's sex and altered status")
        IF NEW.altered_status = 'Yes' THEN
            UPDATE trapper.sot_cats SET altered_status = 'Yes', updated_at = now()
            WHERE cat_id = NEW.merged_into_cat_id AND altered_status IS DISTINCT FROM 'Yes';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER sot_cats_flatten_merge
    BEFORE UPDATE OF merged_into_cat_id ON trapper.sot_cats
    FOR EACH ROW EXECUTE FUNCTION trapper.cats_flatten_merge();
