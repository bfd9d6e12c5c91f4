-- The town after a street that is an article and a Spanish street type alone ("100 El Camino
-- Santa Rosa", "100 La Calle Mill Valley"), with no comma (functions/normalizers.sql,
-- address_parts; docs/identity.md, "Places"): the type's name had been read as the next
-- word, so the street was "el camino santa" in the town "rosa". Now a word after the type
-- that begins a town's name, or the rest of the line when it is a town an address with a
-- ZIP has named (address_zip_towns, 017), begins the town; "El Camino Real" is still one
-- street.

-- The words that begin a town's name and, after a street whose name is whole, its town.
-- Words, not patterns: a row added (a local town's first word) is read at once, as the
-- address standard's tables are (triggers/address_town_starts.sql keeps the vocabulary in step).
CREATE TABLE IF NOT EXISTS trapper.address_town_starts (
    written text PRIMARY KEY
);
INSERT INTO trapper.address_town_starts (written) VALUES
    ('san'), ('santa'), ('saint'), ('st'), ('mount'), ('mt'), ('fort'), ('ft')
ON CONFLICT DO NOTHING;

-- the parser asks whether the rest of a line is a known town: by the town, not the ZIP
CREATE INDEX IF NOT EXISTS address_zip_towns_town ON trapper.address_zip_towns (town);

-- the vocabulary with the new words (the trigger that does it from now on comes after this
-- file), then the places already made under their new keys
SELECT trapper.address_vocabulary_refresh();
SELECT trapper.rekey_places();
