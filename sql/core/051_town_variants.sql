-- Towns as people write them (docs/identity.md, "Places"; tests/test_town_variants.py): one
-- address whose town two sources spell otherwise is one place.
--
-- The words of towns' names in their standard forms, read by trapper.address_town_of
-- (functions/normalizers.sql) through trapper.address_vocabulary (tw); a row added (a local
-- town's abbreviation) is read at once (triggers/address_town_words.sql). Saint, Mount and
-- Fort keep the short forms the key gave them before (025); every other word the long form
-- its name is usually written in, so that the keys of towns written out stay as they were
-- ("mill valley", "citrus heights"). Only words that stand for one word in a town's name:
-- "Pt" is Point here (Pt Reyes Station, Pt Arena), never Port; "Sta" (Santa, or Station),
-- "Is" (Island) and "City" are not here (a town with "City" dropped or added is matched only
-- with its ZIP, trapper.place_of_address_parts).
CREATE TABLE IF NOT EXISTS trapper.address_town_words (
    written  text PRIMARY KEY,
    standard text NOT NULL
);
INSERT INTO trapper.address_town_words (written, standard) VALUES
    ('saint', 'st'), ('mount', 'mt'), ('mnt', 'mt'), ('fort', 'ft'), ('frt', 'ft'),
    ('pt', 'point'), ('pnt', 'point'), ('pk', 'park'), ('prk', 'park'),
    ('mtn', 'mountain'), ('mtns', 'mountains'),
    ('hts', 'heights'), ('hgts', 'heights'), ('spgs', 'springs'), ('sprgs', 'springs'),
    ('spg', 'spring'), ('bch', 'beach'), ('jct', 'junction'), ('vlg', 'village'),
    ('vly', 'valley'), ('vlly', 'valley'), ('ctr', 'center'), ('centre', 'center'),
    ('lk', 'lake'), ('lks', 'lakes'), ('cyn', 'canyon'),
    ('crk', 'creek'), ('grv', 'grove'), ('hbr', 'harbor'), ('hls', 'hills'),
    ('gdns', 'gardens'), ('gdn', 'garden'),
    ('n', 'north'), ('no', 'north'), ('s', 'south'), ('so', 'south'), ('e', 'east'),
    ('w', 'west')
ON CONFLICT DO NOTHING;

-- the vocabulary with the words (the trigger that does it from now on comes after this file)
SELECT trapper.address_vocabulary_refresh();

-- The ZIPs' towns in the standard words, as 025 wrote them for Saint, Mount and Fort
-- (place_fits_zip compares them by trapper.address_town_key, spacing aside)
INSERT INTO trapper.address_zip_towns (zip, town)
SELECT zip, trapper.address_town(town) FROM trapper.address_zip_towns
WHERE trapper.address_town(town) IS NOT NULL AND trapper.address_town(town) <> town
ON CONFLICT DO NOTHING;
DELETE FROM trapper.address_zip_towns
WHERE trapper.address_town(town) IS DISTINCT FROM town;

-- The places already made under their keys with the standard words ("pt reyes station" →
-- "point reyes station"); those that now share a key are merged (rekey_places)
SELECT trapper.rekey_places();

-- Live places of one house, street and unit whose towns differ only in their spacing
-- ("bayview" / "bay view") are one place, which place_of_address_parts now finds for
-- either: the oldest takes in the others (the keys stay as they are)
WITH live AS (
    SELECT p.place_id, p.created_at,
           left(p.address_key, length(p.address_key) - length(split_part(p.address_key, '|', 4)))
               AS head,
           trapper.address_town_key(split_part(p.address_key, '|', 4)) AS town
    FROM trapper.places p
    WHERE p.merged_into_place_id IS NULL AND p.address_key IS NOT NULL
      AND split_part(p.address_key, '|', 4) <> ''
), r AS (
    SELECT place_id, first_value(place_id) OVER (PARTITION BY head, town
                                                 ORDER BY created_at, place_id) AS survivor
    FROM live
)
UPDATE trapper.places p
SET merged_into_place_id = r.survivor, merged_at = now(),
    merge_reason = 'the same address, its town spaced otherwise (051_town_variants)'
FROM r
WHERE p.place_id = r.place_id AND r.place_id <> r.survivor;
