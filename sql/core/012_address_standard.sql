-- The address standard (issue 17, item 2): USPS Publication 28's tables as data, read by
-- trapper.address_parts / trapper.address_key (functions/normalizers.sql), and what a place
-- keeps out of its key. docs/identity.md, "Places".

-- Appendix C1: every written form of a street suffix (the standard abbreviations, the
-- spelled-out names and the common misspellings) with its standard abbreviation; the
-- standard abbreviation is always one of the written forms.
-- ends_street: the word is usually the street's type ("Rd", "Blvd"); false for words that
-- are as often part of the name ("Stony Point Rd", "Bennett Valley Rd", "Rohnert Park"),
-- which end a street in a line with no commas only when nothing better does.
CREATE TABLE trapper.address_street_suffixes (
    written      text PRIMARY KEY,
    standard     text NOT NULL,
    primary_name text NOT NULL,
    ends_street  boolean NOT NULL DEFAULT true
);

-- Pre- and post-directionals.
CREATE TABLE trapper.address_directionals (
    written  text PRIMARY KEY,
    standard text NOT NULL CHECK (standard IN ('n', 's', 'e', 'w', 'ne', 'nw', 'se', 'sw'))
);

-- Ordinal words (First … Ninety-ninth are these rows and their compounds, "twenty-first"):
-- kind 'ordinal' is an ordinal word, 'tens' a tens word that may precede one.
CREATE TABLE trapper.address_ordinals (
    written text PRIMARY KEY,
    number  integer NOT NULL CHECK (number BETWEEN 1 AND 90),
    kind    text NOT NULL CHECK (kind IN ('ordinal', 'tens'))
);

-- Appendix C2: secondary unit designators. needs_id: "Apt 5", "Ste 200"; false for "Rear",
-- "Upper", which are the unit themselves. The key holds the unit's id, not its designator
-- ("Apt 5", "Unit 5", "#5" are one unit).
CREATE TABLE trapper.address_unit_designators (
    written  text PRIMARY KEY,
    standard text NOT NULL,
    needs_id boolean NOT NULL DEFAULT true
);

INSERT INTO trapper.address_street_suffixes (written, standard, primary_name, ends_street) VALUES
    ('allee', 'aly', 'alley', true), ('alley', 'aly', 'alley', true), ('ally', 'aly', 'alley', true), ('aly', 'aly', 'alley', true),
    ('anex', 'anx', 'anex', true), ('annex', 'anx', 'anex', true), ('annx', 'anx', 'anex', true), ('anx', 'anx', 'anex', true),
    ('arc', 'arc', 'arcade', true), ('arcade', 'arc', 'arcade', true), ('av', 'ave', 'avenue', true), ('ave', 'ave', 'avenue', true),
    ('aven', 'ave', 'avenue', true), ('avenu', 'ave', 'avenue', true), ('avenue', 'ave', 'avenue', true), ('avn', 'ave', 'avenue', true),
    ('avnue', 'ave', 'avenue', true), ('avne', 'ave', 'avenue', true), ('aveneu', 'ave', 'avenue', true), ('bayoo', 'byu', 'bayou', false),
    ('bayou', 'byu', 'bayou', false), ('byu', 'byu', 'bayou', false), ('bch', 'bch', 'beach', false), ('beach', 'bch', 'beach', false),
    ('bend', 'bnd', 'bend', false), ('bnd', 'bnd', 'bend', false), ('blf', 'blf', 'bluff', false), ('bluf', 'blf', 'bluff', false),
    ('bluff', 'blf', 'bluff', false), ('bluffs', 'blfs', 'bluffs', false), ('blfs', 'blfs', 'bluffs', false), ('bot', 'btm', 'bottom', false),
    ('btm', 'btm', 'bottom', false), ('bottm', 'btm', 'bottom', false), ('bottom', 'btm', 'bottom', false), ('blvd', 'blvd', 'boulevard', true),
    ('boul', 'blvd', 'boulevard', true), ('boulevard', 'blvd', 'boulevard', true), ('boulv', 'blvd', 'boulevard', true), ('blv', 'blvd', 'boulevard', true),
    ('blvrd', 'blvd', 'boulevard', true), ('bvld', 'blvd', 'boulevard', true), ('boulavard', 'blvd', 'boulevard', true), ('boulevarde', 'blvd', 'boulevard', true),
    ('br', 'br', 'branch', false), ('brnch', 'br', 'branch', false), ('branch', 'br', 'branch', false), ('brdge', 'brg', 'bridge', false),
    ('brg', 'brg', 'bridge', false), ('bridge', 'brg', 'bridge', false), ('brk', 'brk', 'brook', false), ('brook', 'brk', 'brook', false),
    ('brooks', 'brks', 'brooks', false), ('brks', 'brks', 'brooks', false), ('burg', 'bg', 'burg', false), ('bg', 'bg', 'burg', false),
    ('burgs', 'bgs', 'burgs', false), ('bgs', 'bgs', 'burgs', false), ('byp', 'byp', 'bypass', true), ('bypa', 'byp', 'bypass', true),
    ('bypas', 'byp', 'bypass', true), ('bypass', 'byp', 'bypass', true), ('byps', 'byp', 'bypass', true), ('camp', 'cp', 'camp', false),
    ('cp', 'cp', 'camp', false), ('cmp', 'cp', 'camp', false), ('canyn', 'cyn', 'canyon', false), ('canyon', 'cyn', 'canyon', false),
    ('cnyn', 'cyn', 'canyon', false), ('cyn', 'cyn', 'canyon', false), ('cape', 'cpe', 'cape', false), ('cpe', 'cpe', 'cape', false),
    ('causeway', 'cswy', 'causeway', true), ('causwa', 'cswy', 'causeway', true), ('cswy', 'cswy', 'causeway', true), ('cen', 'ctr', 'center', false),
    ('cent', 'ctr', 'center', false), ('center', 'ctr', 'center', false), ('centr', 'ctr', 'center', false), ('centre', 'ctr', 'center', false),
    ('cnter', 'ctr', 'center', false), ('cntr', 'ctr', 'center', false), ('ctr', 'ctr', 'center', false), ('centers', 'ctrs', 'centers', false),
    ('ctrs', 'ctrs', 'centers', false), ('cir', 'cir', 'circle', true), ('circ', 'cir', 'circle', true), ('circl', 'cir', 'circle', true),
    ('circle', 'cir', 'circle', true), ('crcl', 'cir', 'circle', true), ('crcle', 'cir', 'circle', true), ('circles', 'cirs', 'circles', true),
    ('cirs', 'cirs', 'circles', true), ('clf', 'clf', 'cliff', false), ('cliff', 'clf', 'cliff', false), ('clfs', 'clfs', 'cliffs', false),
    ('cliffs', 'clfs', 'cliffs', false), ('clb', 'clb', 'club', false), ('club', 'clb', 'club', false), ('common', 'cmn', 'common', false),
    ('cmn', 'cmn', 'common', false), ('commons', 'cmns', 'commons', false), ('cmns', 'cmns', 'commons', false), ('cor', 'cor', 'corner', false),
    ('corner', 'cor', 'corner', false), ('corners', 'cors', 'corners', false), ('cors', 'cors', 'corners', false), ('course', 'crse', 'course', false),
    ('crse', 'crse', 'course', false), ('court', 'ct', 'court', true), ('ct', 'ct', 'court', true), ('crt', 'ct', 'court', true),
    ('courts', 'cts', 'courts', true), ('cts', 'cts', 'courts', true), ('cove', 'cv', 'cove', false), ('cv', 'cv', 'cove', false),
    ('coves', 'cvs', 'coves', false), ('cvs', 'cvs', 'coves', false), ('creek', 'crk', 'creek', false), ('crk', 'crk', 'creek', false),
    ('crescent', 'cres', 'crescent', true), ('cres', 'cres', 'crescent', true), ('crsent', 'cres', 'crescent', true), ('crsnt', 'cres', 'crescent', true),
    ('crest', 'crst', 'crest', false), ('crst', 'crst', 'crest', false), ('crossing', 'xing', 'crossing', false), ('crssng', 'xing', 'crossing', false),
    ('xing', 'xing', 'crossing', false), ('crossroad', 'xrd', 'crossroad', true), ('xrd', 'xrd', 'crossroad', true), ('crossroads', 'xrds', 'crossroads', true),
    ('xrds', 'xrds', 'crossroads', true), ('curve', 'curv', 'curve', true), ('curv', 'curv', 'curve', true), ('dale', 'dl', 'dale', false),
    ('dl', 'dl', 'dale', false), ('dam', 'dm', 'dam', false), ('dm', 'dm', 'dam', false), ('div', 'dv', 'divide', false),
    ('divide', 'dv', 'divide', false), ('dv', 'dv', 'divide', false), ('dvd', 'dv', 'divide', false), ('dr', 'dr', 'drive', true),
    ('driv', 'dr', 'drive', true), ('drive', 'dr', 'drive', true), ('drv', 'dr', 'drive', true), ('drives', 'drs', 'drives', true),
    ('drs', 'drs', 'drives', true), ('est', 'est', 'estate', false), ('estate', 'est', 'estate', false), ('estates', 'ests', 'estates', false),
    ('ests', 'ests', 'estates', false), ('exp', 'expy', 'expressway', true), ('expr', 'expy', 'expressway', true), ('express', 'expy', 'expressway', true),
    ('expressway', 'expy', 'expressway', true), ('expw', 'expy', 'expressway', true), ('expy', 'expy', 'expressway', true), ('ext', 'ext', 'extension', true),
    ('extension', 'ext', 'extension', true), ('extn', 'ext', 'extension', true), ('extnsn', 'ext', 'extension', true), ('exts', 'exts', 'extensions', true),
    ('fall', 'fall', 'fall', false), ('falls', 'fls', 'falls', false), ('fls', 'fls', 'falls', false), ('ferry', 'fry', 'ferry', false),
    ('frry', 'fry', 'ferry', false), ('fry', 'fry', 'ferry', false), ('field', 'fld', 'field', false), ('fld', 'fld', 'field', false),
    ('fields', 'flds', 'fields', false), ('flds', 'flds', 'fields', false), ('flat', 'flt', 'flat', false), ('flt', 'flt', 'flat', false),
    ('flats', 'flts', 'flats', false), ('flts', 'flts', 'flats', false), ('ford', 'frd', 'ford', false), ('frd', 'frd', 'ford', false),
    ('fords', 'frds', 'fords', false), ('frds', 'frds', 'fords', false), ('forest', 'frst', 'forest', false), ('forests', 'frst', 'forest', false),
    ('frst', 'frst', 'forest', false), ('forg', 'frg', 'forge', false), ('forge', 'frg', 'forge', false), ('frg', 'frg', 'forge', false),
    ('forges', 'frgs', 'forges', false), ('frgs', 'frgs', 'forges', false), ('fork', 'frk', 'fork', false), ('frk', 'frk', 'fork', false),
    ('forks', 'frks', 'forks', false), ('frks', 'frks', 'forks', false), ('fort', 'ft', 'fort', false), ('frt', 'ft', 'fort', false),
    ('ft', 'ft', 'fort', false), ('freeway', 'fwy', 'freeway', true), ('freewy', 'fwy', 'freeway', true), ('frway', 'fwy', 'freeway', true),
    ('frwy', 'fwy', 'freeway', true), ('fwy', 'fwy', 'freeway', true), ('garden', 'gdn', 'garden', false), ('gardn', 'gdn', 'garden', false),
    ('grden', 'gdn', 'garden', false), ('grdn', 'gdn', 'garden', false), ('gdn', 'gdn', 'garden', false), ('gardens', 'gdns', 'gardens', false),
    ('gdns', 'gdns', 'gardens', false), ('grdns', 'gdns', 'gardens', false), ('gateway', 'gtwy', 'gateway', true), ('gatewy', 'gtwy', 'gateway', true),
    ('gatway', 'gtwy', 'gateway', true), ('gtway', 'gtwy', 'gateway', true), ('gtwy', 'gtwy', 'gateway', true), ('glen', 'gln', 'glen', false),
    ('gln', 'gln', 'glen', false), ('glens', 'glns', 'glens', false), ('glns', 'glns', 'glens', false), ('green', 'grn', 'green', false),
    ('grn', 'grn', 'green', false), ('greens', 'grns', 'greens', false), ('grns', 'grns', 'greens', false), ('grov', 'grv', 'grove', false),
    ('grove', 'grv', 'grove', false), ('grv', 'grv', 'grove', false), ('groves', 'grvs', 'groves', false), ('grvs', 'grvs', 'groves', false),
    ('harb', 'hbr', 'harbor', false), ('harbor', 'hbr', 'harbor', false), ('harbr', 'hbr', 'harbor', false), ('hbr', 'hbr', 'harbor', false),
    ('hrbor', 'hbr', 'harbor', false), ('harbors', 'hbrs', 'harbors', false), ('hbrs', 'hbrs', 'harbors', false), ('haven', 'hvn', 'haven', false),
    ('hvn', 'hvn', 'haven', false), ('ht', 'hts', 'heights', false), ('hts', 'hts', 'heights', false), ('heights', 'hts', 'heights', false),
    ('highway', 'hwy', 'highway', true), ('highwy', 'hwy', 'highway', true), ('hiway', 'hwy', 'highway', true), ('hiwy', 'hwy', 'highway', true),
    ('hway', 'hwy', 'highway', true), ('hwy', 'hwy', 'highway', true), ('hill', 'hl', 'hill', false), ('hl', 'hl', 'hill', false),
    ('hills', 'hls', 'hills', false), ('hls', 'hls', 'hills', false), ('hllw', 'holw', 'hollow', false), ('hollow', 'holw', 'hollow', false),
    ('hollows', 'holw', 'hollow', false), ('holw', 'holw', 'hollow', false), ('holws', 'holw', 'hollow', false), ('inlt', 'inlt', 'inlet', false),
    ('inlet', 'inlt', 'inlet', false), ('is', 'is', 'island', false), ('island', 'is', 'island', false), ('islnd', 'is', 'island', false),
    ('islands', 'iss', 'islands', false), ('islnds', 'iss', 'islands', false), ('iss', 'iss', 'islands', false), ('isle', 'isle', 'isle', false),
    ('isles', 'isle', 'isle', false), ('jct', 'jct', 'junction', false), ('jction', 'jct', 'junction', false), ('jctn', 'jct', 'junction', false),
    ('junction', 'jct', 'junction', false), ('junctn', 'jct', 'junction', false), ('juncton', 'jct', 'junction', false), ('jctns', 'jcts', 'junctions', false),
    ('jcts', 'jcts', 'junctions', false), ('junctions', 'jcts', 'junctions', false), ('key', 'ky', 'key', false), ('ky', 'ky', 'key', false),
    ('keys', 'kys', 'keys', false), ('kys', 'kys', 'keys', false), ('knl', 'knl', 'knoll', false), ('knol', 'knl', 'knoll', false),
    ('knoll', 'knl', 'knoll', false), ('knls', 'knls', 'knolls', false), ('knolls', 'knls', 'knolls', false), ('lk', 'lk', 'lake', false),
    ('lake', 'lk', 'lake', false), ('lks', 'lks', 'lakes', false), ('lakes', 'lks', 'lakes', false), ('land', 'land', 'land', false),
    ('landing', 'lndg', 'landing', false), ('lndg', 'lndg', 'landing', false), ('lndng', 'lndg', 'landing', false), ('lane', 'ln', 'lane', true),
    ('ln', 'ln', 'lane', true), ('lgt', 'lgt', 'light', false), ('light', 'lgt', 'light', false), ('lights', 'lgts', 'lights', false),
    ('lgts', 'lgts', 'lights', false), ('lf', 'lf', 'loaf', false), ('loaf', 'lf', 'loaf', false), ('lck', 'lck', 'lock', false),
    ('lock', 'lck', 'lock', false), ('lcks', 'lcks', 'locks', false), ('locks', 'lcks', 'locks', false), ('ldg', 'ldg', 'lodge', false),
    ('ldge', 'ldg', 'lodge', false), ('lodg', 'ldg', 'lodge', false), ('lodge', 'ldg', 'lodge', false), ('loop', 'loop', 'loop', true),
    ('loops', 'loop', 'loop', true), ('mall', 'mall', 'mall', true), ('mnr', 'mnr', 'manor', false), ('manor', 'mnr', 'manor', false),
    ('manors', 'mnrs', 'manors', false), ('mnrs', 'mnrs', 'manors', false), ('meadow', 'mdw', 'meadow', false), ('mdw', 'mdw', 'meadow', false),
    ('mdws', 'mdws', 'meadows', false), ('meadows', 'mdws', 'meadows', false), ('medows', 'mdws', 'meadows', false), ('mews', 'mews', 'mews', true),
    ('mill', 'ml', 'mill', false), ('ml', 'ml', 'mill', false), ('mills', 'mls', 'mills', false), ('mls', 'mls', 'mills', false),
    ('missn', 'msn', 'mission', false), ('mssn', 'msn', 'mission', false), ('msn', 'msn', 'mission', false), ('motorway', 'mtwy', 'motorway', true),
    ('mtwy', 'mtwy', 'motorway', true), ('mnt', 'mt', 'mount', false), ('mt', 'mt', 'mount', false), ('mount', 'mt', 'mount', false),
    ('mntain', 'mtn', 'mountain', false), ('mntn', 'mtn', 'mountain', false), ('mountain', 'mtn', 'mountain', false), ('mountin', 'mtn', 'mountain', false),
    ('mtin', 'mtn', 'mountain', false), ('mtn', 'mtn', 'mountain', false), ('mntns', 'mtns', 'mountains', false), ('mountains', 'mtns', 'mountains', false),
    ('mtns', 'mtns', 'mountains', false), ('nck', 'nck', 'neck', false), ('neck', 'nck', 'neck', false), ('orch', 'orch', 'orchard', false),
    ('orchard', 'orch', 'orchard', false), ('orchrd', 'orch', 'orchard', false), ('oval', 'oval', 'oval', true), ('ovl', 'oval', 'oval', true),
    ('overpass', 'opas', 'overpass', true), ('opas', 'opas', 'overpass', true), ('park', 'park', 'park', false), ('prk', 'park', 'park', false),
    ('parks', 'park', 'parks', false), ('parkway', 'pkwy', 'parkway', true), ('parkwy', 'pkwy', 'parkway', true), ('pkway', 'pkwy', 'parkway', true),
    ('pkwy', 'pkwy', 'parkway', true), ('pky', 'pkwy', 'parkway', true), ('parkways', 'pkwy', 'parkways', true), ('pkwys', 'pkwy', 'parkways', true),
    ('pass', 'pass', 'pass', true), ('passage', 'psge', 'passage', true), ('psge', 'psge', 'passage', true), ('path', 'path', 'path', true),
    ('paths', 'path', 'path', true), ('pike', 'pike', 'pike', true), ('pikes', 'pike', 'pike', true), ('pine', 'pne', 'pine', false),
    ('pne', 'pne', 'pine', false), ('pines', 'pnes', 'pines', false), ('pnes', 'pnes', 'pines', false), ('pl', 'pl', 'place', true),
    ('place', 'pl', 'place', true), ('plc', 'pl', 'place', true), ('plain', 'pln', 'plain', false), ('pln', 'pln', 'plain', false),
    ('plains', 'plns', 'plains', false), ('plns', 'plns', 'plains', false), ('plaza', 'plz', 'plaza', true), ('plz', 'plz', 'plaza', true),
    ('plza', 'plz', 'plaza', true), ('point', 'pt', 'point', false), ('pt', 'pt', 'point', false), ('points', 'pts', 'points', false),
    ('pts', 'pts', 'points', false), ('port', 'prt', 'port', false), ('prt', 'prt', 'port', false), ('ports', 'prts', 'ports', false),
    ('prts', 'prts', 'ports', false), ('pr', 'pr', 'prairie', false), ('prairie', 'pr', 'prairie', false), ('prr', 'pr', 'prairie', false),
    ('rad', 'radl', 'radial', true), ('radial', 'radl', 'radial', true), ('radiel', 'radl', 'radial', true), ('radl', 'radl', 'radial', true),
    ('ramp', 'ramp', 'ramp', true), ('ranch', 'rnch', 'ranch', false), ('ranches', 'rnch', 'ranch', false), ('rnch', 'rnch', 'ranch', false),
    ('rnchs', 'rnch', 'ranch', false), ('rapid', 'rpd', 'rapid', false), ('rpd', 'rpd', 'rapid', false), ('rapids', 'rpds', 'rapids', false),
    ('rpds', 'rpds', 'rapids', false), ('rest', 'rst', 'rest', false), ('rst', 'rst', 'rest', false), ('rdg', 'rdg', 'ridge', false),
    ('rdge', 'rdg', 'ridge', false), ('ridge', 'rdg', 'ridge', false), ('rdgs', 'rdgs', 'ridges', false), ('ridges', 'rdgs', 'ridges', false),
    ('riv', 'riv', 'river', false), ('river', 'riv', 'river', false), ('rvr', 'riv', 'river', false), ('rivr', 'riv', 'river', false),
    ('rd', 'rd', 'road', true), ('road', 'rd', 'road', true), ('raod', 'rd', 'road', true), ('roads', 'rds', 'roads', true),
    ('rds', 'rds', 'roads', true), ('route', 'rte', 'route', true), ('rte', 'rte', 'route', true), ('row', 'row', 'row', true),
    ('rue', 'rue', 'rue', true), ('run', 'run', 'run', true), ('shl', 'shl', 'shoal', false), ('shoal', 'shl', 'shoal', false),
    ('shls', 'shls', 'shoals', false), ('shoals', 'shls', 'shoals', false), ('shoar', 'shr', 'shore', false), ('shore', 'shr', 'shore', false),
    ('shr', 'shr', 'shore', false), ('shoars', 'shrs', 'shores', false), ('shores', 'shrs', 'shores', false), ('shrs', 'shrs', 'shores', false),
    ('skyway', 'skwy', 'skyway', true), ('skwy', 'skwy', 'skyway', true), ('spg', 'spg', 'spring', false), ('spng', 'spg', 'spring', false),
    ('spring', 'spg', 'spring', false), ('sprng', 'spg', 'spring', false), ('spgs', 'spgs', 'springs', false), ('spngs', 'spgs', 'springs', false),
    ('springs', 'spgs', 'springs', false), ('sprngs', 'spgs', 'springs', false), ('spur', 'spur', 'spur', true), ('spurs', 'spur', 'spur', true),
    ('sq', 'sq', 'square', true), ('sqr', 'sq', 'square', true), ('sqre', 'sq', 'square', true), ('squ', 'sq', 'square', true),
    ('square', 'sq', 'square', true), ('sqrs', 'sqs', 'squares', true), ('squares', 'sqs', 'squares', true), ('sqs', 'sqs', 'squares', true),
    ('sta', 'sta', 'station', false), ('station', 'sta', 'station', false), ('statn', 'sta', 'station', false), ('stn', 'sta', 'station', false),
    ('stra', 'stra', 'stravenue', true), ('strav', 'stra', 'stravenue', true), ('straven', 'stra', 'stravenue', true), ('stravenue', 'stra', 'stravenue', true),
    ('stravn', 'stra', 'stravenue', true), ('strvn', 'stra', 'stravenue', true), ('strvnue', 'stra', 'stravenue', true), ('stream', 'strm', 'stream', false),
    ('streme', 'strm', 'stream', false), ('strm', 'strm', 'stream', false), ('street', 'st', 'street', true), ('strt', 'st', 'street', true),
    ('st', 'st', 'street', true), ('str', 'st', 'street', true), ('stret', 'st', 'street', true), ('steet', 'st', 'street', true),
    ('streets', 'sts', 'streets', true), ('sts', 'sts', 'streets', true), ('smt', 'smt', 'summit', false), ('sumit', 'smt', 'summit', false),
    ('sumitt', 'smt', 'summit', false), ('summit', 'smt', 'summit', false), ('ter', 'ter', 'terrace', true), ('terr', 'ter', 'terrace', true),
    ('terrace', 'ter', 'terrace', true), ('throughway', 'trwy', 'throughway', true), ('trwy', 'trwy', 'throughway', true), ('trace', 'trce', 'trace', true),
    ('traces', 'trce', 'trace', true), ('trce', 'trce', 'trace', true), ('track', 'trak', 'track', true), ('tracks', 'trak', 'track', true),
    ('trak', 'trak', 'track', true), ('trk', 'trak', 'track', true), ('trks', 'trak', 'track', true), ('trafficway', 'trfy', 'trafficway', true),
    ('trfy', 'trfy', 'trafficway', true), ('trail', 'trl', 'trail', true), ('trails', 'trl', 'trail', true), ('trl', 'trl', 'trail', true),
    ('trls', 'trl', 'trail', true), ('trailer', 'trlr', 'trailer', false), ('trlr', 'trlr', 'trailer', false), ('trlrs', 'trlr', 'trailer', false),
    ('tunel', 'tunl', 'tunnel', true), ('tunl', 'tunl', 'tunnel', true), ('tunls', 'tunl', 'tunnel', true), ('tunnel', 'tunl', 'tunnel', true),
    ('tunnels', 'tunl', 'tunnel', true), ('tunnl', 'tunl', 'tunnel', true), ('trnpk', 'tpke', 'turnpike', true), ('turnpike', 'tpke', 'turnpike', true),
    ('turnpk', 'tpke', 'turnpike', true), ('tpke', 'tpke', 'turnpike', true), ('underpass', 'upas', 'underpass', true), ('upas', 'upas', 'underpass', true),
    ('un', 'un', 'union', false), ('union', 'un', 'union', false), ('unions', 'uns', 'unions', false), ('uns', 'uns', 'unions', false),
    ('valley', 'vly', 'valley', false), ('vally', 'vly', 'valley', false), ('vlly', 'vly', 'valley', false), ('vly', 'vly', 'valley', false),
    ('valleys', 'vlys', 'valleys', false), ('vlys', 'vlys', 'valleys', false), ('vdct', 'via', 'viaduct', true), ('via', 'via', 'viaduct', true),
    ('viadct', 'via', 'viaduct', true), ('viaduct', 'via', 'viaduct', true), ('view', 'vw', 'view', false), ('vw', 'vw', 'view', false),
    ('views', 'vws', 'views', false), ('vws', 'vws', 'views', false), ('vill', 'vlg', 'village', false), ('villag', 'vlg', 'village', false),
    ('village', 'vlg', 'village', false), ('villg', 'vlg', 'village', false), ('villiage', 'vlg', 'village', false), ('vlg', 'vlg', 'village', false),
    ('villages', 'vlgs', 'villages', false), ('vlgs', 'vlgs', 'villages', false), ('ville', 'vl', 'ville', false), ('vl', 'vl', 'ville', false),
    ('vis', 'vis', 'vista', false), ('vist', 'vis', 'vista', false), ('vista', 'vis', 'vista', false), ('vst', 'vis', 'vista', false),
    ('vsta', 'vis', 'vista', false), ('walk', 'walk', 'walk', true), ('walks', 'walk', 'walks', true), ('wall', 'wall', 'wall', false),
    ('wy', 'way', 'way', true), ('way', 'way', 'way', true), ('ways', 'ways', 'ways', true), ('well', 'wl', 'well', false),
    ('wl', 'wl', 'well', false), ('wells', 'wls', 'wells', false), ('wls', 'wls', 'wells', false);

INSERT INTO trapper.address_directionals (written, standard) VALUES
    ('n', 'n'), ('north', 'n'), ('s', 's'), ('south', 's'), ('e', 'e'), ('east', 'e'),
    ('w', 'w'), ('west', 'w'), ('ne', 'ne'), ('northeast', 'ne'), ('nw', 'nw'),
    ('northwest', 'nw'), ('se', 'se'), ('southeast', 'se'), ('sw', 'sw'), ('southwest', 'sw');

INSERT INTO trapper.address_ordinals (written, number, kind) VALUES
    ('first', 1, 'ordinal'), ('second', 2, 'ordinal'), ('third', 3, 'ordinal'),
    ('fourth', 4, 'ordinal'), ('fifth', 5, 'ordinal'), ('sixth', 6, 'ordinal'),
    ('seventh', 7, 'ordinal'), ('eighth', 8, 'ordinal'), ('ninth', 9, 'ordinal'),
    ('tenth', 10, 'ordinal'), ('eleventh', 11, 'ordinal'), ('twelfth', 12, 'ordinal'),
    ('thirteenth', 13, 'ordinal'), ('fourteenth', 14, 'ordinal'), ('fifteenth', 15, 'ordinal'),
    ('sixteenth', 16, 'ordinal'), ('seventeenth', 17, 'ordinal'),
    ('eighteenth', 18, 'ordinal'), ('nineteenth', 19, 'ordinal'), ('twentieth', 20, 'ordinal'),
    ('thirtieth', 30, 'ordinal'), ('fortieth', 40, 'ordinal'), ('fiftieth', 50, 'ordinal'),
    ('sixtieth', 60, 'ordinal'), ('seventieth', 70, 'ordinal'), ('eightieth', 80, 'ordinal'),
    ('ninetieth', 90, 'ordinal'),
    ('twenty', 20, 'tens'), ('thirty', 30, 'tens'), ('forty', 40, 'tens'), ('fifty', 50, 'tens'),
    ('sixty', 60, 'tens'), ('seventy', 70, 'tens'), ('eighty', 80, 'tens'),
    ('ninety', 90, 'tens');

INSERT INTO trapper.address_unit_designators (written, standard, needs_id) VALUES
    ('#', '#', true), ('apt', 'apt', true), ('apartment', 'apt', true), ('unit', 'unit', true),
    ('ste', 'ste', true), ('suite', 'ste', true), ('bldg', 'bldg', true),
    ('building', 'bldg', true), ('dept', 'dept', true), ('department', 'dept', true),
    ('fl', 'fl', true), ('floor', 'fl', true), ('hngr', 'hngr', true), ('hangar', 'hngr', true),
    ('lot', 'lot', true), ('pier', 'pier', true), ('rm', 'rm', true), ('room', 'rm', true),
    ('slip', 'slip', true), ('spc', 'spc', true), ('space', 'spc', true),
    ('stop', 'stop', true), ('trlr', 'trlr', true), ('trailer', 'trlr', true),
    ('bsmt', 'bsmt', false), ('basement', 'bsmt', false), ('frnt', 'frnt', false),
    ('front', 'frnt', false), ('lbby', 'lbby', false), ('lobby', 'lbby', false),
    ('lowr', 'lowr', false), ('lower', 'lowr', false), ('ofc', 'ofc', false),
    ('office', 'ofc', false), ('ph', 'ph', false), ('penthouse', 'ph', false),
    ('rear', 'rear', false), ('side', 'side', false), ('uppr', 'uppr', false),
    ('upper', 'uppr', false);

-- What a place keeps out of its key: the kind of place its address names, and the notes
-- ("between 4th and 5th sts", "(behind the Safeway)", a landmark before the number, a
-- house-number range).
ALTER TABLE trapper.places
    ADD COLUMN address_kind text CHECK (address_kind IN ('address', 'intersection', 'landmark')),
    ADD COLUMN address_note text;

-- Existing places: their keys under the standard (trapper.rekey_places, functions/places.sql):
-- a place whose key changes takes the new one; places that now share a key are merged into
-- the oldest. Run again by hand after editing the tables above.
SELECT trapper.rekey_places();
