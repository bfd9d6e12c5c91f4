-- What the processors share: payload parsing, their result, and a person with their place.

-- A date as the exports write one: the year first (2025-03-14; 2025/03/14 as Google Forms'
-- CSV writes it; 2025.03.14), US (3/14/2025, 3/14/25, 3-14-2025), the month's name (Mar 14,
-- 2025; 14 March 2025; 14-Mar-25; after a weekday, "Friday, March 14, 2025"), each with a
-- time after it or not (a zone after the time: Z, -07:00, GMT-7, PDT), or an Excel date
-- serial (45730); anything else is no date. PostgreSQL's date input was used for the rest
-- before, on the first ten characters: 'yesterday', 'today' and 'now' gave the day the
-- record was processed (another on each replay), 'epoch' 1970-01-01, 'infinity' infinity,
-- and 'March 3, 2025' cut to 'March 3, 2' was 2002-03-03. The orchestrator's transform
-- (sql/orchestrator/functions/transforms.sql, orchestrator_to_date) and the ingest's record
-- ids (listener/ingest/source_profiles.py, parse_date) read the same forms with their own
-- copy, kept equal by tests/test_values.py: in a shadow install this function is the
-- host's, whose forms the orchestrator does not choose, and the orchestrator is no part of
-- a core-only install.
CREATE OR REPLACE FUNCTION trapper.parse_us_date(p_raw text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := lower(btrim(p_raw, E' \t\r\n\u00a0'));
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
    -- compiled expressions, and a record's normalizers are near that (docs/benchmarks.md);
    -- none for the two forms nearly every export writes (03/14/2025, 2025-03-14), read by
    -- position as the expressions below would read them
    IF length(v) = 10 AND substr(v, 3, 1) = '/' AND substr(v, 6, 1) = '/'
       AND translate(v, '0123456789', '') = '//' THEN
        y := substr(v, 7, 4)::integer;
        mon := substr(v, 1, 2)::integer;
        d := substr(v, 4, 2)::integer;
    ELSIF length(v) = 10 AND substr(v, 5, 1) = '-' AND substr(v, 8, 1) = '-'
          AND translate(v, '0123456789', '') = '--' THEN
        y := substr(v, 1, 4)::integer;
        mon := substr(v, 6, 2)::integer;
        d := substr(v, 9, 2)::integer;
    ELSIF substr(v, 5, 1) IN ('-', '/', '.') AND translate(left(v, 4), '0123456789', '') = '' THEN
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

-- A moment as the exports write one: a date parse_us_date reads, with its time when it is
-- ISO (2025-03-14T10:00:00Z: the same under any DateStyle), else the day's start; NULL for
-- anything else. PostgreSQL's timestamp input took 'yesterday' and 'now' for the time of
-- processing and failed the record on a blank.
CREATE OR REPLACE FUNCTION trapper.payload_timestamp(p_raw text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
    d date := trapper.parse_us_date(p_raw);
BEGIN
    IF d IS NULL THEN
        RETURN NULL;
    ELSIF substr(btrim(p_raw), 5, 1) = '-' AND length(btrim(p_raw)) > 10 THEN
        RETURN btrim(p_raw)::timestamptz;
    END IF;
    RETURN d::timestamptz;
EXCEPTION WHEN data_exception THEN   -- a time PostgreSQL does not take: the day
    RETURN d::timestamptz;
END $$;

-- A count as people type one: "5", "5.0", "~5", "about 5", "5+", "5 cats", "5?", a range
-- ("3-4", "3 to 4", "3 or 4") as its upper end, the colony the trapper should plan for; with
-- thousands separators in threes ("1,200", "~1,200", "1,000-1,200": they were no count,
-- though payload_number read 1200; issue 17); a number word ("six", "about five cats",
-- "a dozen", "half a dozen"). Anything else is no count, never a guess: words that say no
-- number ("a few", "several", "a couple", "dozens"), a space or a full stop between digits
-- ("1 200", "1.200": one number or two, a decimal or a thousand?), two numbers that are no
-- range ("2 adults, 3 kittens"), more than six digits; the field stays empty and the caller
-- counts it. The orchestrator's to_count($1) reads every count this does, the same
-- (sql/orchestrator/functions/transforms.sql; tests/test_listed_and_counts.py keeps them so).
-- (PL/pgSQL, as payload_number below: docs/benchmarks.md; a bare number, the common case,
-- without the regular expression)
CREATE OR REPLACE FUNCTION trapper.payload_int(p_raw text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := lower(btrim(p_raw));
    m text[];
    n text[];
    words constant text[] := ARRAY['one', 'two', 'three', 'four', 'five', 'six', 'seven',
                                   'eight', 'nine', 'ten', 'eleven', 'twelve'];
BEGIN
    IF length(v) BETWEEN 1 AND 6 AND translate(v, '0123456789', '') = '' THEN
        RETURN v::integer;
    END IF;
    m := regexp_match(v,
        E'^(?:~|about |approx\\.? |approximately |around |maybe |roughly )?\\s*'
        '(?:(\\d{1,3},\\d{3}|\\d{1,6})(?:\\.0+)?'
        '(?:\\s*(?:-|–|to|or)\\s*(\\d{1,3},\\d{3}|\\d{1,6})(?:\\.0+)?)?'
        '|(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a dozen|dozen|half a dozen))'
        '\\s*\\+?\\s*(?:cats?|kittens?)?\\s*\\??$');
    IF m IS NULL THEN
        RETURN NULL;
    ELSIF m[3] IS NOT NULL THEN
        RETURN CASE m[3] WHEN 'half a dozen' THEN 6 WHEN 'a dozen' THEN 12 WHEN 'dozen' THEN 12
                         ELSE array_position(words, m[3]) END;
    END IF;
    n := ARRAY[replace(m[1], ',', ''), replace(m[2], ',', '')];
    RETURN greatest(n[1]::integer, n[2]::integer);
END $$;

-- A number as people type one: "-122.71", "1,234.5" (thousands separators in threes),
-- "$12.50", ".5", "12."; NULL for anything else ("12 lbs", "1,2", "n/a"), which PostgreSQL's
-- cast failed the whole record on. One regular expression a call. The orchestrator's
-- to_numeric reads the same forms (sql/orchestrator/functions/transforms.sql).
-- (PL/pgSQL, as the helpers below: a SQL function that cannot be inlined is planned again
-- on every call from a statement, 60-250 us, more than its work; docs/benchmarks.md)
CREATE OR REPLACE FUNCTION trapper.payload_number(p_raw text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    m text[] := regexp_match(btrim(p_raw), E'^([+-]?)\\$?\\s*(\\d{1,3}(?:,\\d{3})+|\\d+)?(\\.\\d*)?$');
BEGIN
    RETURN CASE WHEN m[2] IS NOT NULL OR m[3] <> '.'
                THEN (m[1] || coalesce(replace(m[2], ',', ''), '0') || coalesce(m[3], ''))::numeric
           END;
END $$;

-- A request's status as the exports and their users write it, into sot_requests' values;
-- blank is 'new'. Another word is 'new' too, with known false for the caller to count
-- (trapper.note_unrecognised_value): "Done" or "Cancelled" was read as a new request,
-- and nobody saw it. Words, not patterns: no regular expression.
CREATE OR REPLACE FUNCTION trapper.request_status(p_raw text, OUT status text, OUT known boolean)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text := btrim(translate(lower(coalesce(p_raw, '')), '_-', '  '));
    st text;
BEGIN
    st := CASE
            WHEN v IN ('', 'new', 'open', 'opened', 'received', 'submitted', 'pending')
                THEN 'new'
            WHEN v IN ('triaged', 'reviewed', 'screened') THEN 'triaged'
            WHEN v IN ('scheduled', 'booked', 'appointment booked') THEN 'scheduled'
            WHEN v IN ('in progress', 'inprogress', 'active', 'working', 'assigned', 'trapping',
                       'ongoing') THEN 'in_progress'
            WHEN v IN ('closed', 'complete', 'completed', 'done', 'resolved', 'finished')
                THEN 'completed'
            WHEN v IN ('cancelled', 'canceled', 'declined', 'withdrawn', 'rejected', 'void')
                THEN 'cancelled'
            WHEN v IN ('on hold', 'hold', 'paused', 'waiting', 'waitlist', 'wait list')
                THEN 'on_hold'
            WHEN v IN ('redirected', 'referred', 'referred out') THEN 'redirected'
          END;
    status := coalesce(st, 'new');
    known := st IS NOT NULL;
END $$;

-- A shelter outcome as the exports write it ("Adoption", "ReturnToOwner", "Return to
-- Owner", "RTF", "Euthanasia", "DOA"), as what it says of the cat: the link to the outcome's
-- person ('adopter', 'foster', 'owner', 'caretaker', NULL for a transfer to another
-- organisation or a death) and whether the cat died. A blank, and another word, keep the
-- adopter link it always made; another word has known false for the caller to count. Every outcome but Foster was an
-- adoption before: a cat returned to its owner made the owner its adopter, and a dead cat
-- stayed alive. Words, not patterns: no regular expression.
CREATE OR REPLACE FUNCTION trapper.shelter_outcome(
    p_raw text, OUT relationship text, OUT deceased boolean, OUT known boolean
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text := translate(lower(btrim(coalesce(p_raw, ''))), ' _-/.', '');
    k text;
BEGIN
    k := CASE
            -- by the word's start: "Adoption - Offsite", "Transfer Out", "Euthanasia Requested"
            WHEN v = '' OR v LIKE 'adopt%' THEN 'adopter'
            WHEN v LIKE 'foster%' OR v LIKE 'tofoster%' THEN 'foster'
            WHEN v LIKE 'returntoowner%' OR v LIKE 'returnedtoowner%' OR v IN ('rto', 'rtos')
                 OR v LIKE 'reclaim%' OR v LIKE 'ownerreclaim%' THEN 'owner'
            WHEN v LIKE 'returntofield%' OR v LIKE 'returnedtofield%' OR v IN ('rtf', 'tnr')
                 OR v LIKE 'release%' OR v LIKE 'communitycat%' THEN 'caretaker'
            WHEN v LIKE 'transfer%' THEN 'transfer'
            WHEN v LIKE 'died%' OR v LIKE 'death%' OR v LIKE 'dead%' OR v LIKE 'deceased%'
                 OR v LIKE 'euthan%' OR v = 'doa' OR v LIKE 'doa%' THEN 'deceased'
          END;
    relationship := CASE WHEN k IN ('adopter', 'foster', 'owner', 'caretaker') THEN k
                         WHEN k IS NULL THEN 'adopter' END;
    deceased := coalesce(k = 'deceased', false);
    known := k IS NOT NULL;
END $$;

-- A yes/no as people and forms write one: JSON true/false, Yes/No, Y/N, TRUE/FALSE, 1/0,
-- an "x" or "checked" box, on/off; NULL when blank or not known ("unknown", "?"). Another
-- word is no answer: NULL, and the caller counts it (trapper.note_unrecognised_value).
-- PostgreSQL's boolean input failed the whole record on "", "x" or "checked", and comparing
-- with 'Yes' read JSON's true, "yes" and "Y" as no. Words, not patterns: no regular
-- expression. The orchestrator's typed values read the same words
-- (sql/orchestrator/functions/registry.sql, orchestrator_to_boolean).
CREATE OR REPLACE FUNCTION trapper.payload_bool(p_raw text, OUT value boolean, OUT known boolean)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v text := lower(btrim(p_raw));
BEGIN
    value := CASE WHEN v IN ('yes', 'y', 'true', 't', '1', '1.0', 'x', 'checked', 'on', '✓',
                           '✔') THEN true
                WHEN v IN ('no', 'n', 'false', 'f', '0', '0.0', 'off', 'unchecked', 'none')
                THEN false END;
    known := v IN ('yes', 'y', 'true', 't', '1', '1.0', 'x', 'checked', 'on', '✓', '✔', 'no', 'n',
                   'false', 'f', '0', '0.0', 'off', 'unchecked', 'none', '', 'unknown', '?',
                   'n/a', 'na') OR v IS NULL;
END $$;

-- Address parts joined with commas, empty parts left out ("street, town, CA, 95404":
-- normalize_address folds the state and ZIP back together). A part that is a whole number
-- written as a float (a ZIP of 95404.0 from a JSON export, or a CSV column a spreadsheet
-- tool saved as floats) is its digits: "95404.0" made another place than "95404".
-- The last of three parts or more is the ZIP's slot (every processor passes the ZIP last:
-- street, town, ZIP or street, town, state, ZIP), read by trapper.zip_slot: a ZIP saved as
-- a number ("2134" for 02134) is its five digits, or "Boston, MA, 2134" keyed as the town
-- "boston ma 2134", another place than "Boston, MA 02134" (docs/identity.md, "Places").
CREATE OR REPLACE FUNCTION trapper.join_address(VARIADIC parts text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    x text;
    v text;
    kept text[] := '{}';
    n integer := coalesce(cardinality(parts), 0);
    i integer := 0;
BEGIN
    FOREACH x IN ARRAY coalesce(parts, '{}') LOOP
        i := i + 1;
        -- (a clean ZIP, five digits, as before: zip_slot's call is kept for the others)
        v := CASE WHEN i = n AND n >= 3
                       AND (length(x) <> 5 OR translate(x, '0123456789', '') <> '')
                  THEN trapper.zip_slot(x)
                  WHEN strpos(x, '.') > 0 THEN trapper.source_id(x) ELSE nullif(btrim(x), '') END;
        IF v IS NOT NULL THEN
            kept := kept || v;
        END IF;
    END LOOP;
    RETURN nullif(array_to_string(kept, ', '), '');
END $$;

-- (STABLE, as jsonb_build_object is: declared IMMUTABLE it was never inlined, and ran as a
-- function of its own for every record, 172,000 calls in the atlas load)
CREATE OR REPLACE FUNCTION trapper.processed(p_type text, p_id uuid, p_created boolean DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object('entity_type', p_type, 'entity_id', p_id,
                                                'created', p_created))
$$;

-- A person (or a non-person account) from the usual fields, with their place.
CREATE OR REPLACE FUNCTION trapper.process_person_fields(
    p_staged bigint, p_source text, p_first text, p_last text, p_email text, p_phone text,
    p_cell text, p_address text, p_role text DEFAULT 'resident',
    p_allow_name_only boolean DEFAULT false, p_lat double precision DEFAULT NULL,
    p_lng double precision DEFAULT NULL,
    OUT person_id uuid, OUT place_id uuid, OUT account_id uuid, OUT decision text
)
LANGUAGE plpgsql AS $$
DECLARE
    -- (on the names as the resolver reads them: it is handed this gate, not asking again)
    v_gate record := trapper.should_be_person(nullif(btrim(p_first), ''),
                                              nullif(btrim(p_last), ''));
    v_res record;
    v_parts jsonb;
BEGIN
    IF v_gate.kind = 'address' THEN
        -- "Old Stony Pt Rd" typed as the owner's name is a place, not a person
        place_id := trapper.find_or_create_place_deduped(p_first, NULL, NULL, NULL, p_source,
                                                         p_staged);
        decision := 'address_as_name';
        RETURN;
    END IF;
    -- the address read once, for the place and for the person's address agreement
    v_parts := trapper.address_parts_memoized(p_address);
    place_id := trapper.place_of_address_parts(v_parts, p_address, NULL, p_lat, p_lng,
                                               p_source, p_staged);
    IF v_gate.kind <> 'person' THEN
        account_id := trapper.find_or_create_clinic_account(
            btrim(coalesce(p_first, '') || ' ' || coalesce(p_last, '')), v_gate.kind, p_email,
            coalesce(p_phone, p_cell), p_staged);
    END IF;
    v_res := trapper.data_engine_resolve_identity(p_email, p_phone, p_first, p_last, p_address,
                                                  p_source, p_staged, p_cell, p_allow_name_only,
                                                  trapper.address_key_of(v_parts),
                                                  v_gate.kind, v_gate.reason);
    person_id := v_res.person_id;
    decision := v_res.decision_type;
    PERFORM trapper.link_person_place(person_id, place_id, p_role, p_source);
END $$;
