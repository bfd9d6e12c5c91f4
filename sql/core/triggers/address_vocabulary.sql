-- trapper.address_vocabulary (014) follows the four tables of the address standard: any
-- statement that changes one of them makes the vocabulary again (a few hundred rows), so a
-- row added by hand (a local misspelling) is read by the next address at once.

CREATE OR REPLACE FUNCTION trapper.address_vocabulary_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM trapper.address_vocabulary_refresh();
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER address_street_suffixes_vocabulary
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trapper.address_street_suffixes
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.address_vocabulary_follow();

CREATE OR REPLACE TRIGGER address_directionals_vocabulary
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trapper.address_directionals
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.address_vocabulary_follow();

CREATE OR REPLACE TRIGGER address_ordinals_vocabulary
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trapper.address_ordinals
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.address_vocabulary_follow();

CREATE OR REPLACE TRIGGER address_unit_designators_vocabulary
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trapper.address_unit_designators
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.address_vocabulary_follow();
