-- Normalisers, callable from SQL (routing rules name them). No extension is required: the
-- embedded server has no pg_trgm, fuzzystrmatch or unaccent, so these stand alone and are
-- tested against the Python libraries (tests/test_normalizers.py).

-- A source's record id as text: a whole number is its digits however the export wrote it
-- (2, 2.0, " 2 "; a JSON export's float ids), so one record keeps one id across exports; any
-- other id is its text, trimmed; blank is NULL. The ingest reads record ids the same way
-- (listener/ingest/source_profiles.py, id_text). One expression with no FROM, so that the
-- planner inlines it into its caller: as a function of its own it was planned again whenever
-- a statement (not a PL/pgSQL expression) called it, once a record in three processors, and
-- it is called 380,000 times in the atlas load (docs/benchmarks.md, "Identity").
CREATE OR REPLACE FUNCTION trapper.source_id(p_raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN btrim(p_raw) ~ E'^[+-]?\\d+(\\.0*)?$'
                THEN ltrim(split_part(btrim(p_raw), '.', 1), '+')
                ELSE nullif(btrim(p_raw), '') END
$$;

-- Digits of a US number: words such as "cell" and extensions are dropped first (the
-- library turns letters into keypad digits), a leading 1 of 11 digits is dropped, and the
-- rest must be a structurally valid NANP number (area and exchange not starting 0/1,
-- no N11 area code, not 555-0100 to 555-0199, the lines the plan keeps for fiction, nor
-- 555-1212, directory assistance) or NULL. The rest of the 555 exchange is a number: it had
-- been refused whole, and a person known by "707-555-1234" alone was rejected; a number typed
-- as a placeholder for many people is demoted as any shared identifier is
-- (docs/identity.md). An extension after "#" ("707-555-1234 #12") is cut as one after "x"
-- is (its digits made twelve, and the number none); a number written with a country code
-- other than 1 ("+64 9 345 6789") is no US number, though its digits may count ten (it was
-- stored as 649-345-6789).
CREATE OR REPLACE FUNCTION trapper.norm_phone_us(p_raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text;
BEGIN
    IF p_raw IS NULL THEN
        RETURN NULL;
    END IF;
    -- a label before the number ("cell: 707…", "h 707…", "Tel. 707…", "(cell) 707…") goes
    -- first: the cut below, from the first letter on, left nothing of it (the held-out set,
    -- docs/identity.md)
    v := ltrim(lower(p_raw), E'abcdefghijklmnopqrstuvwxyz:.#/-() \t');
    IF left(v, 1) = '+' AND left(ltrim(v, E'+ \t(.-'), 1) <> '1' THEN
        RETURN NULL;   -- another country's code
    END IF;
    -- a number Excel saved as a float ("7075231234.0") is its whole part (the expression
    -- only where a ".0" is: each one a call costs the session's 32-entry regex cache)
    IF strpos(v, '.0') > 0 THEN
        v := regexp_replace(v, E'^(\\s*\\d+)\\.0+\\s*$', E'\\1');
    END IF;
    -- cut an extension ("x12", "ext. 2", "#12") and anything after the first letter run
    v := regexp_replace(v, E'\\s*(x|ext\\.?|extension)\\s*\\d+\\s*$', '');
    v := regexp_replace(v, '[a-z#].*$', '');
    v := translate(v, translate(v, '0123456789', ''), '');   -- the digits alone
    IF length(v) = 11 AND left(v, 1) = '1' THEN
        v := substr(v, 2);
    END IF;
    IF length(v) <> 10
       OR substr(v, 1, 1) IN ('0', '1') OR substr(v, 4, 1) IN ('0', '1')
       OR substr(v, 2, 2) = '11'
       OR (substr(v, 4, 3) = '555' AND (substr(v, 7, 2) = '01' OR substr(v, 7) = '1212')) THEN
        RETURN NULL;
    END IF;
    RETURN v;
END $$;

-- Why norm_phone_us gave nothing for a value, in words, for a record's rejected decision
-- ("phone '555-1234' is not a US number (7 digits: a US number has 10 (an area code
-- missing?))"). The orchestrator's orchestrator_phone_refusal is its copy (a shadow install's
-- core is the host's), kept equal by tests/test_identifier_classes.py. NULL when the value
-- reads as a number.
CREATE OR REPLACE FUNCTION trapper.phone_refusal(p text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := ltrim(lower(coalesce(p, '')), E'abcdefghijklmnopqrstuvwxyz:.#/-() \t');
BEGIN
    IF left(v, 1) = '+' AND left(ltrim(v, E'+ \t(.-'), 1) <> '1' THEN
        RETURN format('+%s is another country''s code: not a US number',
                      substring(v FROM E'^\\+[\\s(]*(\\d{1,3})'));
    ELSIF v ~ E'^\\d+(\\.\\d+)?e\\+?\\d+$' THEN
        RETURN 'a spreadsheet wrote it in scientific notation, and its last digits are lost';
    ELSIF v ~ E'^[\\d().-]*\\d[-.]?[a-z]{4,}' THEN
        RETURN 'letters for digits (a vanity number) are not read';
    END IF;
    -- an extension says nothing here
    v := split_part(split_part(split_part(v, 'ext', 1), 'x', 1), '#', 1);
    v := translate(v, translate(v, '0123456789', ''), '');
    IF length(v) = 11 AND left(v, 1) = '1' THEN
        v := substr(v, 2);
    END IF;
    RETURN CASE
        WHEN v = '' THEN 'no digits'
        WHEN length(v) < 10 THEN format('%s digits: a US number has 10 (an area code missing?)', length(v))
        WHEN length(v) > 10 THEN format('%s digits: more than one US number', length(v))
        WHEN substr(v, 4, 5) = '55501' THEN 'a 555-01xx number: the lines kept for fiction'
        WHEN substr(v, 4) = '5551212' THEN '555-1212 is directory assistance'
        WHEN substr(v, 1, 1) IN ('0', '1') OR substr(v, 2, 2) = '11'
            THEN format('%s is no US area code', left(v, 3))
        WHEN substr(v, 4, 1) IN ('0', '1') THEN format('no US exchange starts with %s', substr(v, 4, 1))
    END;
END $$;

-- Lower-case and trim (the real system's V2 rule: no Gmail dot or +tag folding, which
-- merges people who are not the same); NULL unless it looks like local@domain.tld.
-- Trimmed of a tab, a line break or a no-break space too, and rid of the characters that
-- print as nothing (zero-width space, byte-order mark, word joiner, direction marks, soft
-- hyphen): pasted from a web page they made "ann@x.org" no email, or another one. (Ingest
-- tidies the files it reads the same way, listener/ingest/rows.py; this reads what other
-- writers and rows staged before it bring.)
-- One address as people paste it is that address: in quotes or angle brackets, after a
-- name ("Ann Lee <ann@x.org>", as a mail client copies it), with the sentence's full stop
-- or a comma after it ("ann@x.org."), typed on a phone's full-width keyboard
-- ("ann＠x.org", read as Unicode's compatibility form, NFKC), with its @ struck twice or a
-- comma for the domain's dot ("ann@gmail,com"); each was no email before, and
-- a person known by it alone was rejected. A cell that lists several is no one address:
-- NULL here (trapper.emails_listed reads them).
-- (PL/pgSQL: as a SQL function with a FROM it was never inlined, and ran its query through
-- the executor on every call, 24-39 us of the atlas load's 75,000; docs/benchmarks.md)
CREATE OR REPLACE FUNCTION trapper.norm_email(p_raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text := lower(btrim(p_raw, E' \t\r\n'));
BEGIN
    IF octet_length(v) <> length(v) THEN   -- non-ASCII, in a UTF8 database: rare
        -- no-break spaces are spaces (trimmed, or no email inside one); the rest, nothing
        v := btrim(translate(v, E'\u00a0\u202f\u200b\u200e\u200f\u2060\ufeff\u00ad', '  '),
                   E' \t\r\n');
        v := lower(normalize(v, NFKC));   -- full-width "ａｎｎ＠ｘ．ｏｒｇ" is "ann@x.org"
    END IF;
    -- "Ann Lee <ann@x.org>": the address in the brackets, when there is one pair
    IF strpos(v, '<') > 0 AND right(v, 1) = '>'
       AND length(v) - length(replace(v, '<', '')) = 1 THEN
        v := substr(v, strpos(v, '<') + 1);
    END IF;
    -- quotes and brackets around it, a full stop, comma or semicolon after it
    v := rtrim(btrim(v, E' \t"''<>()[]'), E' \t.,;:"''<>()[]');
    IF left(v, 7) = 'mailto:' THEN
        v := btrim(substr(v, 8), E' \t"''<>');   -- a link copied from a web page or mail client
    END IF;
    -- a key struck twice ("ann@@x.org"), a comma for the domain's last dot ("ann@gmail,com":
    -- one @, no dot before the comma, so no list)
    IF strpos(v, '@@') > 0 THEN
        v := replace(v, '@@', '@');
    END IF;
    IF strpos(v, ',') > strpos(v, '@') AND strpos(v, '@') > 0
       AND strpos(split_part(split_part(v, '@', 2), ',', 1), '.') = 0
       AND length(v) - length(replace(v, '@', '')) = 1 THEN
        v := regexp_replace(v, ',([a-z]{2,})$', E'.\\1');
    END IF;
    RETURN CASE WHEN v ~ E'^[^@\\s"(),:;<>\\[\\]\\\\]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\\.[a-z]{2,}$'
                     AND strpos(v, '..') = 0 AND left(v, 1) <> '.' AND strpos(v, '.@') = 0
                THEN v END;
END $$;

-- Each address a cell lists ("a@x.org; b@y.org", "a@x.org / b@y.org", "Ann <a@x.org>, Bob
-- <b@y.org>"), as norm_email reads it, in order, once. The orchestrator's
-- orchestrator_emails reads a rule's cell the same way (sql/orchestrator/functions/
-- transforms.sql; its own copy, since a shadow install's core is the host's), so that a
-- processor and a rule take the same first address of one cell (tests/
-- test_identifier_classes.py). Read only when the cell is no one address.
CREATE OR REPLACE FUNCTION trapper.emails_listed(p text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(e ORDER BY n), '{}')
    FROM (SELECT e, min(n) AS n
          FROM (SELECT trapper.norm_email(m[1]) AS e, n
                FROM regexp_matches(coalesce(p, ''), E'([^\\s<>(),;:"\\[\\]/|]+@[^\\s<>(),;:"\\[\\]/|]+)', 'g')
                     WITH ORDINALITY AS t (m, n)) s
          WHERE e IS NOT NULL GROUP BY e) u
$$;

-- Whether a phone cell may list several numbers: twenty digits or more (two numbers at the
-- least). String functions alone: it is asked of every phone cell a processor reads.
CREATE OR REPLACE FUNCTION trapper.phone_cell_lists(p text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT length(p) >= 20
           AND length(translate(p, translate(p, '0123456789', ''), '')) >= 20
$$;

-- Each US number a cell lists ("707-523-1234 / 707-523-9876", "home 707 523 1234 cell 707
-- 524 9999"), as norm_phone_us reads it, in order, once; the orchestrator's
-- orchestrator_phones_us is its copy (as emails_listed's). Read only when the cell is no
-- one number.
CREATE OR REPLACE FUNCTION trapper.phones_listed_us(p text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(d ORDER BY n), '{}')
    FROM (SELECT d, min(n) AS n
          FROM (SELECT trapper.norm_phone_us(m[2]) AS d, n
                FROM regexp_matches(coalesce(p, ''),
                                    E'(\\+[\\s(]*\\d{1,3}\\)?[\\s.-]*)?((?:1[\\s.-]*)?\\(?\\d{3}\\)?[\\s.-]*\\d{3}[\\s.-]*\\d{4})', 'g')
                     WITH ORDINALITY AS t (m, n)
                -- after another country's code ("+49 301 234 5678") no US number, as
                -- norm_phone_us reads one
                WHERE m[1] IS NULL OR translate(m[1], translate(m[1], '0123456789', ''), '') = '1') s
          WHERE d IS NOT NULL GROUP BY d) u
$$;

-- Accents off, lower case, punctuation dropped, spaces collapsed. Text with any non-ASCII
-- character is first decomposed (NFKD: "ñ" → "n" and its accent, which the letters kept
-- below drop; full-width "Ｊｏｈｎ" → "John"; a no-break space → a space); ASCII text, and
-- any text in a database whose encoding is not UTF8 (where a character is one byte), skips
-- it. The letters NFKD keeps whole are spelled out by hand.
CREATE OR REPLACE FUNCTION trapper.norm_name_key(p_raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- (the letters, digits and spaces kept by translate: one regular expression fewer in a
    -- session's cache of 32, docs/benchmarks.md "Identity"; no FROM, so that it is inlined)
    SELECT nullif(btrim(regexp_replace(translate(
        replace(replace(replace(translate(lower(CASE WHEN octet_length(p_raw) = length(p_raw)
            THEN p_raw ELSE normalize(p_raw, NFKD) END), E'øłđ\t\n\r', 'old   '),
            'æ', 'ae'), 'œ', 'oe'), 'ß', 'ss'),
        translate(replace(replace(replace(translate(lower(CASE WHEN octet_length(p_raw) = length(p_raw)
            THEN p_raw ELSE normalize(p_raw, NFKD) END), E'øłđ\t\n\r', 'old   '),
            'æ', 'ae'), 'œ', 'oe'), 'ß', 'ss'),
                  'abcdefghijklmnopqrstuvwxyz0123456789 ', ''), ''),
        E'\\s+', ' ', 'g')), '')
$$;

-- Optimal string alignment distance (Levenshtein plus adjacent transpositions), stopping
-- early once it exceeds p_max. Used only on candidate pairs, never as a blocker.
CREATE OR REPLACE FUNCTION trapper.osa_distance(a text, b text, p_max integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    la integer := length(a);
    lb integer := length(b);
    prev2 integer[];
    prev integer[];
    cur integer[];
    i integer;
    j integer;
    cost integer;
    best integer;
BEGIN
    IF a = b THEN RETURN 0; END IF;
    IF abs(la - lb) > p_max THEN RETURN p_max + 1; END IF;
    IF la = 0 OR lb = 0 THEN RETURN greatest(la, lb); END IF;
    prev := array(SELECT generate_series(0, lb));
    FOR i IN 1..la LOOP
        cur := array[i] || array_fill(0, array[lb]);
        best := i;
        FOR j IN 1..lb LOOP
            cost := CASE WHEN substr(a, i, 1) = substr(b, j, 1) THEN 0 ELSE 1 END;
            cur[j + 1] := least(prev[j + 1] + 1, cur[j] + 1, prev[j] + cost);
            IF i > 1 AND j > 1 AND substr(a, i, 1) = substr(b, j - 1, 1)
               AND substr(a, i - 1, 1) = substr(b, j, 1) THEN
                cur[j + 1] := least(cur[j + 1], prev2[j - 1] + 1);
            END IF;
            best := least(best, cur[j + 1]);
        END LOOP;
        IF best > p_max THEN RETURN p_max + 1; END IF;
        prev2 := prev;
        prev := cur;
    END LOOP;
    RETURN prev[lb + 1];
END $$;

-- A name field as words: hyphens, commas, periods and slashes split words ("Delgado-Ruiz" →
-- {delgado,ruiz}), then norm_name_key (accents off, lower case, apostrophes dropped); Saint
-- and Sainte as St and Ste ("Saint John" is "St. John").
CREATE OR REPLACE FUNCTION trapper.name_tokens(p_raw text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN array_replace(array_replace(coalesce(string_to_array(
        trapper.norm_name_key(translate(p_raw, '-,./_', '     ')), ' '), '{}'),
        'saint', 'st'), 'sainte', 'ste');
END $$;

-- "Delgado, Maria" typed into one field (the other empty) as first and last name, and "Smith
-- J" in the last-name field (a surname and an initial, no comma); NULLs when the text is not
-- of that form (no comma, a digit before it: an address, or an empty side).
CREATE OR REPLACE FUNCTION trapper.name_last_first(
    p_first text, p_last text, OUT first_name text, OUT last_name text
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    one text := coalesce(nullif(btrim(p_first), ''), nullif(btrim(p_last), ''));
    tok text[];
BEGIN
    IF nullif(btrim(p_first), '') IS NOT NULL AND nullif(btrim(p_last), '') IS NOT NULL
       OR one IS NULL THEN
        RETURN;
    END IF;
    IF position(',' IN one) = 0 THEN
        -- "Smith J" in the last-name field: a surname, then an initial, with no comma (as lists
        -- sorted by surname write them). In the first-name field it may as well be a first name
        -- and a surname's initial ("Mary K"): kept as typed. Any other text with no comma is
        -- no "Last, First".
        tok := trapper.name_tokens(one);
        IF nullif(btrim(p_first), '') IS NULL AND cardinality(tok) = 2 AND length(tok[2]) = 1 AND length(tok[1]) > 1
           AND NOT tok[1] = ANY (ARRAY['jr', 'sr', 'ii', 'iii', 'iv'])
           AND translate(tok[1], '0123456789', '') = tok[1] THEN
            last_name := split_part(btrim(one), ' ', 1);
            first_name := btrim(substr(btrim(one), length(last_name) + 1));
        END IF;
        RETURN;
    END IF;
    last_name := nullif(btrim(split_part(one, ',', 1)), '');
    first_name := nullif(btrim(substr(one, position(',' IN one) + 1)), '');
    IF last_name IS NULL OR first_name IS NULL OR last_name ~ E'\\d'
       OR trapper.name_tokens(first_name) <@ ARRAY['jr', 'sr', 'ii', 'iii', 'iv', '2nd', '3rd'] THEN
        first_name := NULL; last_name := NULL;
    END IF;
END $$;

-- For name_compare: whether one side's first initial, as written, stands for the first full
-- word the other side has beyond the ones they share, when all of this side's full words are
-- among the other's: "Smith J A" ~ "John Smith", "Smith J" ~ "John Andrew Smith", not
-- "Smith K" ~ "John Smith". p_full and p_initials are this side's full words and initials,
-- p_other_full the other side's full words, each in the order written.
CREATE OR REPLACE FUNCTION trapper.name_initial_stands_for(
    p_full text[], p_initials text[], p_other_full text[]
) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    w text;
BEGIN
    IF cardinality(p_full) = 0 OR cardinality(p_initials) = 0 OR NOT p_full <@ p_other_full THEN
        RETURN false;
    END IF;
    FOREACH w IN ARRAY p_other_full LOOP
        IF NOT w = ANY (p_full) THEN
            RETURN left(w, 1) = p_initials[1];
        END IF;
    END LOOP;
    RETURN false;
END $$;

-- How two people's names compare: exact, close (nickname, one typo, initial, a middle name
-- or initial on one side, first name only on one side, one part of a compound surname,
-- particles written apart or together, a generational suffix on one side, first and last
-- swapped), first_only (the same given name or its nickname, another surname), different
-- (also: two different suffixes, Jr. and Sr.), or unknown (a side has no name). "Last, First" in one field is read as first and last. Called only on people who
-- share an identifier: a name never matches alone.
CREATE OR REPLACE FUNCTION trapper.name_compare(
    p_first_a text, p_last_a text, p_first_b text, p_last_b text
) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    sfx CONSTANT text[] := ARRAY['jr', 'sr', 'ii', 'iii', 'iv', '2nd', '3rd'];
    -- titles written before a name ("Dr. John Smith", "Mrs. Mary Smith"): no part of it
    titles CONSTANT text[] := ARRAY['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'rev', 'prof'];
    particles CONSTANT text[] := ARRAY['de', 'del', 'della', 'la', 'le', 'los', 'las', 'van',
        'von', 'der', 'den', 'ter', 'di', 'da', 'du', 'dos', 'das', 'st', 'y'];
    lf record;
    ta_f text[]; ta_l text[]; tb_f text[]; tb_l text[];
    sa text[]; sb text[];
    fa text; la text; fb text; lb text;
    first_close boolean;
    first_typo boolean;
    last_same boolean;
    wa text[]; wb text[]; fwa text[]; fwb text[]; iwa text[]; iwb text[];
    w text;
BEGIN
    -- (A condition holding a subquery is a query of its own, run through the executor on
    -- every call, 5-20 us each: most pairs compared are two different people of one household,
    -- who reach the end. So each such test sits behind a plain one it needs, and the word
    -- lists are made by loops; the answers are those of the subqueries alone.)
    -- the common case first, without the word work below (a third of the cost)
    fa := trapper.norm_name_key(p_first_a); la := trapper.norm_name_key(p_last_a);
    fb := trapper.norm_name_key(p_first_b); lb := trapper.norm_name_key(p_last_b);
    IF fa IS NOT DISTINCT FROM fb AND la IS NOT DISTINCT FROM lb AND coalesce(fa, la) IS NOT NULL THEN
        RETURN 'exact';
    END IF;
    lf := trapper.name_last_first(p_first_a, p_last_a);
    IF lf.last_name IS NOT NULL THEN
        p_first_a := lf.first_name; p_last_a := lf.last_name;
    END IF;
    lf := trapper.name_last_first(p_first_b, p_last_b);
    IF lf.last_name IS NOT NULL THEN
        p_first_b := lf.first_name; p_last_b := lf.last_name;
    END IF;
    ta_f := trapper.name_tokens(p_first_a); ta_l := trapper.name_tokens(p_last_a);
    tb_f := trapper.name_tokens(p_first_b); tb_l := trapper.name_tokens(p_last_b);
    IF cardinality(ta_f) + cardinality(ta_l) = 0 OR cardinality(tb_f) + cardinality(tb_l) = 0 THEN
        RETURN 'unknown';
    END IF;
    -- a suffix spelled out or as an ordinal is the suffix: "Junior", "Senior" in the last-name
    -- field (a first name "Junior" is a name), "2nd", "3rd", "4th" anywhere ("Smith 3rd" was
    -- two people with "Smith III", and "Smith 4th" a compound surname close to "Smith III")
    IF (ta_l || tb_l) && ARRAY['junior', 'senior']
       OR (ta_f || ta_l || tb_f || tb_l) && ARRAY['2nd', '3rd', '4th'] THEN
        ta_l := array_replace(array_replace(ta_l, 'junior', 'jr'), 'senior', 'sr');
        tb_l := array_replace(array_replace(tb_l, 'junior', 'jr'), 'senior', 'sr');
        ta_f := array_replace(array_replace(array_replace(ta_f, '2nd', 'ii'), '3rd', 'iii'), '4th', 'iv');
        ta_l := array_replace(array_replace(array_replace(ta_l, '2nd', 'ii'), '3rd', 'iii'), '4th', 'iv');
        tb_f := array_replace(array_replace(array_replace(tb_f, '2nd', 'ii'), '3rd', 'iii'), '4th', 'iv');
        tb_l := array_replace(array_replace(array_replace(tb_l, '2nd', 'ii'), '3rd', 'iii'), '4th', 'iv');
    END IF;
    -- a title goes, when a name is left beside it ("Mrs." alone stays a placeholder's word;
    -- "Mrs. Smith" is then a surname alone, which tells no one apart)
    IF (ta_f || ta_l) && titles AND NOT (ta_f || ta_l) <@ titles THEN
        ta_f := array(SELECT x FROM unnest(ta_f) x WHERE NOT x = ANY (titles));
        ta_l := array(SELECT x FROM unnest(ta_l) x WHERE NOT x = ANY (titles));
    END IF;
    IF (tb_f || tb_l) && titles AND NOT (tb_f || tb_l) <@ titles THEN
        tb_f := array(SELECT x FROM unnest(tb_f) x WHERE NOT x = ANY (titles));
        tb_l := array(SELECT x FROM unnest(tb_l) x WHERE NOT x = ANY (titles));
    END IF;
    -- generational suffixes, wherever they were typed: two different ones are two people
    sa := '{}';
    sb := '{}';
    IF (ta_f || ta_l) && sfx THEN
        sa := ARRAY(SELECT DISTINCT x FROM unnest(ta_f || ta_l) x WHERE x = ANY (sfx) ORDER BY 1);
    END IF;
    IF (tb_f || tb_l) && sfx THEN
        sb := ARRAY(SELECT DISTINCT x FROM unnest(tb_f || tb_l) x WHERE x = ANY (sfx) ORDER BY 1);
    END IF;
    IF cardinality(sa) > 0 AND cardinality(sb) > 0 AND sa <> sb THEN
        RETURN 'different';
    END IF;
    -- (with no suffix, nothing to take out)
    IF cardinality(sa) > 0 AND cardinality(ta_f) + cardinality(ta_l) > cardinality(sa) THEN
        ta_f := array(SELECT x FROM unnest(ta_f) x WHERE NOT x = ANY (sfx));
        ta_l := array(SELECT x FROM unnest(ta_l) x WHERE NOT x = ANY (sfx));
    END IF;
    IF cardinality(sb) > 0 AND cardinality(tb_f) + cardinality(tb_l) > cardinality(sb) THEN
        tb_f := array(SELECT x FROM unnest(tb_f) x WHERE NOT x = ANY (sfx));
        tb_l := array(SELECT x FROM unnest(tb_l) x WHERE NOT x = ANY (sfx));
    END IF;
    -- Initials alone on one side ("A.", "A. N.", a surname's "B."), a name on the other: the
    -- initials tell little more than no name, so they are 'unknown' when they agree with the
    -- other side's first letters (the nameless rules then apply: identity_outcome's sole
    -- holder), 'different' when one does not. "A." against "Amanda Medina" on her email was
    -- 'different', a household member of herself (the atlas10 world's initial-only owners).
    -- (with no surname on either side, "K" / "Kimberly" stays close, below)
    IF (length(array_to_string(ta_f || ta_l, '')) = cardinality(ta_f || ta_l))
       <> (length(array_to_string(tb_f || tb_l, '')) = cardinality(tb_f || tb_l))
       AND cardinality(ta_l) + cardinality(tb_l) > 0 THEN
        RETURN CASE WHEN (cardinality(ta_f) = 0 OR cardinality(tb_f) = 0
                          OR left(ta_f[1], 1) = left(tb_f[1], 1))
                         AND (cardinality(ta_l) = 0 OR cardinality(tb_l) = 0
                              OR left(ta_l[1], 1) = left(tb_l[1], 1))
                    THEN 'unknown' ELSE 'different' END;
    END IF;
    fa := nullif(array_to_string(ta_f, ''), ''); la := nullif(array_to_string(ta_l, ''), '');
    fb := nullif(array_to_string(tb_f, ''), ''); lb := nullif(array_to_string(tb_l, ''), '');
    -- the same letters, spaces, hyphens and punctuation aside ("De La Cruz" / "Delacruz")
    IF fa IS NOT DISTINCT FROM fb AND la IS NOT DISTINCT FROM lb THEN
        -- a suffix on one side only may be the father or the son: close, not exact
        RETURN CASE WHEN sa = sb THEN 'exact' ELSE 'close' END;
    END IF;
    -- a typo on either side or on both: one edit, or (each side's letters swapped) the same
    -- letters in another order with the first letter kept ("Cheyrl" / "Chreyl")
    first_typo := false;
    IF fa IS NOT NULL AND fb IS NOT NULL THEN
        -- (both sides four letters or more, whichever side came first: "Ann" / "Anne", "Jon" /
        -- "Joan" were close in one order and different in the other; a spelling of a short
        -- name that is the same, "Jon" / "John", is a row of name_nicknames)
        IF least(length(fa), length(fb)) >= 4 AND trapper.osa_distance(fa, fb, 1) <= 1 THEN
            -- not when the two differ only in vowels among their last two letters: the name's
            -- other gender ("Mario" / "Maria", "Juan" / "Juana", "Gabriel" / "Gabriela",
            -- "Francis" / "Frances", "Jesse" / "Jessie", "Toni" / "Tony"), two people of one
            -- household, whom a shared email and this "typo" had merged (core 042)
            first_typo := NOT (left(fa, least(length(fa), length(fb)) - 2)
                                   = left(fb, least(length(fa), length(fb)) - 2)
                               AND translate(substr(fa, least(length(fa), length(fb)) - 1), 'aeiouy', '')
                                   = translate(substr(fb, least(length(fa), length(fb)) - 1), 'aeiouy', ''));
        ELSIF length(fa) >= 5 AND left(fa, 1) = left(fb, 1) AND length(fa) = length(fb)
              AND trapper.osa_distance(fa, fb, 2) <= 2 THEN
            first_typo := array(SELECT x FROM regexp_split_to_table(fa, '') x ORDER BY 1)
                          = array(SELECT x FROM regexp_split_to_table(fb, '') x ORDER BY 1);
        END IF;
    END IF;
    -- one part of a compound surname ("Delgado" / "Delgado-Ruiz", "Cruz" / "de la Cruz"):
    -- every word of one inside the other, sharing a word that is not a particle; the
    -- particles dropped on one side ("De La Cruz" / "Cruz"); the particles run together and
    -- dropped on the other side ("Dasilva" / "Silva"). Only when one of those can hold (the
    -- same last names, one side's words inside the other's, a particle, or one name ending
    -- the other) is the whole test run; it alone decides then.
    last_same := false;
    IF la IS NOT DISTINCT FROM lb THEN
        last_same := true;
    ELSIF (ta_l <@ tb_l OR tb_l <@ ta_l) OR ta_l && particles OR tb_l && particles
          OR right(la, length(lb)) = lb OR right(lb, length(la)) = la THEN
        last_same := cardinality(ta_l) > 0 AND cardinality(tb_l) > 0 AND (ta_l <@ tb_l OR tb_l <@ ta_l)
               AND EXISTS (SELECT 1 FROM unnest(ta_l) x WHERE x = ANY (tb_l) AND NOT x = ANY (particles))
            OR array_to_string(array(SELECT x FROM unnest(ta_l) x WHERE NOT x = ANY (particles)), '')
               = lb
            OR array_to_string(array(SELECT x FROM unnest(tb_l) x WHERE NOT x = ANY (particles)), '')
               = la
            OR length(lb) >= 3 AND length(la) > length(lb) AND right(la, length(lb)) = lb
               AND left(la, length(la) - length(lb)) ~ ('^(' || array_to_string(particles, '|') || ')+$')
            OR length(la) >= 3 AND length(lb) > length(la) AND right(lb, length(la)) = la
               AND left(lb, length(lb) - length(la)) ~ ('^(' || array_to_string(particles, '|') || ')+$');
    END IF;
    -- the first names matter beside the same last name, and (first_only, at the end) beside
    -- two different ones
    IF last_same AND (fa = fb OR first_typo
           OR (length(ta_f[1]) = 1 OR length(tb_f[1]) = 1) AND left(ta_f[1], 1) = left(tb_f[1], 1)
           OR cardinality(ta_f) > 0 AND cardinality(tb_f) > 0 AND (ta_f <@ tb_f OR tb_f <@ ta_f)) THEN
        RETURN 'close';   -- (the test below without its query)
    END IF;
    first_close := false;
    IF last_same OR la IS NOT NULL AND lb IS NOT NULL
                    AND length(ta_f[1]) > 1 AND length(tb_f[1]) > 1 THEN
        first_close := fa = fb
            OR first_typo
            OR (length(ta_f[1]) = 1 OR length(tb_f[1]) = 1) AND left(ta_f[1], 1) = left(tb_f[1], 1)
            -- a middle name or initial on one side only ("John A." / "John")
            OR cardinality(ta_f) > 0 AND cardinality(tb_f) > 0 AND (ta_f <@ tb_f OR tb_f <@ ta_f)
            OR EXISTS (SELECT 1 FROM trapper.name_nicknames n
                       WHERE (n.name = ta_f[1] AND n.nickname = tb_f[1])
                          OR (n.name = tb_f[1] AND n.nickname = ta_f[1])
                          OR (n.nickname = ta_f[1] AND n.name IN (SELECT name FROM trapper.name_nicknames
                                                                  WHERE nickname = tb_f[1]))
                          -- a nickname against its name written with a typo ("Liz" / "Eilzabeth")
                          OR (n.nickname = ta_f[1] AND length(n.name) >= 5
                              AND trapper.osa_distance(n.name, tb_f[1], 1) <= 1)
                          OR (n.nickname = tb_f[1] AND length(n.name) >= 5
                              AND trapper.osa_distance(n.name, ta_f[1], 1) <= 1));
        IF last_same AND first_close THEN
            RETURN 'close';
        END IF;
    END IF;
    IF (la IS NULL OR lb IS NULL) AND (fa = fb OR first_typo) THEN
        RETURN 'close';   -- first-name-only on one side (as typed, or with a typo)
    END IF;
    IF fa = fb AND la IS NOT NULL AND lb IS NOT NULL AND length(la) >= 4 AND trapper.osa_distance(la, lb, 1) <= 1 THEN
        RETURN 'close';
    END IF;
    IF fa = lb AND la = fb THEN
        RETURN 'close';   -- first and last swapped between the fields
    END IF;
    IF array_to_string(ta_f || ta_l, '') = array_to_string(tb_f || tb_l, '') THEN
        RETURN 'close';   -- the same words split otherwise ("John Smith" in one field)
    END IF;
    -- The words of both sides whatever the fields, full words and initials apart: the same
    -- words in another order ("SMITH JOHN" / "John Smith"); one side's full words among the
    -- other's, its initials standing for the other's remaining words ("Smith J", "J. Smith" /
    -- "John Smith"); the same full words, a middle initial on one side ("SMITH JOHN A").
    wa := ta_f || ta_l; wb := tb_f || tb_l;
    -- (the same words, sorted: only words each side holds all of, as many)
    IF cardinality(wa) = cardinality(wb) AND wa <@ wb AND wb <@ wa THEN
        IF ARRAY(SELECT x FROM unnest(wa) x ORDER BY x) = ARRAY(SELECT x FROM unnest(wb) x ORDER BY x) THEN
            RETURN 'close';
        END IF;
    END IF;
    fwa := '{}'; fwb := '{}'; iwa := '{}'; iwb := '{}';
    FOREACH w IN ARRAY wa LOOP
        IF length(w) > 1 THEN fwa := fwa || w; ELSIF length(w) = 1 THEN iwa := iwa || w; END IF;
    END LOOP;
    FOREACH w IN ARRAY wb LOOP
        IF length(w) > 1 THEN fwb := fwb || w; ELSIF length(w) = 1 THEN iwb := iwb || w; END IF;
    END LOOP;
    -- an initial on either side for the other side's word beyond the shared ones
    -- (trapper.name_initial_stands_for; only a name with an initial asks)
    IF cardinality(iwa) + cardinality(iwb) > 0
       AND (trapper.name_initial_stands_for(fwa, iwa, fwb)
            OR trapper.name_initial_stands_for(fwb, iwb, fwa)) THEN
        RETURN 'close';
    END IF;
    IF cardinality(fwa) >= 2 AND fwa <@ fwb AND fwb <@ fwa AND (iwa <@ iwb OR iwb <@ iwa) THEN
        RETURN 'close';
    END IF;
    -- one side's two words are the other's first and last, with middle names between, in
    -- either order ("Nguyen Van Thanh" in one field / "Thanh Nguyen"; "John Paul Smith" /
    -- "Smith John"): a middle name on one side
    IF cardinality(fwa) = 2 AND cardinality(fwb) >= 3 AND cardinality(iwa) + cardinality(iwb) = 0
       AND fwa <@ ARRAY[fwb[1], fwb[cardinality(fwb)]] AND ARRAY[fwb[1], fwb[cardinality(fwb)]] <@ fwa
       OR cardinality(fwb) = 2 AND cardinality(fwa) >= 3 AND cardinality(iwa) + cardinality(iwb) = 0
       AND fwb <@ ARRAY[fwa[1], fwa[cardinality(fwa)]] AND ARRAY[fwa[1], fwa[cardinality(fwa)]] <@ fwb THEN
        RETURN 'close';
    END IF;
    -- The same given name (or its nickname), another surname: a surname changed (a maiden
    -- name, then the married one) or a relative of the same given name. Identifiers cannot
    -- tell the two apart, so it is never a match and never filed as a household member
    -- unasked: a person reviews it (identity_outcome; the held-out set, docs/identity.md).
    IF first_close AND la IS NOT NULL AND lb IS NOT NULL
       AND length(ta_f[1]) > 1 AND length(tb_f[1]) > 1 THEN
        RETURN 'first_only';
    END IF;
    RETURN 'different';
END $$;

-- The real system's normalize_address (A1/MIG_799): drop ", USA" and dash placeholders,
-- ", CA, 95404" → ", CA 95404", no periods, long words to short forms, "#" units as apt,
-- lower case, single spaces.
CREATE OR REPLACE FUNCTION trapper.normalize_address(p_raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    -- USPS Pub 28 short forms of street suffixes, directions and unit words. A constant,
    -- not a table: one lookup per word was a query per word, 170,000 addresses over.
    map constant jsonb := '{
        "street": "st", "avenue": "ave", "av": "ave", "road": "rd", "drive": "dr",
        "lane": "ln", "court": "ct", "boulevard": "blvd", "place": "pl", "circle": "cir",
        "highway": "hwy", "parkway": "pkwy", "terrace": "ter", "trail": "trl", "point": "pt",
        "north": "n", "south": "s", "east": "e", "west": "w",
        "apartment": "apt", "unit": "apt", "suite": "apt", "ste": "apt", "spc": "apt",
        "space": "apt"}';
    v text;
    w text;
    out_words text[] := '{}';
    bare text;
BEGIN
    IF p_raw IS NULL OR btrim(p_raw) IN ('', '-', '—', '–', 'n/a', 'none') THEN
        RETURN NULL;
    END IF;
    v := lower(p_raw);
    v := regexp_replace(v, E'\\([^)]*\\)', ' ', 'g');             -- "(behind the Safeway)"
    v := regexp_replace(v, E',?\\s*(usa|united states)\\s*$', '');
    v := regexp_replace(v, E',\\s*([a-z]{2}),\\s*(\\d{5})', E', \\1 \\2');
    v := regexp_replace(v, E'(\\d{5})-\\d{4}', E'\\1');
    IF strpos(v, E'\n') > 0 OR strpos(v, E'\r') > 0 THEN
        v := regexp_replace(v, E'\\s*[\\r\\n]+\\s*', ', ', 'g');   -- a line break ends a part
    END IF;
    IF right(rtrim(v, ' 0'), 1) = '.' THEN
        -- a ZIP written as a float ("CA, 95404.0"): its point dropped below, it was 954040,
        -- and address_parts, reading this text again (rekey_places), found no ZIP
        v := regexp_replace(v, E'([ ,]\\d{3,9})\\.0*\\s*$', E'\\1');
    END IF;
    v := replace(v, '.', '');
    v := regexp_replace(v, E'#\\s*', ' apt ', 'g');
    v := regexp_replace(v, E'\\s*,\\s*', ', ', 'g');
    FOREACH w IN ARRAY regexp_split_to_array(btrim(v), E'\\s+') LOOP
        bare := rtrim(w, ',');
        IF map ? bare THEN
            w := (map ->> bare) || CASE WHEN right(w, 1) = ',' THEN ',' ELSE '' END;
        END IF;
        out_words := out_words || w;
    END LOOP;
    v := array_to_string(out_words, ' ');
    RETURN nullif(btrim(v, ' ,'), '');
END $$;

-- An ordinal as a numeral: 1 → 1st, 12 → 12th, 23 → 23rd.
CREATE OR REPLACE FUNCTION trapper.ordinal_numeral(p_n integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_n || CASE WHEN p_n % 100 BETWEEN 11 AND 13 THEN 'th' WHEN p_n % 10 = 1 THEN 'st'
                       WHEN p_n % 10 = 2 THEN 'nd' WHEN p_n % 10 = 3 THEN 'rd' ELSE 'th' END
$$;

-- Ordinal words past 99 as numerals, the rest of the text as it was: "one hundred twenty
-- fifth" → 125th, "hundred and first" → 101st, "two hundredth" → 200th (the ordinal table holds
-- 1 to 90; the hundreds are read here, by arithmetic). "One Hundred Oaks" stays: no ordinal
-- follows. p_voc: address_parts' reading of the tables.
CREATE OR REPLACE FUNCTION trapper.address_hundreds(p_text text, p_voc jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    units constant text[] := ARRAY['one', 'two', 'three', 'four', 'five', 'six', 'seven',
                                   'eight', 'nine'];
    w text[] := string_to_array(p_text, ' ');
    n integer := coalesce(array_length(w, 1), 0);
    out_words text[] := '{}';
    i integer := 1;
    j integer;
    h integer;
    o integer;
BEGIN
    WHILE i <= n LOOP
        h := coalesce(array_position(units, w[i]), 1);
        j := CASE WHEN w[i] IN ('hundred', 'hundredth') THEN i
                  WHEN w[i + 1] IN ('hundred', 'hundredth') AND w[i] = ANY (units) THEN i + 1 END;
        o := NULL;
        IF j IS NOT NULL AND w[j] = 'hundredth' THEN
            o := 0;
        ELSIF j IS NOT NULL THEN
            j := j + CASE WHEN w[j + 1] = 'and' THEN 2 ELSE 1 END;
            IF p_voc -> w[j] ->> 'ok' = 'tens' AND p_voc -> w[j + 1] ->> 'ok' = 'ordinal'
               AND (p_voc -> w[j + 1] ->> 'o')::integer < 10 THEN
                o := (p_voc -> w[j] ->> 'o')::integer + (p_voc -> w[j + 1] ->> 'o')::integer;
                j := j + 1;
            ELSIF p_voc -> w[j] ->> 'ok' = 'ordinal' THEN
                o := (p_voc -> w[j] ->> 'o')::integer;
            END IF;
        END IF;
        IF o IS NULL THEN
            out_words := out_words || w[i];
            i := i + 1;
        ELSE
            out_words := out_words || trapper.ordinal_numeral(h * 100 + o);
            i := j + 1;
        END IF;
    END LOOP;
    RETURN array_to_string(out_words, ' ');
END $$;

-- A town as the key holds it, its words in their standard forms (p_voc: address_parts'
-- reading of the tables; "tw", from trapper.address_town_words, core 051): Saint, Mount and
-- Fort as St, Mt and Ft ("Saint Helena", "St. Helena"; "Mount Shasta", "Mt Shasta"), a
-- word's abbreviation as the word ("Pt Reyes Station", "Rohnert Pk", "S Lake Tahoe" as
-- Point, Park, South), no dash or slash standing alone or at either end; NULL when empty.
-- How its words are spaced is left as written: trapper.address_town_key compares towns
-- (docs/identity.md, "Places").
CREATE OR REPLACE FUNCTION trapper.address_town_of(p_town text, p_voc jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    w text;
    out_words text[] := '{}';
BEGIN
    FOREACH w IN ARRAY coalesce(string_to_array(p_town, ' '), '{}') LOOP
        w := btrim(w, '-/');
        CONTINUE WHEN w = '';
        out_words := out_words || coalesce(p_voc -> w ->> 'tw', w);
    END LOOP;
    RETURN nullif(array_to_string(out_words, ' '), '');
END $$;

-- address_town_of for a town alone, its words read from trapper.address_town_words (051;
-- before it, as written: 025 calls this on an upgrade from before 051).
CREATE OR REPLACE FUNCTION trapper.address_town(p_town text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    v_voc jsonb;
BEGIN
    IF to_regclass('trapper.address_town_words') IS NOT NULL THEN
        SELECT jsonb_object_agg(t.written, jsonb_build_object('tw', t.standard)) INTO v_voc
        FROM trapper.address_town_words t
        WHERE t.written = ANY (string_to_array(p_town, ' '));
    END IF;
    RETURN trapper.address_town_of(p_town, coalesce(v_voc, '{}'));
END $$;

-- The town a town is, however its words are spaced: the key's town (address_town_of) with
-- its spaces out, so that "Bayview" and "Bay View", "McKinleyville" and "Mc Kinleyville",
-- "Lahonda" and "La Honda" are one town, and "Bay Point" and "Point Bay" stay two (the words'
-- order is kept). place_of_address_parts and place_fits_zip compare towns by it; the
-- address key keeps the town as written, so that the keys of towns written one way stay
-- what they were (docs/identity.md, "Places").
CREATE OR REPLACE FUNCTION trapper.address_town_key(p_town text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT replace(p_town, ' ', '')
$$;

-- An address key with its town as address_town_key reads it: two keys of one address whose
-- town is spaced otherwise are equal so (trapper.resolve_identity's address agreement).
CREATE OR REPLACE FUNCTION trapper.address_key_town_folded(p_key text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN strpos(split_part(p_key, '|', 4), ' ') > 0
                THEN left(p_key, length(p_key) - length(split_part(p_key, '|', 4)))
                     || trapper.address_town_key(split_part(p_key, '|', 4))
                ELSE p_key END
$$;

-- A ZIP as the ZIP column of a split address holds it, repaired of what spreadsheets and
-- exports do to it (docs/identity.md, "Places", "ZIPs a spreadsheet damaged"): saved as a
-- number it loses its leading zeros (New England, New Jersey, Puerto Rico and the Virgin
-- Islands: 02134 as 2134, 00601 as 601, 02134-1234 as 21341234 or 2134-1234), written as a
-- float it gains ".0" (95404.0), and a text column keeps the marks that kept it text (an
-- apostrophe, ="02134") or a hyphen whose +4 was empty (95404-). The 5 digits, with the +4
-- after a hyphen; any other text as it was, trimmed; blank is NULL. Only for the ZIP's
-- slot, where a short number is a ZIP: elsewhere it may be a house or a unit.
-- trapper.orchestrator_zip_slot is its copy (a shadow install's core is the host's), kept
-- equal by tests/test_zip_damage.py.
CREATE OR REPLACE FUNCTION trapper.zip_slot(p_raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text := btrim(p_raw, E' \t\r\n\u00a0');
    d text;
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    END IF;
    IF translate(v, '0123456789', '') <> '' THEN
        v := btrim(v, E'=''" \t\u00a0');               -- '02134, ="02134", "02134"
        v := regexp_replace(v, E'^(\\d+)(?:\\.0*|-)$', E'\\1');          -- 95404.0, 95404-
        v := regexp_replace(v, E'^(\\d{3,5})(?: ?- ?| )(\\d{4})$', E'\\1\\2'); -- 2134-1234
    END IF;
    d := v;
    IF translate(d, '0123456789', '') <> '' OR length(d) NOT IN (3, 4, 5, 7, 8, 9) THEN
        RETURN nullif(btrim(p_raw, E' \t\r\n\u00a0'), '');
    END IF;
    IF length(d) <= 5 THEN
        RETURN lpad(d, 5, '0');
    END IF;
    d := lpad(d, 9, '0');
    RETURN left(d, 5) || '-' || right(d, 4);
END $$;

-- For address_parts: whether the last word of p_v (lower case, a comma with no space beside
-- it) may be a damaged ZIP in the ZIP's place, by string functions alone (so that an
-- address ending in a unit's number runs no regular expression more; PostgreSQL keeps only
-- 32 compiled a session: docs/benchmarks.md, "Identity"): digits,
-- perhaps with a "-" and four more, after a word that ends a state's or territory's name
-- ("ma,2134", "new jersey 8608", "pr 901", "ma 2134 1234"). address_parts decides.
CREATE OR REPLACE FUNCTION trapper.address_zip_after_state(p_v text, p_states text[])
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    t text[] := array_remove(string_to_array(translate(p_v, ',-', '  '), ' '), '');
    n integer := coalesce(cardinality(t), 0);
BEGIN
    IF n >= 3 AND length(t[n]) = 4 AND translate(t[n], '0123456789', '') = ''
       AND translate(t[n - 1], '0123456789', '') = '' AND length(t[n - 1]) BETWEEN 3 AND 5 THEN
        n := n - 1;                                    -- "2134 1234", "2134-1234"
    END IF;
    RETURN n >= 2 AND length(t[n]) BETWEEN 3 AND 8 AND translate(t[n], '0123456789', '') = ''
           AND (t[n - 1] = ANY (p_states)
                OR t[n - 1] = ANY (ARRAY['pr', 'vi', 'gu', 'as', 'mp', 'aa', 'ae', 'ap', 'rico',
                                         'guam', 'jersey', 'hampshire', 'island', 'carolina',
                                         'dakota', 'mexico', 'virginia']));
END $$;

-- The parts of a US address under USPS Publication 28, whose tables are data
-- (012_address_standard.sql: street suffixes, directionals, ordinal words, unit designators),
-- as jsonb (docs/identity.md, "Places"):
--   kind         'address' (a house number and a street), 'intersection' ("4th & Main",
--                "corner of …", "4th/Main", "4th x Main"), 'landmark' (a place named on a
--                street with no number: "4th St Mall"), 'rural_route' (a rural route or
--                highway contract box: "RR 2 Box 5", "HC 1 Box 3"), 'po_box'; NULL when the
--                text names none of them ("somewhere").
--   house        the house number; of a range ("100-110 Main St") the first, and
--   house_range  the range as written. A Queens number ("45-67 Main St": a hyphen, then
--                exactly two digits) is one house, kept whole ("45-67"), no range.
--   street       standard words: suffixes abbreviated (Blv, Boulevard → blvd), directionals
--                (North → n), ordinal words as numerals (Seventh → 7th); of an intersection
--                both streets, sorted, joined by ' & '; of a rural route box the route ("rr 2",
--                "hc 1", "hc" for a Star Route with no number).
--   unit         the unit's id ("Apt 5", "Unit 5", "#5" → 5; "Rear" → rear).
--   town, zip    the town (after a comma, or after the street in a line with no commas), the ZIP.
--   note         cross-street and landmark notes ("between 4th and 5th sts", "at 10th st",
--                "(behind the Safeway)"), and a landmark written before the number.
--   box          a PO box's or a rural route box's number.
-- The tables are read through trapper.address_vocabulary (014), one lookup per word.
CREATE OR REPLACE FUNCTION trapper.address_parts(p_raw text) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    -- (the states by code and by name; not "New York" or "Washington", which are towns too)
    states constant text[] := string_to_array('al|ak|az|ar|ca|calif|california|co|ct|de|dc|fl|ga|hi|id|il|in|ia|ks|ky|la|me|md|ma|mi|mn|ms|mo|mt|ne|nv|nh|nj|nm|ny|nc|nd|oh|ok|or|pa|ri|sc|sd|tn|tx|ut|vt|va|wa|wv|wi|wy|'
        || 'alabama|alaska|arizona|arkansas|colorado|connecticut|delaware|florida|georgia|hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|new hampshire|new jersey|new mexico|north carolina|north dakota|ohio|oklahoma|oregon|pennsylvania|rhode island|south carolina|south dakota|tennessee|texas|utah|vermont|virginia|west virginia|wisconsin|wyoming', '|');
    -- with no ZIP and no comma, only those that end no town's or street's name (not "ct",
    -- "ky", "wy" and "fl", which are Court, Key, Way and Floor too)
    -- words that begin a county's name of more than one word
    -- (not "St", a street's suffix too, nor a directional or a unit word)
    -- Spanish street types, written before the street's name ("Calle del Sol", "Camino
    -- Alto"): with no suffix and no comma the name is the next word, after any article
    had_state boolean := false;
    route_words constant text[] := ARRAY['hwy', 'highway', 'route', 'rte', 'road', 'rd',
        'county', 'us', 'sr', 'state', 'interstate', 'i', 'exit', 'mile', 'no', 'number',
        'box', 'cr', 'ave', 'avenue', 'st', 'street'];
    -- around a number that is no house number ("colony of 5 cats", "2 miles north"): a
    -- landmark before a number reads as one only without these beside the number
    count_before constant text[] := ARRAY['of', 'about', 'approx', 'approximately', 'over',
        'under', 'after', 'before', 'until', 'than', 'to', 'from', 'for', 'with', 'has', 'have',
        'had', 'feeds', 'feeding', 'feed', 'is', 'are', 'was', 'were', 'around', 'only', 'x',
        'last', 'next', 'every', 'each', 'total', 'plus', 'call', 'since', 'in', 'year', 'age',
        'aged', 'during', 'till', 'circa', 'by'];
    count_after constant text[] := ARRAY['cats', 'cat', 'kittens', 'kitten', 'kitties',
        'ferals', 'feral', 'adults', 'adult', 'miles', 'mile', 'mi', 'blocks', 'block', 'min',
        'mins', 'minutes', 'hours', 'hrs', 'days', 'weeks', 'months', 'years', 'yrs', 'am',
        'pm', 'ft', 'feet', 'yards', 'yds', 'acres', 'people', 'dogs', 'times', 'or', 'to',
        'of', 'and', 'x', 'pets', 'animals', 'more', 'units', 'houses', 'homes', 'yr', 'yo',
        'year', 'old', 'wks', 'lbs', 'pounds', 'feeding', 'fed'];
    v text;
    m text[];
    notes text[] := '{}';
    zip text;
    parts text[];
    np integer;
    voc jsonb;
    e jsonb;
    i integer;
    j integer;
    k integer;
    line_at integer;
    line text;
    landmark text;
    house text;
    house_range text;
    words text[];
    ws text[] := '{}';    -- each word's standard form
    wr text[] := '{}';    -- as written
    sx integer[] := '{}'; -- 2: a street-ending suffix, 1: a suffix often in names, 0: none
    dr boolean[] := '{}'; -- a directional
    un integer[] := '{}'; -- 1: a unit designator with an id to follow, 2: one without, 0
    n integer;
    street_end integer;
    art integer;          -- 1: the line starts with an article and a Spanish street type
    first_any integer;
    has_end boolean;
    unit text;
    town text;
    street text;
    extra text[] := '{}';
    w text;
    sides text[];
    sfx text[] := ARRAY[NULL, NULL]::text[];
    pl text;
    seen text[] := '{}';  -- the words already looked up
    nt record;
BEGIN
    IF p_raw IS NULL OR lower(btrim(p_raw)) IN ('', '-', '—', '–', 'n/a', 'none') THEN
        RETURN NULL;
    END IF;
    -- a line break (an address copied from a letter or a spreadsheet cell) ends a part, as a
    -- comma does, and so does a semicolon ("700 S Main St; Santa Rosa CA")
    v := translate(lower(p_raw), E'\r\n;', ',,,');
    IF octet_length(v) <> length(v) THEN
        -- non-ASCII (only in UTF8, where a character can be more than a byte): full-width
        -- digits and letters, no-break and other spaces as ASCII (NFKD), "½" as " 1/2",
        -- curly quotes and long dashes as straight ones; accents and anything else (an
        -- emoji) dropped. An address whose key would otherwise hold "niño", or "main st" and a
        -- no-break space, is the address written in ASCII.
        v := translate(normalize(replace(v, '½', ' 1/2 '), NFKD),
                       E'\u2044\u2018\u2019\u201c\u201d\u2013\u2014\u2212\u00a0\u200b',
                       '/''''""--- ');
        v := regexp_replace(v, E'[^\\x01-\\x7f]', '', 'g');
    END IF;
    -- apostrophes and quotes are no part of a street's name ("O'Farrell", "OFarrell")
    v := translate(v, '''"', '');
    IF strpos(v, '(') > 0 THEN   -- a query per call otherwise, for the few with a note
        FOR m IN SELECT regexp_matches(v, E'\\(([^)]*)\\)?', 'g') LOOP   -- "(behind the Safeway)"
            notes := notes || btrim(m[1]);
        END LOOP;
        v := regexp_replace(v, E'\\([^)]*\\)?', ' ', 'g');
    END IF;
    IF strpos(v, '.') > 0 AND right(rtrim(v, ' 0'), 1) = '.' THEN
        -- a ZIP a spreadsheet wrote as a float ("MA 2134.0", "CA 95404.0"): with its point
        -- dropped below it was another ZIP (21340) or none (954040)
        v := regexp_replace(v, E'([ ,]\\d{3,9})\\.0*\\s*$', E'\\1');
    END IF;
    v := replace(v, '.', '');
    IF strpos(v, '/') > 0 THEN
        -- a fractional house number written with a hyphen ("123-1/2 Main St") as with a
        -- space ("123 1/2", "123½")
        v := regexp_replace(v, E'\\m(\\d+)-(1/[234]|3/4)\\M', E'\\1 \\2', 'g');
    END IF;
    IF strpos(v, 'sainte') > 0 THEN
        v := regexp_replace(v, E'\\msainte\\M', 'ste', 'g');   -- "Sainte Claire" as "Ste Claire"
    END IF;
    v := regexp_replace(v, '([a-z])-([a-z])', E'\\1 \\2', 'g');          -- twenty-first
    -- (string functions where they do: PostgreSQL keeps only 32 compiled regular
    -- expressions a session, and a record's normalizers used more, so every one of them was
    -- compiled again on every call: docs/benchmarks.md "Identity". The spaces left around
    -- '&', '@' and '#' are folded below.)
    v := replace(v, '&', ' & ');
    v := replace(v, '@', ' at ');
    v := replace(v, '#', ' # ');
    -- "apt5", "apt-5", "apt #5", "unit # 4b", "apt 3-b", "unit no 4", "apartment number 4":
    -- the designator, then its id ("3b": a letter hyphenated to the number is the same unit)
    v := regexp_replace(v, E'\\m(apt|apartment|unit|ste|suite|spc|space|sp|lot|rm|room|bldg|building|fl|trlr|trailer)[ #-]*(?:(?:no|nbr|num|number)[ #-]*)?(\\d+)-?([a-z]?)\\M',
                        E'\\1 \\2\\3', 'g');
    v := regexp_replace(v, E'\\s*,[\\s,]*', ',', 'g');
    v := btrim(regexp_replace(v, E'\\s+', ' ', 'g'), ' ,');
    v := regexp_replace(v, E'[ ,]*\\m(usa|us|united states|united states of america)$', '');
    IF right(v, 1) = '-' OR strpos(v, '=') > 0 THEN
        -- a ZIP whose +4 was empty ("95404-"), or that a spreadsheet kept as text (="02134")
        v := regexp_replace(regexp_replace(v, E'(\\d) ?-$', E'\\1'), E'([ ,])=(\\d+)$', E'\\1\\2');
    END IF;
    -- the ZIP, and its +4 with a hyphen, a space or nothing between ("954041234")
    m := regexp_match(v, E'^(.*?)[ ,]+(\\d{5})(?: ?-? ?\\d{4})?$');
    IF m IS NOT NULL THEN
        v := m[1];
        zip := m[2];
    ELSIF right(v, 1) BETWEEN '0' AND '9'
          AND trapper.address_zip_after_state(v, states) THEN
        -- a ZIP a spreadsheet saved as a number, its leading zeros lost ("Boston, MA 2134",
        -- "MA, 21341234", "PR 901"; docs/identity.md, "Places"): read only in the ZIP's place,
        -- after a state or territory in a part after the street's (or, in a line with no
        -- commas, after one that is no street's or unit's word: not "12 Oak Ct 101", "Fl",
        -- "Ne"), so that a house number or a unit is never read as one
        m := regexp_match(v, E'^(.*?)[ ,]+(\\d{3,4})(?: ?-? ?\\d{4})?$');
        IF m IS NOT NULL THEN
            w := reverse(split_part(reverse(m[1]), ',', 1));       -- the last part
            words := string_to_array(w, ' ');
            n := cardinality(words);
            IF (strpos(m[1], ',') > 0 AND left(w, 1) NOT BETWEEN '0' AND '9'
                OR strpos(m[1], ',') = 0 AND n > 1
                   AND words[n] <> ALL (ARRAY['ct', 'ky', 'wy', 'fl', 'ne', 'co', 'in', 'or', 'as']))
               AND (words[n] = ANY (states) OR concat_ws(' ', words[n - 1], words[n]) = ANY (states)
                    OR words[n] = ANY (ARRAY['pr', 'vi', 'gu', 'as', 'mp', 'aa', 'ae', 'ap', 'rico', 'guam'])
                       AND (words[n] <> 'rico' OR words[n - 1] = 'puerto')) THEN
                v := m[1];
                zip := lpad(m[2], 5, '0');
            END IF;
            words := NULL;
            n := NULL;
        END IF;
    END IF;
    -- the state: after a comma, or before the ZIP; with neither, only one no street word is
    -- (v has no space beside a comma and none at either end by now)
    w := reverse(split_part(reverse(v), ',', 1));                  -- after the last comma
    IF strpos(v, ',') > 0 AND w = ANY (states) THEN
        v := left(v, length(v) - length(w) - 1);
        had_state := true;
    ELSE
        w := reverse(split_part(reverse(v), ' ', 1));              -- the last word
        -- (with no ZIP, only the codes that end no town's or street's name: not "in", "or",
        -- "me", "oh", "hi", "ok", "de", "la", "co", "id", "ne", "al", "ma", "mt", "pa")
        IF strpos(v, ' ') > 0
           AND (zip IS NOT NULL AND w = ANY (states) OR w = ANY (string_to_array('ak|az|ar|ca|calif|california|dc|ga|ia|ks|md|mi|mn|ms|nv|nh|nj|nm|ny|nc|nd|ri|sc|sd|tn|tx|ut|vt|va|wa|wv|wi|'
            || 'alabama|alaska|arizona|arkansas|colorado|connecticut|florida|georgia|hawaii|illinois|kentucky|louisiana|maryland|massachusetts|michigan|minnesota|mississippi|missouri|montana|nebraska|oklahoma|oregon|pennsylvania|tennessee|texas|utah|vermont|wisconsin', '|'))) THEN
            v := left(v, length(v) - length(w) - 1);
            had_state := true;
        END IF;
    END IF;
    v := btrim(v, ' ,');
    -- a county is no town ("Santa Rosa, Sonoma County"; "12 Main St, Sonoma Co"; "Santa Rosa
    -- Sonoma County CA"): after a comma the whole part goes, and without it the town before
    -- stands, or none (the no-town rule finds the place); with no comma before it, its name
    -- (one word, or more with the words that begin counties' names: "Santa Clara", "Contra
    -- Costa", "San Luis Obispo") goes and the town before stays. "Co" is the county only
    -- before a state or a ZIP ("Denver CO" is a state).
    w := reverse(split_part(reverse(v), ',', 1));
    IF right(w, 7) = ' county' OR right(w, 5) = ' cnty'
       OR right(w, 3) = ' co' AND (strpos(v, ',') > 0 OR had_state OR zip IS NOT NULL) THEN
        words := string_to_array(w, ' ');
        k := array_length(words, 1) - 1;                  -- the county's name
        WHILE k > 1 AND words[k - 1] = ANY (ARRAY['san', 'santa', 'los', 'las', 'el', 'del', 'de', 'la',
        'le', 'new', 'fort', 'du', 'des', 'prince', 'queen', 'king', 'contra', 'luis', 'salt',
        'twin', 'cape', 'anne', 'rio', 'eau', 'fond', 'van', 'grand', 'red', 'big', 'little',
        'green', 'hot', 'deaf', 'jim', 'jeff', 'palm', 'charles', 'baton', 'yellow', 'pend',
        'walla', 'grays', 'bon', 'lac', 'miami', 'palo', 'indian', 'dona']) LOOP
            k := k - 1;
        END LOOP;
        IF k > 1 AND translate(words[k], '0123456789', '') = words[k] THEN
            v := btrim(left(v, length(v) - length(w))
                       || array_to_string(words[1:k - 1], ' '), ' ,');
        ELSIF strpos(v, ',') > 0 THEN
            v := btrim(left(v, length(v) - length(w) - 1), ' ,');
        END IF;
        words := NULL;
    END IF;
    IF v = '' THEN
        RETURN NULL;
    END IF;
    IF left(v, 1) IN ('n', 's', 'e', 'w') AND substr(v, 2, 1) BETWEEN '0' AND '9' THEN
        -- a Wisconsin grid house number ("N123W456 Main St", "N123 W456 Main St") as one word
        v := regexp_replace(v, E'^([nsew])(\\d+) ?([nsew])(\\d+)\\M', E'\\1\\2\\3\\4');
    END IF;
    parts := string_to_array(v, ',');
    np := array_length(parts, 1);

    -- Each word's entry, one primary-key lookup per distinct word that is not a number, in
    -- trapper.address_vocabulary (014: the four tables as one, kept in step by the triggers
    -- of triggers/address_vocabulary.sql). One join of the four tables per call cost half of
    -- this function (hash joins over the suffix table every call; docs/benchmarks.md).
    IF to_regclass('trapper.address_vocabulary') IS NULL THEN
        -- an upgrade that re-keys places (012) before 014 has made the vocabulary
        SELECT jsonb_object_agg(x.word, jsonb_strip_nulls(jsonb_build_object(
                   's', s.standard, 'e', s.ends_street, 'd', d.standard, 'o', o.number,
                   'ok', o.kind, 'u', u.needs_id, 'us', u.standard)))
        INTO voc
        FROM (SELECT DISTINCT t AS word FROM regexp_split_to_table(translate(v, ',/', '  '), ' ') t) x
        LEFT JOIN trapper.address_street_suffixes s ON s.written = x.word
        LEFT JOIN trapper.address_directionals d ON d.written = x.word
        LEFT JOIN trapper.address_ordinals o ON o.written = x.word
        LEFT JOIN trapper.address_unit_designators u ON u.written = x.word
        WHERE coalesce(s.written, d.written, o.written, u.written) IS NOT NULL;
    ELSE
        -- (the words either side of a slash too: "4th/Main")
        FOREACH w IN ARRAY string_to_array(translate(v, ',/', '  '), ' ') LOOP
            CONTINUE WHEN translate(w, '0123456789', '') = '' OR w = ANY (seen);
            seen := seen || w;
            e := (SELECT a.entry FROM trapper.address_vocabulary a WHERE a.word = w);
            IF e IS NOT NULL THEN
                voc := coalesce(voc, '{}') || jsonb_build_object(w, e);
            END IF;
        END LOOP;
    END IF;
    voc := coalesce(voc, '{}');
    IF strpos(v, 'hundred') > 0 THEN
        FOR i IN 1..np LOOP
            parts[i] := trapper.address_hundreds(parts[i], voc);
        END LOOP;
    END IF;

    -- a rural route or highway contract box (Pub 28 section 23: "RR 2 BOX 5", "HC 1 BOX 3";
    -- Rural Route, RFD, Route and Rt are RR, Highway Contract, HCR and Star Route are HC): a
    -- place of its own kind, whose key never equals a house address's ('rr 2 box 5|rr 2||')
    -- A military mail address (Pub 28 section 237: "PSC 1234 Box 5678, APO AE 09001", "Unit
    -- 2050 Box 4190, APO AP", "USS Ship FPO AE") and general delivery ("General Delivery,
    -- Santa Rosa CA") are mail collected at a post office or a base, no place, as a PO box is
    IF strpos(v, 'po') > 0 AND (strpos(v, 'apo') > 0 OR strpos(v, 'fpo') > 0 OR strpos(v, 'dpo') > 0) THEN
        m := regexp_match(v, E'^(.*?)[ ,]*\\m(apo|fpo|dpo)(?: (aa|ae|ap))?$');
        IF m IS NOT NULL THEN
            RETURN jsonb_strip_nulls(jsonb_build_object('kind', 'po_box',
                'box', substring(m[1] FROM E'\\mbox ?#? ?(\\d+)'),
                'town', concat_ws(' ', m[2], m[3]), 'zip', zip));
        END IF;
    END IF;
    IF strpos(v, 'general delivery') > 0 THEN
        RETURN jsonb_strip_nulls(jsonb_build_object('kind', 'general_delivery',
            'town', nullif(btrim(translate(replace(v, 'general delivery', ''), ',', ' ')), ''),
            'zip', zip));
    END IF;
    IF left(v, 3) = 'box' OR left(v, 2) = 'bx' THEN
        -- the box before its route ("Box 5, RR 2", "BOX 12 HC 68 Santa Rosa"): as "RR 2 Box 5"
        m := regexp_match(v, E'^(?:box|bx) ?#? ?(\\d+[a-z]?)[ ,]+(rural free delivery|rural route|rural rte|rural rt|rural|rfd|rr|r r|route|rte|rt|highway contract route|highway contract|hwy contract route|hwy contract|hcr|hc|h c|star route|star rte|star rt) ?#? ?(\\d+)?\\M[ ,]*(.*)$');
        IF m IS NOT NULL THEN
            v := m[2] || ' ' || coalesce(m[3], '') || ' box ' || m[1] || ',' || m[4];
        END IF;
    END IF;
    IF strpos(v, 'box') > 0 OR strpos(v, 'bx') > 0 THEN
        m := regexp_match(v, E'^(rural free delivery|rural route|rural rte|rural rt|rural|rfd|rr|r r|route|rte|rt|highway contract route|highway contract|hwy contract route|hwy contract|hcr|hc|h c|star route|star rte|star rt) ?#? ?(\\d+)?[ ,]*(?:box|bx) ?#? ?(\\d+[a-z]?)\\M[ ,]*(.*)$');
        IF m IS NOT NULL THEN
            RETURN jsonb_strip_nulls(jsonb_build_object('kind', 'rural_route',
                'street', concat_ws(' ', CASE WHEN left(m[1], 1) IN ('h', 's') THEN 'hc'
                                              ELSE 'rr' END, m[2]),
                'box', m[3], 'town', trapper.address_town_of(replace(m[4], ',', ' '), voc), 'zip', zip));
        END IF;
    END IF;

    -- a PO box ("PO Box 12", "P O Box 12", "Post Office Box 12")
    FOR i IN 1..np LOOP
        m := regexp_match(parts[i],
            E'^(?:p ?o ?box|pob|p ?o b|post office box|postal box|box|po drawer|drawer) ?#? ?(\\d+[a-z]?|[a-z]\\d*)\\M ?(.*)$');
        -- (m first, alone: a condition with a subquery is a query of its own, every call)
        IF m IS NOT NULL THEN
            IF EXISTS (SELECT 1 FROM unnest(parts) WITH ORDINALITY t(x, o)
                       WHERE o <> i AND left(x, 1) BETWEEN '0' AND '9' AND strpos(x, ' ') > 0) THEN
                -- a street address beside it ("123 Main St, PO Box 12, Santa Rosa") is the
                -- place; the box is a note, what follows its number in its part (a town) stays
                notes := notes || ('po box ' || m[1]);
                parts := parts[1:i - 1] || CASE WHEN m[2] <> '' THEN ARRAY[m[2]] ELSE '{}' END
                         || parts[i + 1:];
                np := array_length(parts, 1);
                EXIT;
            END IF;
            RETURN jsonb_strip_nulls(jsonb_build_object('kind', 'po_box', 'box', m[1],
                'town', nullif(btrim(concat_ws(' ', nullif(m[2], ''),
                                               array_to_string(parts[i + 1:], ' '))), ''),
                'zip', zip));
        END IF;
    END LOOP;

    -- a unit written before the house number ("Apt 4, 123 Main St", "#4 123 Main St", "Unit
    -- B - 123 Main St") is the address's unit, not a landmark
    IF coalesce((voc -> split_part(parts[1], ' ', 1) ->> 'u')::boolean, false) THEN
        w := ltrim(substr(parts[1], length(split_part(parts[1], ' ', 1))
                                    + length(split_part(parts[1], ' ', 2)) + 3), ' -:');
        IF w = '' AND np > 1 AND left(parts[2], 1) BETWEEN '0' AND '9'
           AND split_part(parts[1], ' ', 2) <> '' THEN
            unit := split_part(parts[1], ' ', 2);
            parts := parts[2:];
            np := np - 1;
        ELSIF left(w, 1) BETWEEN '0' AND '9' THEN
            unit := split_part(parts[1], ' ', 2);
            parts[1] := w;
        END IF;
    END IF;

    -- the line with the house number: a part that starts with one, else a landmark then a
    -- number inside the first part ("Safeway 1234 Main St")
    FOR i IN 1..np LOOP
        IF parts[i] ~ E'^(?:[nsew]\\d+[nsew])?\\d+[a-z]?(?: ?- ?(?:\\d+[a-z]?|[a-z])\\M)? [a-z0-9#]' THEN
            line_at := i;
            line := parts[i];
            landmark := nullif(array_to_string(parts[1:i - 1], ', '), '');
            EXIT;
        END IF;
    END LOOP;
    -- (the street may be a numbered one, "Joe's Market - 500 4th St", or have no suffix,
    -- "Sonoma Valley High School 20000 Broadway": then a short one, a word that counts
    -- things neither before nor after the number)
    IF line_at IS NULL THEN
        m := regexp_match(parts[1], E'^(.*[a-z].*?) (\\d+[a-z]?(?: ?- ?\\d+[a-z]?)? [a-z0-9].*)$');
        IF m IS NOT NULL
           AND NOT (split_part(m[1], ' ', -1) = ANY (route_words))
           AND NOT coalesce((voc -> split_part(m[1], ' ', -1)) ? 'u', false)
           AND (EXISTS (SELECT 1 FROM unnest(string_to_array(m[2], ' ')) WITH ORDINALITY t(x, o)
                        WHERE o > 2 AND (voc -> x) ? 's')
                OR array_length(string_to_array(m[2], ' '), 1) <= 5
                   AND NOT split_part(m[1], ' ', -1) = ANY (count_before)
                   AND NOT split_part(m[2], ' ', 2) = ANY (count_after)) THEN
            line_at := 1;
            line := m[2];
            landmark := nullif(btrim(m[1], ' -/:'), '');
        END IF;
    END IF;

    IF line_at IS NULL THEN
        -- no house number: an intersection, a landmark on a street, or nothing
        line := parts[1];
        town := nullif(array_to_string(parts[2:], ' '), '');
        IF line !~ E'\\m(between|betw|btwn|btw|b/t)\\M' THEN
            IF strpos(line, '/') > 0 THEN
                line := btrim(replace(replace(line, '/', ' / '), '  ', ' '));   -- "4th/Main"
            END IF;
            m := regexp_match(line, '^(?:(?:at|on) )?(?:the )?(?:(?:corner|cor|cnr|intersection|crnr) (?:of )?)?(.+?) (&|and|at|/|x) (.+)$');
            IF m[2] IN ('/', 'x') AND NOT (
                    -- "4th / Main", "4th x Main": only when both sides read as streets (no
                    -- initial, "John X Smith"; no name with the letter in it, "Malcolm X
                    -- Blvd"; not two towns, "Petaluma/Penngrove"), one of them ending in a
                    -- suffix or an ordinal
                    length(m[1]) > 1 AND length(split_part(m[3], ' ', 1)) > 1
                    AND NOT coalesce((voc -> split_part(m[3], ' ', 1)) ? 's', false)
                    AND NOT coalesce((voc -> split_part(m[3], ' ', 1)) ? 'd', false)
                    AND EXISTS (SELECT 1 FROM unnest(ARRAY[split_part(m[1], ' ', -1),
                                                           split_part(m[3], ' ', -1)]) x
                                WHERE (voc -> x) ? 's' OR voc -> x ->> 'ok' = 'ordinal'
                                      OR x ~ E'^\\d+(st|nd|rd|th|d)$')) THEN
                -- the other connectors, if any ("Malcolm X Blvd & 5th St")
                m := regexp_match(line, '^(?:(?:at|on) )?(?:the )?(?:(?:corner|cor|cnr|intersection|crnr) (?:of )?)?(.+?) (&|and|at) (.+)$');
            END IF;
            IF m IS NOT NULL AND (m[2] <> 'at' OR coalesce((voc -> split_part(m[1], ' ', -1)) ? 's', false)) THEN
                IF np = 1 THEN
                    -- no commas: the town follows the second street's suffix (and its
                    -- directional), as after a house address's street ("Main St & 4th St
                    -- Santa Rosa CA 95404")
                    words := string_to_array(btrim(m[3]), ' ');
                    n := coalesce(array_length(words, 1), 0);
                    FOR k IN 2..n - 1 LOOP
                        IF coalesce((voc -> words[k] ->> 'e')::boolean, false) THEN
                            j := k;
                            WHILE j < n AND coalesce((voc -> words[j + 1]) ? 'd', false) LOOP
                                j := j + 1;
                            END LOOP;
                            IF j < n THEN
                                town := array_to_string(words[j + 1:], ' ');
                                m[3] := array_to_string(words[1:j], ' ');
                            END IF;
                            j := -1;
                            EXIT;
                        END IF;
                    END LOOP;
                    k := array_length(string_to_array(btrim(m[1]), ' '), 1);
                    IF coalesce((voc -> split_part(btrim(m[1]), ' ', -1) ->> 'e')::boolean, false) THEN
                        k := k - 1;                      -- the first side's name, its suffix off
                    END IF;
                    IF j IS DISTINCT FROM -1 AND n >= 2 AND k = 1
                       AND NOT coalesce((voc -> words[n] ->> 'e')::boolean, false) THEN
                        -- neither side names an ending suffix and the first is one word ("4th
                        -- & Main Santa Rosa", "Main & 4th Santa Rosa CA"): so is the second
                        -- (with its directional, or after its type: "Hwy 12"), the town follows
                        j := CASE WHEN coalesce((voc -> words[1] ->> 'e')::boolean, false) THEN 2
                                  ELSE 1 END;
                        IF j < n AND coalesce((voc -> words[j + 1]) ? 'd', false) THEN
                            j := j + 1;
                        END IF;
                        IF j < n THEN
                            town := array_to_string(words[j + 1:], ' ');
                            m[3] := array_to_string(words[1:j], ' ');
                        END IF;
                    END IF;
                END IF;
                -- Each street's name and its suffix apart: the key holds the names, sorted,
                -- where the street goes and the suffixes (in the same order) where the unit
                -- goes ('&|4th & main|st & st|santa rosa'), so that "4th & Main" can meet the
                -- one "4th St & Main St" of its town (place_of_address_parts) without
                -- "4th Ave & Main St" being taken for it. "4th and Main Sts": both are Sts.
                k := NULL;
                FOR i IN 1..2 LOOP
                    words := string_to_array(btrim(m[2 * i - 1]), ' ');
                    n := coalesce(array_length(words, 1), 0);
                    w := CASE WHEN n >= 2 THEN words[n] END;
                    -- a plural suffix after the second street ("4th and Main Sts"): both's
                    pl := CASE WHEN i = 2 THEN CASE w WHEN 'sts' THEN 'st' WHEN 'streets' THEN 'st'
                              WHEN 'aves' THEN 'ave' WHEN 'avenues' THEN 'ave' WHEN 'avs' THEN 'ave'
                              WHEN 'rds' THEN 'rd' WHEN 'roads' THEN 'rd' WHEN 'blvds' THEN 'blvd'
                              WHEN 'drs' THEN 'dr' WHEN 'drives' THEN 'dr' END END;
                    IF pl IS NOT NULL THEN
                        sfx[2] := pl;
                        IF sfx[1] IS NULL THEN
                            sfx[1] := sfx[2];
                        END IF;
                        sides[2] := trapper.address_words(array_to_string(words[1:n - 1], ' '), voc);
                    ELSIF coalesce((voc -> w ->> 'e')::boolean, false) THEN
                        sfx[i] := voc -> w ->> 's';
                        sides[i] := trapper.address_words(array_to_string(words[1:n - 1], ' '), voc);
                    ELSIF n >= 3 AND (voc -> w) ? 'd'
                          AND coalesce((voc -> words[n - 1] ->> 'e')::boolean, false) THEN
                        -- the suffix before a directional ("3rd St W"): the name keeps the latter
                        sfx[i] := voc -> words[n - 1] ->> 's';
                        sides[i] := trapper.address_words(
                            array_to_string(words[1:n - 2] || w, ' '), voc);
                    ELSE
                        sides[i] := trapper.address_words(m[2 * i - 1], voc);
                    END IF;
                END LOOP;
                IF sides[1] <> '' AND sides[2] <> '' THEN
                    i := CASE WHEN (sides[1], coalesce(sfx[1], '')) <= (sides[2], coalesce(sfx[2], ''))
                              THEN 1 ELSE 2 END;
                    RETURN jsonb_strip_nulls(jsonb_build_object('kind', 'intersection',
                        'street', sides[i] || ' & ' || sides[3 - i],
                        'suffixes', CASE WHEN coalesce(sfx[1], sfx[2]) IS NOT NULL
                                         THEN coalesce(sfx[i], '') || ' & ' || coalesce(sfx[3 - i], '') END,
                        'town', trapper.address_town_of(town, voc), 'zip', zip,
                        'note', nullif(array_to_string(notes, '; '), '')));
                END IF;
            END IF;
        END IF;
        words := string_to_array(line, ' ');
        IF line ~ E'\\m(between|betw|btwn|btw|b/t)\\M'
           OR (SELECT count(*) FROM unnest(words) x WHERE NOT coalesce((voc -> x) ? 'd', false)) >= 3
              AND EXISTS (SELECT 1 FROM unnest(words) WITH ORDINALITY t(x, o)
                          WHERE o >= 2 AND (voc -> x ->> 'e')::boolean) THEN
            RETURN jsonb_strip_nulls(jsonb_build_object('kind', 'landmark',
                'street', trapper.address_words(line, voc), 'town', trapper.address_town_of(town, voc),
                'zip', zip,
                'note', nullif(array_to_string(notes, '; '), '')));
        END IF;
        RETURN NULL;
    END IF;

    m := regexp_match(line, E'^((?:[nsew]\\d+[nsew])?\\d+)([a-z]?)(?: ?- ?(\\d+[a-z]?|[a-z])\\M)? (.+)$');
    house := m[1] || m[2];
    IF m[3] ~ E'^\\d' AND NOT (m[1] ~ E'^\\d+$' AND m[2] = '' AND m[3] ~ E'^\\d+$'
                             AND length(m[3]) <> 2 AND length(m[3]) = length(m[1])
                             AND m[3] > m[1]) THEN
        -- a hyphenated number that is no range is one number, kept whole: a Queens house
        -- ("45-67 Main St": the cross street, then the house), a Hawaii one ("94-1234": the
        -- zone, then the lot), one whose end is below its start ("45-6") or carries a letter
        -- ("45-67A", "4-5A"), so 45-67 and 45-89 stay two places. A range's end of exactly
        -- two digits ("12-14") reads as Queens and is kept whole too: the key then misses
        -- "12 Main St" rather than join two houses (docs/identity.md, "Places")
        house := m[1] || m[2] || '-' || m[3];
    ELSIF m[3] ~ E'^\\d' THEN
        -- a range ("100-110", "5-7": its end as long as its start, and past it)
        house_range := m[1] || m[2] || '-' || m[3];
    ELSIF m[3] IS NOT NULL THEN
        house := m[1] || m[3];                                           -- "1234-B"
    END IF;
    line := m[4];
    IF left(line, 4) = '1/2 ' THEN
        house := house || ' 1/2';
        line := substr(line, 5);
    END IF;
    -- a cross-street or landmark note runs to the end of its part
    m := regexp_match(line, '^(.+?) ((?:between|betw|btwn|btw|b/t|near|nr|off|behind|across|next to|by|at|&|corner of|cor of|on the corner of|in front of) .*)$');
    IF m IS NOT NULL THEN
        line := m[1];
        nt := trapper.address_note_split(m[2], voc);
        notes := nt.note || notes;
        IF nt.rest IS NOT NULL AND np = line_at THEN
            parts := parts || nt.rest;   -- the town after a cross-street note, no commas
            np := np + 1;
        END IF;
    END IF;

    -- the words, standardised
    words := string_to_array(line, ' ');
    i := 1;
    WHILE i <= coalesce(array_length(words, 1), 0) LOOP
        w := words[i];
        -- a dash or slash between the street and what follows ("12 Main St - Santa Rosa"),
        -- is no word of the address
        IF w IN ('-', '--', '/') THEN
            i := i + 1;
            CONTINUE;
        END IF;
        e := coalesce(voc -> w, '{}');
        IF w = 'saint' THEN
            e := '{"s": "st", "e": true}';     -- "Saint Helena Ave" is "St Helena Ave"
        END IF;
        IF e ->> 'd' IN ('n', 's') AND voc -> words[i + 1] ->> 'd' IN ('e', 'w')
           AND (i = 1 AND words[i + 2] IS NOT NULL
                      AND NOT coalesce((voc -> words[i + 2]) ? 'd', false)
                      AND NOT coalesce((voc -> words[i + 2] ->> 'e')::boolean, false)
                OR i > 1 AND sx[i - 1] = 2) THEN
            -- a directional in two words ("North East Elm St", "N E Elm", "Elm St N E"): one,
            -- before a name ("100 N E St" is a street named E) or after a street's suffix
            e := jsonb_build_object('d', (e ->> 'd') || (voc -> words[i + 1] ->> 'd'));
            w := w || ' ' || words[i + 1];
            i := i + 1;
        END IF;
        wr := wr || w;
        IF e ->> 'ok' = 'tens' AND (voc -> words[i + 1] ->> 'ok') = 'ordinal'
           AND (voc -> words[i + 1] ->> 'o')::integer < 10 THEN
            ws := ws || trapper.ordinal_numeral((e ->> 'o')::integer
                                                + (voc -> words[i + 1] ->> 'o')::integer);
            i := i + 1;
        ELSIF e ->> 'ok' = 'ordinal' THEN
            ws := ws || trapper.ordinal_numeral((e ->> 'o')::integer);
        ELSIF w ~ E'^\\d+(st|nd|rd|th|d)$' THEN                           -- "2d", "3th"
            ws := ws || trapper.ordinal_numeral(substring(w FROM E'^\\d+')::integer);
        ELSIF length(w) <= 3 AND translate(w, '0123456789', '') = ''
              AND (cardinality(ws) = 0 OR cardinality(ws) = 1 AND dr[1])
              AND coalesce((voc -> words[i + 1] ->> 'e')::boolean, false)
              AND NOT coalesce((voc -> words[i + 2]) ? 's', false) THEN
            -- a numbered street written without its ordinal ending ("81 St", "W 81 St", "5
            -- Ave", as New York writes them) is the ordinal: the street's first word, a
            -- suffix just after it and no other after that ("4 Corners Rd" keeps its 4)
            ws := ws || trapper.ordinal_numeral(w::integer);
        ELSE
            ws := ws || coalesce(e ->> 'd', e ->> 's', w);
        END IF;
        sx := sx || CASE WHEN e ? 's' THEN CASE WHEN (e ->> 'e')::boolean THEN 2 ELSE 1 END
                         ELSE 0 END;
        dr := dr || (e ? 'd');
        un := un || CASE WHEN e ? 'u' THEN CASE WHEN (e ->> 'u')::boolean THEN 1 ELSE 2 END
                         ELSE 0 END;
        i := i + 1;
    END LOOP;
    n := coalesce(array_length(ws, 1), 0);
    IF n = 0 THEN
        RETURN NULL;
    END IF;

    -- where the street ends: the first run (from the second word on) of suffixes and
    -- directionals that holds a street-ending suffix ("stony pt rd", "piedmont rd ne")
    i := 2;
    WHILE i <= n AND street_end IS NULL LOOP
        IF sx[i] > 0 THEN
            j := i;
            has_end := false;
            -- (after the suffix, "St" before a name is the town's Saint: "Oak St St Helena")
            WHILE j <= n AND (NOT has_end AND (sx[j] > 0 OR dr[j])
                              OR has_end AND (sx[j] = 2 AND NOT (ws[j] = 'st' AND j < n
                                                                 AND sx[j + 1] = 0
                                                                 AND NOT dr[j + 1])
                                              OR dr[j])) LOOP
                has_end := has_end OR sx[j] = 2;
                j := j + 1;
            END LOOP;
            IF has_end THEN
                street_end := j - 1;
            ELSIF first_any IS NULL THEN
                first_any := j - 1;
            END IF;
            i := j;
        ELSE
            i := i + 1;
        END IF;
    END LOOP;
    IF np = line_at AND n >= 3 AND wr[1] IN ('el', 'la', 'los', 'las')
       AND wr[2] = ANY (ARRAY['calle', 'camino', 'caminito', 'avenida', 'paseo', 'vereda',
                              'callejon', 'sendero', 'carretera', 'circulo', 'via']) THEN
        -- an article before a Spanish street type, with no comma after the street: the
        -- article is the street's ("el camino real santa rosa"), and the two may be its
        -- whole name ("el camino", "la calle"): then the town begins at a word that begins
        -- a town's name (address_town_starts, 039: "santa rosa", "st helena", "mt shasta";
        -- a word follows it, and no street's suffix), or is all that follows when an
        -- address with a ZIP named that town (address_zip_towns, 017: "mill valley"), and
        -- a unit at its designator ("el camino apt 5 santa rosa"). Not when a street's
        -- suffix further on ends the street ("el camino santa rosa ave")
        art := 1;
        IF coalesce(street_end, 3) = 3 THEN
            IF un[3] = 1 AND n >= 4
               OR coalesce((voc -> wr[3] ->> 't')::boolean, false) AND n >= 4 AND sx[4] < 2
                  AND NOT dr[4] AND NOT coalesce((voc -> wr[4] ->> 't')::boolean, false) THEN
                street_end := 2;
            ELSIF to_regclass('trapper.address_zip_towns') IS NOT NULL THEN
                -- (a statement of its own: before 017 there is no such table to plan)
                IF EXISTS (SELECT 1 FROM trapper.address_zip_towns z
                           WHERE z.town = trapper.address_town_of(array_to_string(wr[3:n], ' '), voc)) THEN
                    street_end := 2;
                END IF;
            END IF;
        END IF;
    END IF;
    IF np = line_at AND n >= 4 AND dr[1] AND dr[3] AND translate(wr[2], '0123456789', '') = ''
       AND (sx[4] < 2 OR ws[4] = 'st' AND n >= 5 AND sx[5] = 0 AND NOT dr[5]
                         AND NOT coalesce((voc -> wr[5] ->> 't')::boolean, false)) THEN
        -- ("… St George UT": the town's Saint, as after a street's suffix)
        -- a grid street, with no commas ("1200 W 1200 N Salt Lake City", "1200 West 1200
        -- North Provo"): the directional, the number, the directional; the town follows
        street_end := 3;
    END IF;
    IF street_end IS NULL AND np = line_at THEN
        -- no commas after the street: any suffix ("stony pt santa rosa"), else a type
        -- before its name ("ave a", "hwy 12"), after any article (above)
        street_end := first_any;
        k := coalesce(art, 0);
        IF n >= 2 + k AND (wr[1 + k] = ANY (ARRAY['calle', 'camino', 'caminito', 'avenida', 'paseo',
        'vereda', 'callejon', 'sendero', 'carretera', 'circulo', 'via']) OR street_end IS NULL AND sx[1] = 2) THEN
            -- the type's name follows it, after any article ("calle del sol santa rosa"; "ave
            -- of the americas new york")
            street_end := 2 + k;
            WHILE street_end < n AND wr[street_end] = ANY (ARRAY['de', 'del', 'la', 'las', 'los', 'el', 'lo', 'of', 'the']) LOOP
                street_end := street_end + 1;
            END LOOP;
        ELSIF street_end IS NULL AND n >= 2
              AND wr[1] = ANY (ARRAY['sr', 'cr', 'fm', 'rm', 'pr', 'us', 'ca', 'i', 'interstate'])
              AND left(wr[2], 1) BETWEEN '0' AND '9' THEN
            street_end := 2;   -- a numbered route by its letters ("SR 128 Philo", "FM 1960 Houston")
        ELSIF street_end IS NULL AND n >= 2 AND wr[1] ~ E'^(sr|cr|fm|rm|pr|us|ca|i)-\\d+[a-z]?$' THEN
            street_end := 1;   -- "CA-128 Philo", "I-80 Houston"
        END IF;
    END IF;
    IF np = line_at AND n >= 2 THEN
        -- a lettered avenue ("W Ave D Santa Rosa", "Avenue A Rohnert Park"): the letter is
        -- the street's name, then its directional; the town follows
        k := CASE WHEN ws[1] = 'ave' AND wr[2] ~ '^[a-z]$' THEN 2
                  WHEN street_end < n AND ws[street_end] = 'ave'
                       AND wr[street_end + 1] ~ '^[a-z]$' THEN street_end + 1 END;
        IF k IS NOT NULL THEN
            street_end := k;
            WHILE street_end < n AND dr[street_end + 1] LOOP
                street_end := street_end + 1;
            END LOOP;
        END IF;
    END IF;
    -- a numbered route: its number (and directional) is the street's, not the town's or a
    -- unit's ("12345 State Route 128 N Philo", "123 County Road 5", "9 Hwy 1 N")
    IF street_end < n AND left(wr[street_end + 1], 1) BETWEEN '0' AND '9'
       AND (ws[street_end] IN ('hwy', 'rte', 'fwy', 'expy', 'tpke')
            OR ws[street_end] = 'rd' AND street_end >= 2
               AND wr[street_end - 1] IN ('county', 'co', 'fm', 'market', 'private', 'pr', 'forest',
                                          'fs', 'township', 'twp')) THEN
        street_end := street_end + 1;
    END IF;
    IF street_end < n AND dr[street_end + 1] AND street_end >= 2
       AND left(wr[street_end], 1) BETWEEN '0' AND '9'
       AND ws[street_end - 1] IN ('hwy', 'rte', 'fwy', 'expy', 'tpke', 'rd', 'sr', 'cr', 'fm', 'us', 'ca', 'i') THEN
        street_end := street_end + 1;
    END IF;
    IF street_end IS NULL THEN
        street_end := n;
        FOR k IN 2..n LOOP
            IF un[k] = 1 AND k < n OR un[k] = 2 AND k = n THEN
                street_end := k - 1;
                EXIT;
            END IF;
        END LOOP;
    END IF;

    -- after the street: units, then (with no commas) the town
    k := street_end + 1;
    WHILE k <= n LOOP
        IF un[k] = 1 AND k < n THEN
            unit := concat_ws(' ', unit, wr[k + 1]);
            k := k + 2;
        ELSIF un[k] = 2 THEN
            unit := concat_ws(' ', unit, voc -> wr[k] ->> 'us');
            k := k + 1;
        ELSIF k < n AND voc -> wr[k + 1] ->> 'us' = 'fl' AND left(ws[k], 1) BETWEEN '0' AND '9' THEN
            unit := concat_ws(' ', unit, rtrim(ws[k], 'stndrh'));            -- "2nd Floor"
            k := k + 2;
        ELSIF k = street_end + 1 AND np = line_at AND left(wr[k], 1) BETWEEN '0' AND '9'
              AND length(translate(wr[k], '0123456789', '')) <= 1 AND unit IS NULL THEN
            -- a number just after the street, the town after it, with no commas ("123 Main
            -- St 5 Santa Rosa"): the unit with its designator left out, not the town's
            unit := wr[k];
            k := k + 1;
        ELSIF np = line_at THEN
            town := array_to_string(wr[k:], ' ');
            EXIT;
        ELSE
            extra := extra || ws[k];
            k := k + 1;
        END IF;
    END LOOP;
    street := array_to_string(ws[1:street_end] || extra, ' ');
    IF translate(street, '0123456789', '') <> street THEN
        -- a state or US route by any of its names is "hwy <number>" ("State Route 128",
        -- "SR 128", "CA-128", "US Hwy 101"), a county road "co rd <number>" ("County Road
        -- 5", "CR 5"); a directional before it is the one after it ("N Highway 12" is
        -- "Highway 12 N": a route's name is its number)
        -- Texas's farm and ranch to market roads ("FM 1960", "Farm to Market Rd 1960", "FM
        -- Road 1960") "fm <number>" and "rm <number>", a private road ("PR 4512", "Private
        -- Road 4512") "pr <number>", an interstate ("I-80", "Interstate 80") "i <number>"
        m := regexp_match(street, E'^(?:(n|s|e|w|ne|nw|se|sw) )?(?:(us|state|ca|calif|california|county|co|farm to market|fm|ranch to market|rm|private|pr) )?(hwy|rte|sr|ca|us|rd|cr|fm|rm|pr|i|interstate)(?: |-)?(\\d+[a-z]?)(\\M.*)$');
        IF m IS NOT NULL AND (m[3] <> 'rd' OR m[2] IS NOT NULL AND m[2] NOT IN ('us', 'ca', 'calif', 'california', 'state')) THEN
            street := CASE WHEN m[3] = 'cr' OR m[2] IN ('county', 'co') THEN 'co rd '
                           WHEN m[3] = 'fm' OR m[2] IN ('fm', 'farm to market') THEN 'fm '
                           WHEN m[3] = 'rm' OR m[2] IN ('rm', 'ranch to market') THEN 'rm '
                           WHEN m[3] = 'pr' OR m[2] IN ('pr', 'private') THEN 'pr '
                           WHEN m[3] IN ('i', 'interstate') THEN 'i '
                           ELSE 'hwy ' END || m[4] || m[5] || coalesce(' ' || m[1], '');
        END IF;
    END IF;
    -- the parts after the line: units ("Apt 5, Santa Rosa"), then the town
    FOR i IN line_at + 1..np LOOP
        m := regexp_match(parts[i], E'^(\\S+)(?: (\\S+))?(?: (.*))?$');
        -- (a floor by its ordinal: ", 2nd Floor", ", Second Floor")
        w := CASE WHEN voc -> m[1] ->> 'ok' = 'ordinal' THEN voc -> m[1] ->> 'o'
                  ELSE rtrim(m[1], 'stndrh') END;
        IF town IS NULL AND voc -> m[2] ->> 'us' = 'fl' AND w <> ''
           AND translate(w, '0123456789', '') = '' THEN
            unit := concat_ws(' ', unit, w);
            town := nullif(m[3], '');
        ELSIF town IS NULL AND (voc -> m[1] ->> 'u')::boolean AND m[2] IS NOT NULL THEN
            unit := concat_ws(' ', unit, m[2]);                          -- "Apt 5, …"
            town := nullif(m[3], '');
            IF town ~ '^(between|betw|btwn|btw|b/t|near|nr|off|behind|across|next to|by|at|&|corner of|cor of|on the corner of|in front of) ' THEN
                -- a note after the unit ("Apt 5 at 7th St Healdsburg"): not the town
                nt := trapper.address_note_split(town, voc);
                notes := notes || nt.note;
                town := nt.rest;
            END IF;
        ELSIF town IS NULL AND NOT (voc -> m[1] ->> 'u')::boolean THEN
            unit := concat_ws(' ', unit, voc -> m[1] ->> 'us');           -- "Rear, …"
            town := nullif(concat_ws(' ', m[2], m[3]), '');
        ELSE
            town := concat_ws(' ', town, parts[i]);
        END IF;
    END LOOP;
    IF strpos(town, 'box') > 0 THEN
        -- a PO box after the street with no comma ("123 Main St PO Box 12 Santa Rosa"): a note
        m := regexp_match(town, E'^(p ?o ?box|pob|post office box) ?#? ?(\\d+)\\M ?(.*)$');
        IF m IS NOT NULL THEN
            notes := notes || ('po box ' || m[2]);
            town := m[3];
        END IF;
    END IF;
    IF strpos(unit, '-') > 0 THEN
        -- "# 3-B", "#B-3": a letter hyphenated to the number is the same unit as "3B", "B3"
        unit := regexp_replace(regexp_replace(unit, E'\\m(\\d+)-([a-z])\\M', E'\\1\\2', 'g'),
                               E'\\m([a-z])-(\\d+)\\M', E'\\1\\2', 'g');
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object('kind', 'address', 'house', house,
        'house_range', house_range, 'street', street, 'unit', unit,
        'town', trapper.address_town_of(town, voc), 'zip', zip,
        'note', nullif(array_to_string(notes, '; '), ''), 'landmark', landmark));
END $$;

-- trapper.address_vocabulary (014) made again from the four tables of the standard
-- (012_address_standard.sql) and the words that begin a town's name (039): each written word
-- with what address_parts reads of it, as jsonb (s: the suffix's standard form, e: ends a
-- street, d: the directional, o and ok: the ordinal's number and kind, u and us: the unit
-- designator's needs_id and standard form, t: begins a town's name, tw: its standard form in
-- a town's name, from trapper.address_town_words, 051). Run by the triggers of
-- triggers/address_vocabulary.sql, triggers/address_town_starts.sql and
-- triggers/address_town_words.sql after every change to the tables.
-- (plpgsql: its body names a table made later, by 014)
CREATE OR REPLACE FUNCTION trapper.address_vocabulary_refresh() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM trapper.address_vocabulary;
    INSERT INTO trapper.address_vocabulary (word, entry)
    SELECT x.word, jsonb_strip_nulls(jsonb_build_object(
               's', s.standard, 'e', s.ends_street, 'd', d.standard, 'o', o.number,
               'ok', o.kind, 'u', u.needs_id, 'us', u.standard))
    FROM (SELECT written AS word FROM trapper.address_street_suffixes
          UNION SELECT written FROM trapper.address_directionals
          UNION SELECT written FROM trapper.address_ordinals
          UNION SELECT written FROM trapper.address_unit_designators) x
    LEFT JOIN trapper.address_street_suffixes s ON s.written = x.word
    LEFT JOIN trapper.address_directionals d ON d.written = x.word
    LEFT JOIN trapper.address_ordinals o ON o.written = x.word
    LEFT JOIN trapper.address_unit_designators u ON u.written = x.word;
    -- t: the word begins a town's name (039; not there yet while 014 to 038 run)
    IF to_regclass('trapper.address_town_starts') IS NOT NULL THEN
        INSERT INTO trapper.address_vocabulary AS v (word, entry)
        SELECT written, '{"t": true}' FROM trapper.address_town_starts
        ON CONFLICT (word) DO UPDATE SET entry = v.entry || EXCLUDED.entry;
    END IF;
    -- tw: the word's standard form in a town's name (051)
    IF to_regclass('trapper.address_town_words') IS NOT NULL THEN
        INSERT INTO trapper.address_vocabulary AS v (word, entry)
        SELECT written, jsonb_build_object('tw', standard) FROM trapper.address_town_words
        ON CONFLICT (word) DO UPDATE SET entry = v.entry || EXCLUDED.entry;
    END IF;
    -- what the memo (019) remembers was read with the old words
    IF to_regclass('trapper.address_parts_memo') IS NOT NULL THEN
        DELETE FROM trapper.address_parts_memo;
    END IF;
    -- and the version address_parts_memoized keeps for the transaction is read again
    PERFORM set_config('trapper.address_parser_version', '', true);
END $$;

-- A note that runs to the end of its part, split from the town that may follow it: a
-- cross-street note ("at 7th st", "between 3rd and 4th sts", "off e cotati ave") ends after its
-- street's suffix (and directional), and what follows is the town ("at 7th st healdsburg").
-- Any other note ("near the park santa rosa") has no end to tell: all of it stays the note
-- (find_or_create_place_deduped then reads the ZIP, docs/identity.md "Places").
-- p_voc: address_parts' reading of the tables.
CREATE OR REPLACE FUNCTION trapper.address_note_split(
    p_note text, p_voc jsonb, OUT note text, OUT rest text
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    words text[] := string_to_array(btrim(p_note), ' ');
    n integer := coalesce(array_length(words, 1), 0);
    k integer;
    j integer;
BEGIN
    note := btrim(p_note);
    IF note !~ '^(between|betw|btwn|btw|b/t|at|off|&|corner of|cor of|on the corner of) ' THEN
        RETURN;
    END IF;
    -- from the third word: a type before its name ("off hwy 12") is no end
    FOR k IN 3..n - 1 LOOP
        IF coalesce((p_voc -> words[k] ->> 'e')::boolean, false) THEN
            j := k;
            WHILE j < n AND coalesce((p_voc -> words[j + 1]) ? 'd', false) LOOP
                j := j + 1;
            END LOOP;
            IF j < n THEN
                note := array_to_string(words[1:j], ' ');
                rest := array_to_string(words[j + 1:], ' ');
            END IF;
            RETURN;
        END IF;
    END LOOP;
END $$;

-- Words in their standard forms (suffixes, directionals, ordinals), for the streets of an
-- intersection and the name of a landmark. p_voc: address_parts' reading of the tables.
CREATE OR REPLACE FUNCTION trapper.address_words(p_text text, p_voc jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(CASE
               WHEN p_voc -> w ->> 'ok' = 'ordinal'
                   THEN trapper.ordinal_numeral((p_voc -> w ->> 'o')::integer)
               WHEN w ~ E'^\\d+(st|nd|rd|th|d)$'
                   THEN trapper.ordinal_numeral(substring(w FROM E'^\\d+')::integer)
               WHEN w = 'saint' THEN 'st'
               ELSE coalesce(p_voc -> w ->> 'd', p_voc -> w ->> 's', w) END, ' ' ORDER BY o), '')
    FROM unnest(string_to_array(btrim(p_text), ' ')) WITH ORDINALITY t(w, o)
    WHERE w NOT IN ('', 'the')
$$;

-- The key of address_parts' result: 'house|street|unit|town' (the town, else the ZIP, else
-- empty) for an address, '&|name & name|suffix & suffix|town' for an intersection (the
-- streets' names sorted, their suffixes in the same order, empty where none was written:
-- '&|4th & main|st & st|', '&|4th & main||'), '@|name||town' for a landmark and 'rr 2 box
-- 5|rr 2||town' for a rural route box (never equal to a house address's key), NULL otherwise
-- (a PO box, general delivery, a bare town, nothing).
CREATE OR REPLACE FUNCTION trapper.address_key_of(p jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p ->> 'kind'
               WHEN 'address' THEN p ->> 'house'
               WHEN 'intersection' THEN '&'
               WHEN 'landmark' THEN '@'
               -- the whole Pub 28 line: the 10 m rule, which asks only that the first
               -- fields agree, never joins two boxes a geocoder put at one ZIP's centre
               WHEN 'rural_route' THEN (p ->> 'street') || ' box ' || (p ->> 'box') END
           || '|' || (p ->> 'street') || '|' || coalesce(p ->> 'unit', p ->> 'suffixes', '') || '|'
           || coalesce(p ->> 'town', p ->> 'zip', '')
$$;

-- The place key dedup uses (docs/identity.md, "Places").
CREATE OR REPLACE FUNCTION trapper.address_key(p_raw text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT trapper.address_key_of(trapper.address_parts(p_raw))
$$;

-- A key's street without its pre- or post-directional, when words remain ("n main st",
-- "piedmont rd ne" → "main st", "piedmont rd"; "n st" stays).
CREATE OR REPLACE FUNCTION trapper.address_street_base(p_street text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT regexp_replace(regexp_replace(p_street,
               E'^(n|s|e|w|ne|nw|se|sw) (?=\\S+ \\S)', ''), E'(\\S \\S+) (n|s|e|w|ne|nw|se|sw)$', E'\\1')
$$;

-- Two addresses may be merged only when their house numbers agree (A1 address_safe_to_merge).
CREATE OR REPLACE FUNCTION trapper.address_safe_to_merge(p_key_a text, p_key_b text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT split_part(p_key_a, '|', 1) = split_part(p_key_b, '|', 1)
       AND split_part(p_key_a, '|', 3) = split_part(p_key_b, '|', 3)
$$;

-- A microchip as stored, or NULL (A1/MIG_553, 910): separators and punctuation stripped;
-- 15-digit ISO; 14 digits with a known prefix (truncated); 9-digit AVID; 10 digits;
-- 10-character hex; an embedded chip pulled out of a longer run of digits (a ShelterLuv id
-- glued on); the digits of a chip written with words around them ("Chip: 985 112 …",
-- "AVID*064*532*870", "985112… (HomeAgain)"). All zeros, one repeated digit and
-- 123456789-style values are refused; 'A' + 5-7 digits is a shelter id, not a chip.
-- A chip a spreadsheet saved as a float ("985112000000101.0") is its whole part: its ".0"
-- had made a 9-digit AVID chip of Excel's 8 digits ("64532870.0" was 645328700, another
-- cat's). A cell listing two chips ("985… / 982…", "985…, 982…") gives its first, as
-- ShelterLuv's list of chips does (trapper.microchips_listed reads them all); its digits
-- run together had given the last, or none.
CREATE OR REPLACE FUNCTION trapper.validate_microchip(p_raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text;
    m text[];
    v_digits boolean;
BEGIN
    IF p_raw IS NULL THEN
        RETURN NULL;
    END IF;
    IF strpos(p_raw, '.0') > 0 THEN
        p_raw := regexp_replace(p_raw, E'^(\\s*\\d+)\\.0+\\s*$', E'\\1');
    END IF;
    IF translate(p_raw, E',;/|&\n', '') <> p_raw THEN
        m := trapper.microchips_listed(p_raw);
        IF cardinality(m) > 0 THEN   -- else the separators were inside one chip ("064/532/870")
            RETURN m[1];
        END IF;
        m := NULL;
    END IF;
    -- AVID writes its 9-digit chips in threes with asterisks (064*532*870)
    v := upper(regexp_replace(p_raw, '[^0-9A-Za-z]', '', 'g'));
    IF v = '' OR v ~ E'^A\\d{5,7}$' THEN
        RETURN NULL;
    END IF;
    -- digits, or ten hex characters, told apart without a regular expression (a session
    -- caches 32 compiled ones: docs/benchmarks.md)
    v_digits := translate(v, '0123456789', '') = '';
    IF NOT v_digits AND (length(v) <> 10 OR translate(v, '0123456789ABCDEF', '') <> '') THEN
        -- words around the digits: the chip is the digits, when they are one run
        v := (regexp_match(v, E'^[A-Z]*(\\d{9,})[A-Z]*$'))[1];
        IF v IS NULL THEN
            RETURN NULL;
        END IF;
        v_digits := true;
    END IF;
    IF v_digits THEN
        IF length(v) > 15 THEN
            m := regexp_match(v, E'(98[1256]\\d{12}|900\\d{12}|94[01]\\d{12}|956\\d{12}|97[78]\\d{12})$');
            IF m IS NULL THEN
                m := regexp_match(v, E'(98[1256]\\d{12}|900\\d{12}|94[01]\\d{12}|956\\d{12}|97[78]\\d{12})');
            END IF;
            v := m[1];
            IF v IS NULL THEN RETURN NULL; END IF;
        END IF;
        IF v ~ E'^(\\d)\\1*$' OR v LIKE '123456789%' OR v LIKE '0000%' THEN
            RETURN NULL;
        END IF;
        IF length(v) = 15 OR length(v) IN (9, 10)
           OR (length(v) = 14 AND left(v, 3) IN ('981', '900', '941', '985')) THEN
            RETURN v;
        END IF;
        RETURN NULL;
    END IF;
    RETURN CASE WHEN v <> repeat(left(v, 1), 10) THEN v END;   -- ten hex characters
END $$;

-- Each chip a cell lists, separated by a comma, semicolon, slash, bar, ampersand or line
-- ("985112000000101 / 982000123456789"), as validate_microchip reads each, in order, once;
-- empty for a cell without a separator. find_or_create_cat_by_microchip gives the cat each.
CREATE OR REPLACE FUNCTION trapper.microchips_listed(p_raw text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(c ORDER BY n), '{}')
    FROM (SELECT c, min(n) AS n
          FROM (SELECT trapper.validate_microchip(x) AS c, n
                FROM unnest(string_to_array(translate(p_raw, E';/|&\n', ',,,,,'), ','))
                     WITH ORDINALITY AS t (x, n)) s
          WHERE c IS NOT NULL GROUP BY c) u
$$;

-- What kind of chip a valid value is, and how far to trust it.
CREATE OR REPLACE FUNCTION trapper.microchip_format(p_chip text, OUT format text, OUT confidence numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN length(p_chip) = 15 THEN 'iso_15'
                WHEN length(p_chip) = 14 THEN 'truncated_14'
                WHEN length(p_chip) = 9 THEN 'avid_9'
                WHEN p_chip ~ E'^\\d{10}$' THEN 'digits_10'
                ELSE 'hex_10' END,
           CASE WHEN length(p_chip) = 15 THEN 1.0
                WHEN length(p_chip) = 14 THEN 0.7
                ELSE 0.9 END
$$;
