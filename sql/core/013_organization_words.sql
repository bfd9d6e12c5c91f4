-- Names as people write them (issue 17, item 3): more words that make a "name" an
-- organisation, read by trapper.should_be_person as whole words (docs/identity.md, "Names as
-- people write them"). None is a common surname; a surname that only contains one
-- ("Marina-Lopez") is still a person, since the gate reads it as one word.
INSERT INTO trapper.organization_keywords VALUES
    ('ltd'), ('llp'), ('pllc'), ('lp'), ('trust'), ('association'), ('hoa'), ('realty'),
    ('veterinary'), ('kennel'), ('kennels'), ('cattery'), ('nursery'), ('apartment'),
    ('incorporated'), ('corporation'), ('enterprises')
ON CONFLICT (keyword) DO NOTHING;
