-- The casts a routing rule's transform may apply (ORCH_002).

-- Casts a transform may apply, as functions (so a rule never carries SQL text).
-- A number as people type one: "-122.71", "1,234.5" (thousands separators in threes),
-- "$12.50", ".5", "12."; NULL for anything else ("12 lbs", "1,2", "n/a"). The same reading
-- as the core's trapper.payload_number, which a shadow install does not own
-- (tests/test_values.py keeps the two equal).
CREATE OR REPLACE FUNCTION trapper.orchestrator_to_numeric(p text) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN m[2] IS NOT NULL OR m[3] <> '.'
                THEN (m[1] || coalesce(replace(m[2], ',', ''), '0') || coalesce(m[3], ''))::numeric
           END
    FROM (SELECT regexp_match(btrim(p),
                              E'^([+-]?)\\$?\\s*(\\d{1,3}(?:,\\d{3})+|\\d+)?(\\.\\d*)?$') AS m) s
$$;

-- A whole number: the numbers to_numeric reads, when whole ("5", "5.0", "1,234"); NULL for
-- a fraction or beyond integer.
CREATE OR REPLACE FUNCTION trapper.orchestrator_to_integer(p text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN n = trunc(n) AND abs(n) <= 2147483647 THEN n::integer END
    FROM (SELECT trapper.orchestrator_to_numeric(p) AS n) s
$$;

-- A yes/no: JSON true/false, Yes/No, Y/N, TRUE/FALSE, 1/0, an "x" or "checked" box, on/off;
-- NULL for anything else (PostgreSQL's boolean input refused "x" and "checked"). The same
-- words as the core's trapper.payload_bool (tests/test_values.py keeps the two equal).
CREATE OR REPLACE FUNCTION trapper.orchestrator_to_boolean(p text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v IN ('yes', 'y', 'true', 't', '1', '1.0', 'x', 'checked', 'on', '✓',
                           '✔') THEN true
                WHEN v IN ('no', 'n', 'false', 'f', '0', '0.0', 'off', 'unchecked', 'none')
                THEN false END
    FROM (SELECT lower(btrim(p)) AS v) s
$$;

-- A date as exports write one: the year first (2025-03-14; 2025/03/14 as Google Forms' CSV
-- writes it, "2025/03/14 9:02:11 AM GMT-7"; 2025.03.14), US (3/14/2025, 3/14/25, 3-14-2025),
-- the month's name (Mar 14, 2025; 14 March 2025; 14-Mar-2025; after a weekday, "Friday,
-- March 14, 2025"), each with a time or not (a zone after the time: Z, -07:00, GMT-7, PDT),
-- or an Excel date serial (45730). Anything else is no date. PostgreSQL's date input was used
-- before: 'yesterday', 'today', 'now' gave the day the record was routed (a different one on
-- each replay), 'epoch' 1970-01-01, 'infinity' infinity, 'J2451187' a Julian day, and
-- 'March 3, 2025' cut to ten characters 2002-03-03; MM/DD against DD/MM followed the
-- session's DateStyle. The same reading as the core's trapper.parse_us_date, which a shadow
-- install does not own (tests/test_values.py keeps the two equal).
CREATE OR REPLACE FUNCTION trapper.orchestrator_to_date(p text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := lower(btrim(p, E' \t\r\n\u00a0'));
    w text;
    m text[];
    y integer;
    mon integer;
    d integer;
    months constant text[] := ARRAY['january', 'february', 'march', 'april', 'may', 'june',
                                    'july', 'august', 'september', 'october', 'november',
                                    'december'];
    weekdays constant text[] := ARRAY['monday', 'tuesday', 'wednesday', 'thursday', 'friday',
                                      'saturday', 'sunday', 'mon', 'tue', 'tues', 'wed',
                                      'thu', 'thur', 'thurs', 'fri', 'sat', 'sun'];
    -- a time after the date, perhaps after a comma, perhaps with a zone (z, -07:00, gmt-7, pdt)
    clock constant text := E'(?:(?:[ t]|,\\s*)\\d{1,2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?\\s*(?:[ap]\\.?m\\.?)?'
                           '\\s*(?:z|(?:gmt|utc)?\\s*[+-]\\d{1,2}(?::?\\d{2})?|gmt|utc|[a-z][sd]t)?)?$';
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    END IF;
    -- "Friday, March 14, 2025": the weekday says nothing the date does not
    IF strpos(v, ',') > 0 AND btrim(split_part(v, ',', 1)) = ANY (weekdays) THEN
        v := btrim(substr(v, strpos(v, ',') + 1));
    END IF;
    w := split_part(split_part(v, ' ', 1), ',', 1);
    -- one regular expression a call, chosen by the form's look: a session caches 32
    -- compiled expressions, and a record's normalizers are near that (docs/benchmarks.md)
    IF substr(v, 5, 1) IN ('-', '/', '.') AND translate(left(v, 4), '0123456789', '') = '' THEN
        -- the year first: 2025-03-14, 2025/03/14 (Google Forms' CSV), 2025.03.14
        m := regexp_match(v, E'^(\\d{4})([-/.])(\\d{1,2})\\2(\\d{1,2})' || clock);
        y := m[1]::integer;
        mon := m[3]::integer;
        d := m[4]::integer;
    ELSIF translate(w, '0123456789/-', '') = '' AND translate(w, '0123456789', '') <> '' THEN
        -- US: 3/14/2025, 3/14/25, 3-14-2025
        m := regexp_match(v, E'^(\\d{1,2})([/-])(\\d{1,2})\\2(\\d{4}|\\d{2})' || clock);
        y := m[4]::integer;
        mon := m[1]::integer;
        d := m[3]::integer;
    ELSIF v <> upper(v) THEN
        -- the month's name: Mar 14, 2025; March 14th 2025; 14 March 2025; 14-Mar-2025 and
        -- 14-Mar-25 (Excel's d-mmm-yy); a weekday before it
        m := regexp_match(v, E'^(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\\.?,?\\s+)?'
                             '(?:([a-z]{3,9})\\.?[\\s-]+(\\d{1,2})(?:st|nd|rd|th)?,?'
                             '|(\\d{1,2})(?:st|nd|rd|th)?[\\s-]+([a-z]{3,9})\\.?,?)'
                             '[\\s-]+(\\d{4}|\\d{2})' || clock);
        SELECT i INTO mon FROM generate_subscripts(months, 1) i
        WHERE months[i] LIKE coalesce(m[1], m[4]) || '%'
              AND (length(coalesce(m[1], m[4])) = 3 OR months[i] = coalesce(m[1], m[4])
                   OR coalesce(m[1], m[4]) = 'sept');
        y := m[5]::integer;
        d := coalesce(m[2], m[3])::integer;
    ELSE
        -- an Excel date serial (a date column saved as a number, perhaps with the time as its
        -- fraction: 45730 is 2025-03-14); only five digits from 1954 to 2119, so that no
        -- other number passes for a date
        m := regexp_match(v, E'^([2-7]\\d{4})(?:\\.\\d+)?$');
        RETURN date '1899-12-30' + m[1]::integer;
    END IF;
    IF y IS NULL OR mon IS NULL THEN
        RETURN NULL;
    ELSIF y < 100 THEN   -- PostgreSQL's and Excel's rule for two-digit years
        y := y + CASE WHEN y < 70 THEN 2000 ELSE 1900 END;
    END IF;
    RETURN make_date(y, mon, d);
EXCEPTION WHEN data_exception THEN   -- 2/30/2025, month 13
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_trim(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT nullif(btrim(p), '') $$;

-- Cells that list several addresses or numbers ("a@x.org; b@y.org", "707-523-1234 /
-- 707-523-9876", "Ann <ann@x.org>"): forms and hand-kept sheets write them, and norm_email /
-- norm_phone_us gave nothing for the whole cell, so the person lost every identifier. These
-- give each valid value, in order, once; they are read only when the whole cell is no value
-- (one regular expression each, and only then).
CREATE OR REPLACE FUNCTION trapper.orchestrator_emails(p text) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(e ORDER BY n), '{}')
    FROM (SELECT e, min(n) AS n
          FROM (SELECT trapper.norm_email(m[1]) AS e, n
                FROM regexp_matches(coalesce(p, ''), E'([^\\s<>(),;:"\\[\\]/|]+@[^\\s<>(),;:"\\[\\]/|]+)', 'g')
                     WITH ORDINALITY AS t (m, n)) s
          WHERE e IS NOT NULL GROUP BY e) u
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_phones_us(p text) RETURNS text[]
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

-- The transforms rules name as norm_email($1) and norm_phone_us($1): the core normalisers,
-- or, for a cell listing several, its first valid value (the router says which others the
-- cell lists, and passes a phone cell's second number as the person's `cell`).
CREATE OR REPLACE FUNCTION trapper.orchestrator_norm_email(p text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN coalesce(trapper.norm_email(p), (trapper.orchestrator_emails(p))[1]);
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_norm_phone_us(p text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN coalesce(trapper.norm_phone_us(p), (trapper.orchestrator_phones_us(p))[1]);
END $$;

-- Of the values a cell lists (orchestrator_emails, orchestrator_phones_us), those the host's
-- identity engine would use, in order: the router passes the first of them, and a phone
-- cell's next as the person's cell. A listed value the blocklist refuses ("none@none.com;
-- ann@x.org", "555-555-5555 / 707-523-1234") had been passed, and the engine dropped it, so
-- the person lost the usable one after it (issue 17; docs/identity.md, "A cell that lists
-- several"). The engine's own test decides, usable_email / usable_phone (the core's
-- functions/identity.sql), so that a rule and a processor take the same value; a host whose
-- engines have no such test (requires.toml does not ask for it) takes every value, as before.
-- p_kind is 'email' or 'phone'.
CREATE OR REPLACE FUNCTION trapper.orchestrator_usable(p_kind text, p_values text[])
RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_kind = 'email' AND to_regprocedure('trapper.usable_email(text)') IS NOT NULL THEN
        RETURN ARRAY(SELECT x FROM unnest(p_values) WITH ORDINALITY AS t (x, n)
                     WHERE trapper.usable_email(x) IS NOT NULL ORDER BY n);
    ELSIF p_kind = 'phone' AND to_regprocedure('trapper.usable_phone(text)') IS NOT NULL THEN
        RETURN ARRAY(SELECT x FROM unnest(p_values) WITH ORDINALITY AS t (x, n)
                     WHERE trapper.usable_phone(x) IS NOT NULL ORDER BY n);
    END IF;
    RETURN p_values;
END $$;

-- A whole name in one cell (a form's "Your name", Jotform's Name): first and last. "Doe,
-- John" is read as the identity engine reads it (name_last_first); otherwise the last word
-- is the surname, with a generational suffix ("Lee Jr.") and the particles before it ("van
-- der Berg", "De La Cruz") kept with it, and a courtesy title ("Dr.", "Mrs") dropped. One
-- word is a first name alone.
CREATE OR REPLACE FUNCTION trapper.orchestrator_split_name(
    p text, OUT first_name text, OUT last_name text
)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := btrim(array_to_string(string_to_array(translate(coalesce(p, ''), E'\t\r\n', '   '), ' '), ' '));
    w text[];
    k integer;
    particles constant text[] := ARRAY['de', 'del', 'della', 'di', 'da', 'das', 'dos', 'du',
                                       'la', 'le', 'los', 'las', 'van', 'von', 'der', 'den',
                                       'ter', 'st', 'st.', 'san', 'bin', 'ibn', 'al', 'el', 'y'];
    suffixes constant text[] := ARRAY['jr', 'jr.', 'sr', 'sr.', 'ii', 'iii', 'iv', '2nd', '3rd'];
    titles constant text[] := ARRAY['mr', 'mr.', 'mrs', 'mrs.', 'ms', 'ms.', 'miss', 'mx',
                                    'mx.', 'dr', 'dr.'];
BEGIN
    v := btrim(v, ' ,');
    -- "Bob Lee, Jr.": the comma sets off the suffix, not a surname written first
    IF strpos(v, ',') > 0 AND lower(btrim(substr(v, strpos(v, ',') + 1))) = ANY (suffixes) THEN
        v := overlay(v placing '' from strpos(v, ',') for 1);
    END IF;
    IF v = '' THEN
        RETURN;
    END IF;
    SELECT lf.first_name, lf.last_name INTO first_name, last_name
    FROM trapper.name_last_first(v, NULL) lf;
    IF first_name IS NOT NULL THEN
        RETURN;
    END IF;
    w := array_remove(string_to_array(v, ' '), '');
    WHILE cardinality(w) > 1 AND lower(w[1]) = ANY (titles) LOOP
        w := w[2:];
    END LOOP;
    IF cardinality(w) = 1 THEN
        first_name := w[1];
        RETURN;
    END IF;
    k := cardinality(w);                       -- the surname starts at word k
    IF k > 2 AND lower(rtrim(w[k], ',')) = ANY (suffixes) THEN
        k := k - 1;
    END IF;
    WHILE k > 2 AND lower(w[k - 1]) = ANY (particles) LOOP
        k := k - 1;
    END LOOP;
    first_name := rtrim(array_to_string(w[1:k - 1], ' '), ',');
    last_name := array_to_string(w[k:], ' ');
END $$;

-- An address written on several lines in one cell (Jotform, Wufoo, a pasted label): one
-- line, its lines joined with ", ", each stripped of a form's label ("City: Petaluma",
-- "Postal / Zip Code: 94952"). It was stored with its line breaks, as the place's name too,
-- and a labelled one read "city: petaluma state province: ca" as its town.
CREATE OR REPLACE FUNCTION trapper.orchestrator_address_lines(p text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    labels constant text[] := ARRAY['street address', 'street address line 1',
        'street address line 2', 'address', 'address line 1', 'address line 2', 'address 1',
        'address 2', 'street', 'city', 'town', 'state', 'state / province', 'province',
        'zip', 'zip code', 'postal code', 'postal / zip code', 'zip / postal code', 'country'];
BEGIN
    IF p IS NULL OR (strpos(p, E'\n') = 0 AND strpos(p, E'\r') = 0) THEN
        RETURN p;
    END IF;
    RETURN (SELECT string_agg(l, ', ' ORDER BY n)
            FROM (SELECT n, btrim(CASE WHEN strpos(x, ':') > 0
                                            AND lower(btrim(split_part(x, ':', 1))) = ANY (labels)
                                       THEN substr(x, strpos(x, ':') + 1) ELSE x END,
                                  E' \t,') AS l
                  FROM unnest(string_to_array(replace(replace(p, E'\r\n', E'\n'), E'\r', E'\n'),
                                              E'\n')) WITH ORDINALITY AS t (x, n)) s
            WHERE l <> '');
END $$;

-- The ZIP column of a split address, repaired of what spreadsheets do to a ZIP (a number's
-- lost leading zeros: 2134 for 02134; a float's ".0"; 95404-; ="02134"): a composite rule's
-- last part of three or more feeding formatted_address (functions/router.sql), as the
-- processors' trapper.join_address reads theirs, so that both make one place of one address
-- (docs/identity.md, "Places"). A copy of the core's trapper.zip_slot (a shadow install's
-- core is the host's, which may have none), kept equal by tests/test_zip_damage.py.
CREATE OR REPLACE FUNCTION trapper.orchestrator_zip_slot(p_raw text) RETURNS text
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

-- Whether an animal export's species names a cat. A shelter's export mixes dogs, rabbits
-- and birds with its cats; a rule feeding `species` keeps them from becoming cats.
CREATE OR REPLACE FUNCTION trapper.orchestrator_is_cat_species(p text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT string_to_array(lower(translate(btrim(p), '-,/()_.;:', '         ')), ' ')
           && ARRAY['cat', 'cats', 'kitten', 'kittens', 'feline', 'felines', 'felis']
$$;

-- A count as people answer a form's "How many cats?": "6", "about 6", "~6", "6 cats",
-- "10+", "5-6" and "5 to 6" (the upper bound: an estimate counts up to it), "six", "a
-- dozen", "6.0", "1,200" (thousands separators in threes: it was two numbers, and no count).
-- Two numbers that are not a range ("2 adults, 3 kittens"), words alone ("lots", "a few")
-- and a number below zero ("-3", which read as 3) are no count: the rule is skipped naming
-- the value, rather than a guess written as a fact. Every count the core's
-- trapper.payload_int reads (a processor's "Total Cats to be trapped") this reads the same
-- (tests/test_listed_and_counts.py; a shadow install's core is the host's); this reads more:
-- one number in a sentence ("at least 5", "we feed 5 at night"), which a processor leaves
-- unread and counts.
CREATE OR REPLACE FUNCTION trapper.orchestrator_to_count(p text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := lower(btrim(p));
    nums integer[];
    w text[];
    m text[];
    words constant text[] := ARRAY['one', 'two', 'three', 'four', 'five', 'six', 'seven',
                                   'eight', 'nine', 'ten', 'eleven', 'twelve'];
BEGIN
    IF v IS NULL OR v = '' OR left(v, 1) = '-' THEN
        RETURN NULL;
    END IF;
    IF v ~ E'^\\d{1,6}$' THEN
        RETURN v::integer;
    END IF;
    -- "1,200", "1,000-1,200": one number each (a group of three after one to three digits,
    -- no more digits or commas around it); "6.0", a spreadsheet's whole number, is 6
    IF strpos(v, ',') > 0 THEN
        v := regexp_replace(v, E'(^|[^\\d,])(\\d{1,3}),(\\d{3})(?![\\d,])', E'\\1\\2\\3', 'g');
    END IF;
    IF strpos(v, '.0') > 0 THEN
        v := regexp_replace(v, E'(\\d)\\.0+(?![\\d.])', E'\\1', 'g');
    END IF;
    -- "a dozen", "half a dozen" (no number of dozens: "two dozen" stays two words)
    IF strpos(v, 'dozen') > 0 THEN
        v := replace(replace(v, 'half a dozen', 'six'), 'dozen', 'twelve');
    END IF;
    nums := ARRAY(SELECT x[1]::integer FROM regexp_matches(v, E'(\\d{1,6})', 'g') AS x);
    IF cardinality(nums) = 1 THEN
        RETURN nums[1];
    ELSIF cardinality(nums) = 2 THEN
        m := regexp_match(v, E'^\\D*?\\d+\\s*(-|–|to|or)\\s*\\d+\\D*$');
        RETURN CASE WHEN m IS NOT NULL THEN greatest(nums[1], nums[2]) END;
    ELSIF cardinality(nums) = 0 THEN
        w := ARRAY(SELECT i FROM unnest(string_to_array(translate(v, ',.~+!?', '      '), ' '))
                   WITH ORDINALITY AS t (x, n), generate_subscripts(words, 1) i
                   WHERE words[i] = x);
        RETURN CASE WHEN cardinality(w) = 1 THEN w[1]::integer END;
    END IF;
    RETURN NULL;
END $$;

-- Why norm_phone_us($1) gave nothing for a value, for the rule's skipped decision: "gave
-- nothing for '(707) 555-0123'" looked like a defect when the number is fiction by design.
-- The core's trapper.phone_refusal is its twin, for a processor's rejected record (kept
-- equal by tests/test_identifier_classes.py; a shadow install's core is the host's).
CREATE OR REPLACE FUNCTION trapper.orchestrator_phone_refusal(p text) RETURNS text
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
