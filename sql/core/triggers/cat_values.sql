-- A cat's sex and altered status stay in their small value space whoever writes them.

-- The processors store what trapper.cat_sex_altered reads and count what it cannot
-- (functions/cats.sql); this holds the rest of the writers to the same values: the
-- orchestrator's survivorship writes the value a source offered ("M"), and staff write by
-- hand. A value in the space passes untouched (most writes, no function call); another is
-- read into it; one read as nothing, or as not known ("Unknown"), keeps what the cat had
-- and is counted in trapper.unrecognised_values when it is no "not known" word.
CREATE OR REPLACE FUNCTION trapper.sot_cats_values() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    IF (NEW.sex IS NULL OR NEW.sex IN ('Male', 'Female'))
       AND (NEW.altered_status IS NULL OR NEW.altered_status IN ('Yes', 'No')) THEN
        RETURN NEW;
    END IF;
    v := trapper.cat_sex_altered(
        CASE WHEN NEW.sex NOT IN ('Male', 'Female') THEN NEW.sex END,
        CASE WHEN NEW.altered_status NOT IN ('Yes', 'No') THEN NEW.altered_status END);
    IF NEW.sex NOT IN ('Male', 'Female') THEN
        IF 'sex' = ANY (v.unrecognised) THEN
            PERFORM trapper.note_unrecognised_value(NULL, 'sot_cats.sex', NEW.sex);
        END IF;
        NEW.sex := coalesce(v.sex, CASE WHEN TG_OP = 'UPDATE' THEN OLD.sex END);
    END IF;
    IF NEW.altered_status IS NULL OR NEW.altered_status NOT IN ('Yes', 'No') THEN
        IF 'altered_status' = ANY (v.unrecognised) THEN
            PERFORM trapper.note_unrecognised_value(NULL, 'sot_cats.altered_status',
                                                    NEW.altered_status);
        END IF;
        NEW.altered_status := coalesce(v.altered,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.altered_status END);
    END IF;
    RETURN NEW;
END $$;

-- (the function's first test as the trigger's WHEN, so that the writes already in the value
-- space, the processors' own, call no function: 74,000 in the atlas load)
CREATE OR REPLACE TRIGGER sot_cats_values
    BEFORE INSERT OR UPDATE OF sex, altered_status ON trapper.sot_cats
    FOR EACH ROW
    WHEN (NOT ((NEW.sex IS NULL OR NEW.sex IN ('Male', 'Female'))
               AND (NEW.altered_status IS NULL OR NEW.altered_status IN ('Yes', 'No'))))
    EXECUTE FUNCTION trapper.sot_cats_values();
