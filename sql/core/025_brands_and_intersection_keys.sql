-- Names and addresses as new sources write them (docs/identity.md, "Places" and "Names as
-- people write them").
--
-- Chain stores and brands typed as the owner's name ("Starbucks", "Safeway #1234", "Home
-- Depot", "Dollar General", "Walmart Supercenter"): trapper.should_be_person reads a name that
-- holds one of these phrases, as whole words, as a business, so the record makes a clinic
-- account and no person. also_surname: the phrase is also a surname ("Target", "Kroger",
-- "Sears"); in the last-name field after a first name it is the person's ("Joan Target").
-- Phrases are written as trapper.norm_name_key writes them (lower case, no apostrophes or
-- hyphens: "trader joes", "7eleven"); first_word is the phrase's first word, the lookup's key.
CREATE TABLE trapper.name_brands (
    phrase       text PRIMARY KEY,
    first_word   text NOT NULL,
    also_surname boolean NOT NULL DEFAULT false
);
CREATE INDEX name_brands_first_word ON trapper.name_brands (first_word);

-- The brands' first words as one row (derived: made by trapper.name_brand_words_refresh() and
-- kept in step with name_brands by triggers/name_brands.sql; edit name_brands, never this).
-- One lookup a name: a scan of name_brands for every name doubled should_be_person's cost.
CREATE TABLE trapper.name_brand_words (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    first_words jsonb NOT NULL
);

INSERT INTO trapper.name_brands (phrase, first_word, also_surname)
SELECT b.phrase, split_part(b.phrase, ' ', 1), b.also_surname
FROM (VALUES
    -- groceries and warehouse stores
    ('safeway', false), ('luckys', false), ('lucky supermarket', false),
    ('lucky supermarkets', false), ('lucky store', false), ('raleys', true),
    ('nob hill foods', false), ('grocery outlet', false), ('trader joes', false),
    ('whole foods', false), ('sprouts farmers market', false), ('albertsons', true),
    ('vons', false), ('kroger', true), ('ralphs', true), ('foodmaxx', false),
    ('food maxx', false), ('winco', false), ('save mart', false), ('savemart', false),
    ('costco', false), ('sams club', false), ('smart final', false), ('smart and final', false),
    ('aldi', true), ('publix', false), ('meijer', true), ('food 4 less', false),
    ('stater bros', false), ('pak n save', false), ('piggly wiggly', false),
    ('wegmans', false), ('food lion', false), ('harris teeter', false), ('hy vee', false),
    ('hyvee', false), ('winn dixie', false),
    -- big box, hardware, department and discount stores
    ('walmart', false), ('wal mart', false), ('walmart supercenter', false), ('target', true),
    ('kmart', false), ('home depot', false), ('lowes', true), ('ace hardware', false),
    ('orchard supply', false), ('tractor supply', false), ('big lots', false),
    ('dollar general', false), ('dollar tree', false), ('family dollar', false),
    ('99 cents only', false), ('ross dress for less', false), ('tj maxx', false),
    ('marshalls', true), ('kohls', true), ('best buy', false), ('bed bath beyond', false),
    ('bed bath and beyond', false), ('harbor freight', false), ('ikea', false),
    ('sears', true), ('macys', true), ('jcpenney', false), ('jc penney', false),
    ('nordstrom', true), ('goodwill', true), ('autozone', false), ('oreilly auto parts', false),
    ('napa auto parts', false), ('pep boys', false), ('jiffy lube', false),
    ('les schwab', false), ('michaels crafts', false), ('joann fabrics', false),
    ('hobby lobby', false), ('office depot', false), ('staples', true),
    -- pharmacies, pet stores
    ('cvs', false), ('cvs pharmacy', false), ('walgreens', true), ('rite aid', false),
    ('petco', false), ('petsmart', false), ('pet food express', false), ('pet club', false),
    -- coffee and fast food
    ('starbucks', false), ('mcdonalds', true), ('burger king', false), ('taco bell', false),
    ('wendys', false), ('jack in the box', false), ('in n out', false), ('innout', false),
    ('kfc', false), ('subway', false), ('dunkin donuts', false), ('peets coffee', false),
    ('chipotle', false), ('dennys', true), ('ihop', false), ('carls jr', false),
    ('del taco', false), ('panda express', false), ('pizza hut', false), ('dominos', false),
    ('round table pizza', false), ('little caesars', false), ('chick fil a', false),
    ('chickfila', false), ('arbys', false), ('popeyes', false), ('dairy queen', false),
    ('jamba juice', false), ('sonic drive in', false),
    ('panera bread', false), ('olive garden', false), ('applebees', false),
    -- fuel and convenience
    ('chevron', false), ('arco', false), ('valero', true), ('exxon', false), ('mobil', false),
    ('texaco', false), ('circle k', false), ('7eleven', false), ('7 eleven', false),
    ('seven eleven', false), ('speedway', false), ('union 76', false), ('shell station', false),
    ('shell gas', false), ('am pm', false), ('ampm', false), ('quiktrip', false),
    ('wawa', false), ('sheetz', true), ('loves travel', false), ('pilot flying j', false),
    -- lodging, shipping, storage
    ('motel 6', false), ('super 8', false), ('days inn', false), ('holiday inn', false),
    ('best western', false), ('la quinta', false), ('u haul', false), ('uhaul', false),
    ('fedex', false), ('ups store', false), ('usps', false), ('public storage', false),
    ('extra space storage', false), ('amazon', false), ('wells fargo', false),
    ('bank of america', false), ('chase bank', false)
) AS b(phrase, also_surname)
ON CONFLICT (phrase) DO NOTHING;

SELECT trapper.name_brand_words_refresh();

-- Towns as the key now holds them (trapper.address_town: Saint, Mount, Fort as St, Mt, Ft):
-- the ZIPs' towns written the new way, so that "Saint Helena" and "St Helena" are one town
-- of their ZIP and not two.
INSERT INTO trapper.address_zip_towns (zip, town)
SELECT zip, trapper.address_town(town) FROM trapper.address_zip_towns
WHERE trapper.address_town(town) IS NOT NULL AND trapper.address_town(town) <> town
ON CONFLICT DO NOTHING;
DELETE FROM trapper.address_zip_towns
WHERE trapper.address_town(town) IS DISTINCT FROM town;

-- Addresses the parser read anew with this migration (functions/normalizers.sql): an
-- intersection's key holds its streets' names and their suffixes apart ('&|4th & main|st &
-- st|'); a box before its rural route ("Box 5, RR 2"); a county after the town with no comma;
-- a unit before the house number ("Apt 4, 123 Main St"); a Wisconsin grid number; a Spanish
-- street type before its name with the town after it; "Saint" as "St"; a line break as a
-- comma; a military or general delivery address is no place. The places already made take
-- their keys again, and an intersection whose suffixes were left out is merged into the one
-- of its streets and town that names them (trapper.rekey_places).
SELECT trapper.rekey_places();

