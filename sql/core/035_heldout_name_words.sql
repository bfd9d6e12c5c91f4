-- Names the held-out set (tests/corpus/heldout/, docs/identity.md "The held-out set") typed
-- that the vocabulary did not know, and the classes they stand for:
--
-- Given names' common short forms (trapper.name_nicknames, read by name_compare): "Dave" and
-- "David" with one phone were two people, a household; the table had no David, Peter,
-- Charles, John/Jack or Spanish short forms (Memo, Nacho, Chuy, Pancho, Lola, Beto).
INSERT INTO trapper.name_nicknames (name, nickname) VALUES
    ('david', 'dave'), ('david', 'davey'), ('peter', 'pete'), ('philip', 'phil'),
    ('phillip', 'phil'), ('jeffrey', 'jeff'), ('geoffrey', 'geoff'), ('nathaniel', 'nate'),
    ('nathan', 'nate'), ('joshua', 'josh'), ('jacob', 'jake'), ('charles', 'chuck'),
    ('charles', 'charlie'), ('henry', 'hank'), ('henry', 'harry'), ('john', 'jack'),
    ('john', 'johnny'), ('joseph', 'joey'), ('thomas', 'tommy'), ('michael', 'mikey'),
    ('richard', 'rich'), ('richard', 'richie'), ('robert', 'robbie'), ('william', 'liam'),
    ('alfred', 'al'), ('albert', 'al'), ('alan', 'al'), ('leonard', 'len'), ('leonard', 'leo'),
    ('frederick', 'fred'), ('walter', 'walt'), ('eugene', 'gene'), ('vincent', 'vince'),
    ('gabriel', 'gabe'), ('patrick', 'pat'), ('terrence', 'terry'), ('timothy', 'timmy'),
    ('theodore', 'ted'), ('theodore', 'teddy'), ('edward', 'ted'), ('edward', 'ned'),
    ('andrew', 'drew'), ('nicholas', 'nicky'), ('benjamin', 'benny'), ('samuel', 'sammy'),
    ('matthew', 'matty'), ('zachary', 'zack'), ('gerald', 'gerry'), ('harold', 'hal'),
    ('stanley', 'stan'), ('randall', 'randy'), ('ronald', 'ronnie'), ('donald', 'donnie'),
    ('russell', 'russ'), ('franklin', 'frank'), ('francis', 'frank'), ('ernest', 'ernie'),
    ('herbert', 'herb'), ('wesley', 'wes'), ('bradley', 'brad'), ('elizabeth', 'lizzie'),
    ('elizabeth', 'betsy'), ('elizabeth', 'libby'),
    ('margaret', 'meg'), ('margaret', 'marge'), ('katherine', 'katie'),
    ('kathleen', 'kathy'), ('kathleen', 'kate'), ('christine', 'chris'),
    ('christina', 'chris'), ('christina', 'tina'), ('susan', 'suzy'), ('susan', 'susie'),
    ('suzanne', 'sue'), ('melissa', 'missy'), ('melissa', 'mel'), ('melanie', 'mel'),
    ('cassandra', 'cassie'), ('alexandra', 'alex'), ('alexandra', 'sasha'),
    ('victoria', 'tori'), ('virginia', 'ginny'), ('valerie', 'val'), ('beverly', 'bev'),
    ('rebecca', 'becca'), ('jennifer', 'jenn'), ('jessica', 'jessie'), ('angela', 'angie'),
    ('dorothy', 'dottie'), ('gwendolyn', 'gwen'), ('josephine', 'josie'),
    ('madeline', 'maddie'), ('allison', 'allie'), ('natalie', 'nat'), ('penelope', 'penny'),
    ('guillermo', 'memo'), ('ignacio', 'nacho'), ('jesus', 'chuy'), ('enrique', 'kike'),
    ('alejandro', 'alex'), ('roberto', 'beto'), ('alberto', 'beto'), ('eduardo', 'lalo'),
    ('francisco', 'pancho'), ('dolores', 'lola'), ('concepcion', 'concha'),
    ('rosario', 'charo'), ('guadalupe', 'lupita'), ('graciela', 'chela'),
    ('margarita', 'rita'), ('antonio', 'tony'), ('manuel', 'manny'), ('manuel', 'manolo')
ON CONFLICT DO NOTHING;

-- Rescue groups' names (trapper.organization_keywords, whole words): "Friends of Ferals",
-- "Alley Cat Allies", "Fort Bragg Feral Cat Project" became people.
INSERT INTO trapper.organization_keywords (keyword) VALUES
    ('ferals'), ('friends'), ('allies'), ('alliance'), ('coalition'), ('network'),
    ('sanctuary'), ('project'), ('volunteers'), ('vet'), ('vets'), ('veterinarian')
ON CONFLICT (keyword) DO NOTHING;

-- What a clinic types for a walk-in it did not ask the name of ("WALK IN", "Walk-in",
-- "walk in client", "Drop off"): a placeholder, which became one person per spelling,
-- holding the clinic's phone.
INSERT INTO trapper.name_placeholder_words (word) VALUES
    ('walk'), ('in'), ('walkin'), ('walkins'), ('drop'), ('off'), ('dropoff')
ON CONFLICT (word) DO NOTHING;
