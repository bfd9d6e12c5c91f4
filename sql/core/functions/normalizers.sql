-- Normalisers, callable from SQL (routing rules name them). No extension is required: the
-- embedded server has no pg_trgm, fuzzystrmatch or unaccent, so these stand alone and are
-- tested against the Python libraries (tests/test_normalizers.py).

-- Digits of a US number: words such as "cell" and extensions are dropped first (the
-- library turns letters into keypad digits), a leading 1 of 11 digits is dropped, and the
-- rest must be a structurally valid NANP number (area and exchange not starting 0/1,
-- no N11 area code, not the 555 fiction block) or NULL.
CREATE OR REPLACE FUNCTION trapper.norm_phone_us(p_raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text;
BEGIN
    IF p_raw IS NULL THEN
        RETURN NULL;
    END IF;
    -- cut an extension ("x12", "ext. 2") and anything after the first letter run
    v := regexp_replace(lower(p_raw), '\s*(x|ext\.?|extension)\s*\d+\s*$', '');
    v := regexp_replace(v, '[a-z].*$', '');
    v := regexp_replace(v, '\D', '', 'g');
    IF length(v) = 11 AND left(v, 1) = '1' THEN
        v := substr(v, 2);
    END IF;
    IF length(v) <> 10
       OR substr(v, 1, 1) IN ('0', '1') OR substr(v, 4, 1) IN ('0', '1')
       OR substr(v, 2, 2) = '11' OR substr(v, 4, 3) = '555' THEN
        RETURN NULL;
    END IF;
    RETURN v;
END $$;

-- Lower-case and trim (the real system's V2 rule: no Gmail dot or +tag folding, which
-- merges people who are not the same); NULL unless it looks like local@domain.tld.
CREATE OR REPLACE FUNCTION trapper.norm_email(p_raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN v ~ '^[^@\s"(),:;<>\[\]\\]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}$'
                 AND v !~ '\.\.' AND v !~ '^\.' AND v !~ '\.@'
                THEN v END
    FROM (SELECT lower(btrim(p_raw)) AS v) s
$$;

-- Accents off, lower case, punctuation dropped, spaces collapsed.
CREATE OR REPLACE FUNCTION trapper.norm_name_key(p_raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT nullif(btrim(regexp_replace(regexp_replace(
        translate(lower(p_raw),
                  'áàâäãåāéèêëēíìîïīóòôöõøōúùûüūñçýÿ',
                  'aaaaaaaeeeeeiiiiioooooooouuuuuncyy'),
        '[^a-z0-9 ]', '', 'g'), '\s+', ' ', 'g')), '')
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

-- How two people's names compare: exact, close (nickname, one typo, initial, first name
-- only on one side), different, or unknown (a side has no name).
CREATE OR REPLACE FUNCTION trapper.name_compare(
    p_first_a text, p_last_a text, p_first_b text, p_last_b text
) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    fa text := trapper.norm_name_key(p_first_a);
    la text := trapper.norm_name_key(p_last_a);
    fb text := trapper.norm_name_key(p_first_b);
    lb text := trapper.norm_name_key(p_last_b);
    first_close boolean;
BEGIN
    IF fa IS NULL AND la IS NULL OR fb IS NULL AND lb IS NULL THEN
        RETURN 'unknown';
    END IF;
    IF fa IS NOT DISTINCT FROM fb AND la IS NOT DISTINCT FROM lb THEN
        RETURN 'exact';
    END IF;
    first_close := fa = fb
        OR (length(fa) >= 4 AND trapper.osa_distance(fa, fb, 1) <= 1)
        OR (length(fa) = 1 OR length(fb) = 1) AND left(fa, 1) = left(fb, 1)
        OR EXISTS (SELECT 1 FROM trapper.name_nicknames n
                   WHERE (n.name = fa AND n.nickname = fb) OR (n.name = fb AND n.nickname = fa)
                      OR (n.nickname = fa AND n.name IN (SELECT name FROM trapper.name_nicknames
                                                         WHERE nickname = fb)));
    IF la IS NOT DISTINCT FROM lb AND first_close THEN
        RETURN 'close';
    END IF;
    IF (la IS NULL OR lb IS NULL) AND fa = fb THEN
        RETURN 'close';   -- first-name-only on one side
    END IF;
    IF fa = fb AND length(la) >= 4 AND trapper.osa_distance(la, lb, 1) <= 1 THEN
        RETURN 'close';
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
    v := regexp_replace(v, '\([^)]*\)', ' ', 'g');             -- "(behind the Safeway)"
    v := regexp_replace(v, ',?\s*(usa|united states)\s*$', '');
    v := regexp_replace(v, ',\s*([a-z]{2}),\s*(\d{5})', ', \1 \2');
    v := regexp_replace(v, '(\d{5})-\d{4}', '\1');
    v := replace(v, '.', '');
    v := regexp_replace(v, '#\s*', ' apt ', 'g');
    v := regexp_replace(v, '\s*,\s*', ', ', 'g');
    FOREACH w IN ARRAY regexp_split_to_array(btrim(v), '\s+') LOOP
        bare := rtrim(w, ',');
        IF map ? bare THEN
            w := (map ->> bare) || CASE WHEN right(w, 1) = ',' THEN ',' ELSE '' END;
        END IF;
        out_words := out_words || w;
    END LOOP;
    v := array_to_string(out_words, ' ');
    RETURN nullif(btrim(v, ' ,'), '');
END $$;

-- The place key dedup uses: house number, street (with short suffix), unit id, and town
-- (or ZIP when no town is given): 'house|street|unit|town'. NULL when the text has no
-- house number and street (a PO box, an intersection, a bare town).
CREATE OR REPLACE FUNCTION trapper.address_key(p_raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text := trapper.normalize_address(p_raw);
    m text[];
    street_part text;
    rest text;
    unit text;
    town text;
    zip text;
    words text[];
    i integer;
    suffix_at integer;
    street_words constant text[] := ARRAY['st', 'ave', 'rd', 'dr', 'ln', 'ct', 'way', 'blvd',
        'pl', 'cir', 'hwy', 'pkwy', 'ter', 'trl', 'pt', 'n', 's', 'e', 'w'];
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    m := regexp_match(v, '^(\d+[a-z]?)\s+(.*)$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    rest := m[2];
    zip := (regexp_match(rest, '(\d{5})\s*$'))[1];
    rest := regexp_replace(rest, ',?\s*(ca|california)?\s*\d{5}\s*$', '');
    rest := regexp_replace(rest, ',?\s+(ca|california)\s*$', '');
    IF position(',' IN rest) > 0 THEN
        street_part := btrim(split_part(rest, ',', 1));
        town := btrim(regexp_replace(substr(rest, position(',' IN rest) + 1), ',', ' ', 'g'));
    ELSE
        street_part := rest;
        town := NULL;
    END IF;
    -- a unit inside the street part ("main st apt 5") or its own comma part ("apt 5, town")
    m := regexp_match(street_part, '^(.*?)\s+apt\s*([a-z0-9-]+)$');
    IF m IS NOT NULL THEN
        street_part := m[1];
        unit := m[2];
    END IF;
    IF town IS NOT NULL THEN
        m := regexp_match(town, '^apt\s*([a-z0-9-]+)\s*(.*)$');
        IF m IS NOT NULL THEN
            unit := m[1];
            town := nullif(btrim(m[2]), '');
        END IF;
    END IF;
    -- no commas: the street ends at its first suffix word, the town follows
    IF town IS NULL THEN
        words := regexp_split_to_array(street_part, ' ');
        suffix_at := NULL;
        -- "stony pt rd santa rosa": the street runs to the end of the first run of
        -- suffix words, so "pt rd" both belong to it
        FOR i IN 2..coalesce(array_length(words, 1), 0) LOOP
            IF words[i] = ANY (street_words) THEN
                suffix_at := i;
            ELSIF suffix_at IS NOT NULL THEN
                EXIT;
            END IF;
        END LOOP;
        IF suffix_at IS NOT NULL AND suffix_at < array_length(words, 1) THEN
            town := array_to_string(words[suffix_at + 1:], ' ');
            street_part := array_to_string(words[1:suffix_at], ' ');
            m := regexp_match(town, '^apt\s*([a-z0-9-]+)\s*(.*)$');
            IF m IS NOT NULL THEN
                unit := m[1];
                town := nullif(btrim(m[2]), '');
            END IF;
        END IF;
    END IF;
    IF street_part IS NULL OR street_part = '' THEN
        RETURN NULL;
    END IF;
    RETURN (regexp_match(v, '^(\d+[a-z]?)'))[1] || '|' || street_part || '|'
        || coalesce(unit, '') || '|' || coalesce(nullif(town, ''), zip, '');
END $$;

-- Two addresses may be merged only when their house numbers agree (A1 address_safe_to_merge).
CREATE OR REPLACE FUNCTION trapper.address_safe_to_merge(p_key_a text, p_key_b text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT split_part(p_key_a, '|', 1) = split_part(p_key_b, '|', 1)
       AND split_part(p_key_a, '|', 3) = split_part(p_key_b, '|', 3)
$$;

-- A microchip as stored, or NULL (A1/MIG_553, 910): separators stripped; 15-digit ISO;
-- 14 digits with a known prefix (truncated); 9-digit AVID; 10 digits; 10-character hex;
-- an embedded chip pulled out of a longer run of digits (a ShelterLuv id glued on). All
-- zeros, one repeated digit and 123456789-style values are refused; 'A' + 5-7 digits is a
-- shelter id, not a chip.
CREATE OR REPLACE FUNCTION trapper.validate_microchip(p_raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text;
    m text[];
BEGIN
    IF p_raw IS NULL THEN
        RETURN NULL;
    END IF;
    v := upper(regexp_replace(p_raw, '[\s.\-/]', '', 'g'));
    IF v = '' OR v ~ '^A\d{5,7}$' THEN
        RETURN NULL;
    END IF;
    IF v ~ '^\d+$' THEN
        IF length(v) > 15 THEN
            m := regexp_match(v, '(98[1256]\d{12}|900\d{12}|94[01]\d{12}|956\d{12}|97[78]\d{12})$');
            IF m IS NULL THEN
                m := regexp_match(v, '(98[1256]\d{12}|900\d{12}|94[01]\d{12}|956\d{12}|97[78]\d{12})');
            END IF;
            v := m[1];
            IF v IS NULL THEN RETURN NULL; END IF;
        END IF;
        IF v ~ '^(\d)\1*$' OR v LIKE '123456789%' OR v LIKE '0000%' THEN
            RETURN NULL;
        END IF;
        IF length(v) = 15 OR length(v) IN (9, 10)
           OR (length(v) = 14 AND left(v, 3) IN ('981', '900', '941', '985')) THEN
            RETURN v;
        END IF;
        RETURN NULL;
    END IF;
    IF v ~ '^[0-9A-F]{10}$' AND v !~ '^(.)\1*$' THEN
        RETURN v;
    END IF;
    RETURN NULL;
END $$;

-- What kind of chip a valid value is, and how far to trust it.
CREATE OR REPLACE FUNCTION trapper.microchip_format(p_chip text, OUT format text, OUT confidence numeric)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN length(p_chip) = 15 THEN 'iso_15'
                WHEN length(p_chip) = 14 THEN 'truncated_14'
                WHEN length(p_chip) = 9 THEN 'avid_9'
                WHEN p_chip ~ '^\d{10}$' THEN 'digits_10'
                ELSE 'hex_10' END,
           CASE WHEN length(p_chip) = 15 THEN 1.0
                WHEN length(p_chip) = 14 THEN 0.7
                ELSE 0.9 END
$$;
