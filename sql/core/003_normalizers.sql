-- Normalisers, callable from SQL (routing rules name them). No extension is required: the
-- embedded server has no pg_trgm, fuzzystrmatch or unaccent, so these stand alone and are
-- tested against the Python libraries (tests/test_normalizers.py).
--
-- Its functions, views and triggers live in functions/normalizers.sql (re-applied when they
-- change; docs/operations.md, "Installing and uninstalling").

-- Given names that are the same person's (Robert/Bob). Data, so staff can add pairs.
CREATE TABLE trapper.name_nicknames (
    name      text NOT NULL,
    nickname  text NOT NULL,
    PRIMARY KEY (name, nickname)
);
INSERT INTO trapper.name_nicknames (name, nickname) VALUES
    ('robert', 'bob'), ('robert', 'rob'), ('robert', 'bobby'), ('william', 'bill'),
    ('william', 'will'), ('william', 'billy'), ('richard', 'rick'), ('richard', 'dick'),
    ('james', 'jim'), ('james', 'jimmy'), ('michael', 'mike'), ('elizabeth', 'liz'),
    ('elizabeth', 'beth'), ('elizabeth', 'betty'), ('jennifer', 'jen'), ('jennifer', 'jenny'),
    ('margaret', 'peggy'), ('margaret', 'maggie'), ('katherine', 'kathy'),
    ('katherine', 'kate'), ('catherine', 'cathy'), ('christopher', 'chris'),
    ('joseph', 'joe'), ('thomas', 'tom'), ('daniel', 'dan'), ('daniel', 'danny'),
    ('matthew', 'matt'), ('anthony', 'tony'), ('patricia', 'pat'), ('patricia', 'patty'),
    ('deborah', 'deb'), ('deborah', 'debbie'), ('stephanie', 'steph'), ('rebecca', 'becky'),
    ('kimberly', 'kim'), ('samantha', 'sam'), ('samuel', 'sam'), ('nicholas', 'nick'),
    ('jonathan', 'jon'), ('benjamin', 'ben'), ('alexander', 'alex'), ('gregory', 'greg'),
    ('timothy', 'tim'), ('kenneth', 'ken'), ('jacqueline', 'jackie'), ('victoria', 'vicky'),
    ('susan', 'sue'), ('barbara', 'barb'), ('cynthia', 'cindy'), ('andrew', 'andy'),
    ('steven', 'steve'), ('stephen', 'steve'), ('edward', 'ed'), ('edward', 'eddie'),
    ('donald', 'don'), ('ronald', 'ron'), ('lawrence', 'larry'), ('raymond', 'ray'),
    ('gerald', 'jerry'), ('douglas', 'doug'), ('zachary', 'zach'), ('abigail', 'abby'),
    ('jessica', 'jess'), ('pamela', 'pam'), ('sandra', 'sandy'), ('dorothy', 'dot'),
    ('frances', 'fran'), ('theresa', 'terry'), ('teresa', 'terry'), ('judith', 'judy'),
    ('francisco', 'paco'), ('guadalupe', 'lupe'), ('jose', 'pepe');
