-- Names as new sources write them (docs/identity.md, "Names as people write them").
--
-- Words that are no name when a name is made of nothing else: "N/A", "Owner", "Community
-- Cat", "Current Resident", "Mrs." (trapper.should_be_person reads such a name as a
-- placeholder; any real word beside them, "Owen Owner", keeps it a person).
CREATE TABLE trapper.name_placeholder_words (word text PRIMARY KEY);
INSERT INTO trapper.name_placeholder_words VALUES
    ('na'), ('n'), ('a'), ('owner'), ('owners'), ('cat'), ('cats'), ('community'), ('feral'),
    ('stray'), ('resident'), ('current'), ('occupant'), ('homeowner'), ('tenant'),
    ('anonymous'), ('anon'), ('no'), ('name'), ('not'), ('provided'), ('given'), ('declined'),
    ('client'), ('same'), ('see'), ('notes'), ('mr'), ('mrs'), ('ms'), ('miss'), ('dr'),
    ('x'), ('xx'), ('xxx'), ('unk'), ('unkn'), ('nobody'), ('noname'), ('null'), ('nil');

-- Organisation words that are also surnames ("Ann Church", "Lou Marina", "Ed Temple"): in a
-- last-name field of one word after a first name of one word they make no organisation.
ALTER TABLE trapper.organization_keywords ADD COLUMN also_surname boolean NOT NULL DEFAULT false;
INSERT INTO trapper.organization_keywords (keyword) VALUES
    ('management'), ('mgmt'), ('university'), ('college'), ('city'), ('police'), ('dept'),
    ('department'), ('sheriff'), ('bank'), ('plumbing'), ('construction'), ('sons'),
    ('baptist'), ('lutheran'), ('catholic'), ('methodist'), ('presbyterian'), ('parish'),
    ('temple'), ('army')
ON CONFLICT (keyword) DO NOTHING;
UPDATE trapper.organization_keywords SET also_surname = true
WHERE keyword IN ('church', 'marina', 'center', 'county', 'co', 'trust', 'market', 'farm',
                  'temple', 'bank', 'city');
