-- trapper.address_vocabulary (014) follows the words of towns' names in their standard forms
-- (051) as it follows the address standard's four tables (triggers/address_vocabulary.sql,
-- whose function this is): a row added by hand is read by the next address at once, and the
-- memo of addresses read before (019) is emptied.
CREATE OR REPLACE TRIGGER address_town_words_vocabulary
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON trapper.address_town_words
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.address_vocabulary_follow();
