-- trapper.address_vocabulary (014) follows the words that begin a town's name (039) as it
-- follows the address standard's four tables (triggers/address_vocabulary.sql, whose function
-- this is): a row added by hand is read by the next address at once.
CREATE OR REPLACE TRIGGER address_town_starts_vocabulary
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trapper.address_town_starts
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.address_vocabulary_follow();
