-- Addresses and names of classes the synthetic world never wrote (docs/identity.md, "Places"
-- and "Names as people write them"; tests/test_address_names_classes.py).
--
-- Names: spellings of one given name that no typo rule joins (a three-letter name against
-- its four-letter spelling is no longer a typo in either order, name_compare; "Steven" /
-- "Stephen" is two edits), as rows of name_nicknames, which staff extend the same way.
INSERT INTO trapper.name_nicknames (name, nickname) VALUES
    ('john', 'jon'), ('anne', 'ann'), ('stephen', 'steven'), ('geoffrey', 'jeffrey'),
    ('katherine', 'kathryn'), ('katherine', 'catherine'), ('catherine', 'kathryn'),
    ('alan', 'allen'), ('alan', 'allan'), ('allan', 'allen'), ('zoe', 'zoey'),
    ('sean', 'shawn'), ('sean', 'shaun'), ('shawn', 'shaun'), ('isabel', 'isabelle'),
    ('mohammed', 'muhammad'), ('mohammed', 'mohamed'), ('muhammad', 'mohamed'),
    ('amy', 'aimee')
ON CONFLICT DO NOTHING;

-- Businesses and sites typed as a name: a tow yard, a mobile home park ("Green Acres Mobile
-- Home Park", "Redwood MHP", "Redwood Mobile Estates"), an estate, a groomer, a pet sitter, a
-- boarding kennel, a patrol (whole words, as the others; none is a surname)
INSERT INTO trapper.organization_keywords (keyword) VALUES
    ('towing'), ('mhp'), ('mobile'), ('estates'), ('estate'), ('grooming'), ('groomers'),
    ('boarding'), ('sitting'), ('petsitting'), ('patrol')
ON CONFLICT (keyword) DO NOTHING;

-- Agencies and utilities by their short names ("PG&E" is "pge" as norm_name_key reads it)
INSERT INTO trapper.name_brands (phrase, first_word, also_surname)
SELECT b.phrase, split_part(b.phrase, ' ', 1), false
FROM (VALUES ('pge'), ('pacific gas and electric'), ('caltrans'), ('cal fire'), ('chp'),
             ('kaiser permanente')) b(phrase)
ON CONFLICT (phrase) DO NOTHING;

-- A finder with no name ("Finder", "Good Samaritan") and a site typed as the name ("Barn
-- Cat", "Feral Cat Colony"): a placeholder when the name is nothing else ("Mary Finder",
-- "Ann Barn" stay people)
INSERT INTO trapper.name_placeholder_words (word) VALUES
    ('finder'), ('good'), ('samaritan'), ('barn'), ('colony')
ON CONFLICT DO NOTHING;

-- Addresses: the places already made take the keys address_parts now gives ("123-1/2 Main",
-- "81 St", "Apt 3-B", "Unit No. 4", a semicolon for a comma, "1200 W 1200 N Provo",
-- "Avenue of the Americas New York", "SR 128 Philo", "FM 1960", "I-80", "123 Main St 5 Santa
-- Rosa"); places that now share a key are merged (rekey_places)
SELECT trapper.rekey_places();
