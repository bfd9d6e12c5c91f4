-- trapper.name_brand_words (025) follows trapper.name_brands: any statement that changes the
-- brands makes the row of first words again, so a brand added by hand (a local chain) is read
-- by the next name at once.

CREATE OR REPLACE FUNCTION trapper.name_brand_words_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM trapper.name_brand_words_refresh();
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER name_brands_words
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trapper.name_brands
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.name_brand_words_follow();
