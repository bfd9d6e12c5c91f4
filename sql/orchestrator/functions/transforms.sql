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
                              '^([+-]?)\$?\s*(\d{1,3}(?:,\d{3})+|\d+)?(\.\d*)?$') AS m) s
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

-- A date as exports write one: ISO (2025-03-14), US (3/14/2025, 3/14/25), the month's name
-- (Mar 14, 2025; 14 March 2025; 14-Mar-25), each with a time after it or not, or an Excel
-- date serial (45730); anything else is no date. PostgreSQL's date input was used before:
-- 'yesterday', 'today', 'now' gave the day the record was routed (a different one on each
-- replay), 'epoch' 1970-01-01, 'infinity' infinity, 'J2451187' a Julian day, and 'March 3,
-- 2025' cut to ten characters 2002-03-03; MM/DD against DD/MM followed the session's
-- DateStyle. The same reading as the core's trapper.parse_us_date, which a shadow install
-- does not own (tests/test_values.py keeps the two equal).
CREATE OR REPLACE FUNCTION trapper.orchestrator_to_date(p text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := lower(btrim(p, E' \t\r\n\u00a0'));
    m text[];
    y integer;
    mon integer;
    months constant text[] := ARRAY['january', 'february', 'march', 'april', 'may', 'june',
                                    'july', 'august', 'september', 'october', 'november',
                                    'december'];
    clock constant text := '(?:[ t]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[ap]m)?'
                           '\s*(?:z|[+-]\d{2}(?::?\d{2})?|utc|gmt)?)?$';
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    END IF;
    -- one regular expression a call, chosen by the form's look: a session caches 32
    -- compiled expressions, and a record's normalizers are near that (docs/benchmarks.md)
    IF strpos(v, '/') > 0 THEN
        m := regexp_match(v, '^(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})' || clock);
        IF m IS NULL THEN
            RETURN NULL;
        END IF;
        y := m[3]::integer;
        mon := m[1]::integer;
        m[3] := m[2];
    ELSIF substr(v, 5, 1) = '-' THEN
        m := regexp_match(v, '^(\d{4})-(\d{1,2})-(\d{1,2})' || clock);
        IF m IS NULL THEN
            RETURN NULL;
        END IF;
        RETURN make_date(m[1]::integer, m[2]::integer, m[3]::integer);
    ELSIF v <> upper(v) THEN
        -- the month's name: Mar 14, 2025; March 14th 2025; 14 March 2025; 14-Mar-25 (Excel's
        -- d-mmm-yy); a weekday before it
        m := regexp_match(v, '^(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?,?\s+)?'
                             '(?:([a-z]{3,9})\.?[\s-]+(\d{1,2})(?:st|nd|rd|th)?,?'
                             '|(\d{1,2})(?:st|nd|rd|th)?[\s-]+([a-z]{3,9})\.?,?)'
                             '[\s-]+(\d{4}|\d{2})' || clock);
        IF m IS NULL THEN
            RETURN NULL;
        END IF;
        m[1] := coalesce(m[1], m[4]);
        SELECT i INTO mon FROM generate_subscripts(months, 1) i
        WHERE months[i] LIKE m[1] || '%'
              AND (length(m[1]) = 3 OR months[i] = m[1] OR m[1] = 'sept');
        IF mon IS NULL THEN
            RETURN NULL;
        END IF;
        y := m[5]::integer;
        m[3] := coalesce(m[2], m[3]);
    ELSE
        -- an Excel date serial (a date column saved as a number, perhaps with the time as its
        -- fraction: 45730 is 2025-03-14); only five digits from 1954 to 2119, so that no
        -- other number passes for a date
        m := regexp_match(v, '^([2-7]\d{4})(?:\.\d+)?$');
        RETURN date '1899-12-30' + m[1]::integer;
    END IF;
    IF y < 100 THEN   -- PostgreSQL's and Excel's rule for two-digit years
        y := y + CASE WHEN y < 70 THEN 2000 ELSE 1900 END;
    END IF;
    RETURN make_date(y, mon, m[3]::integer);
EXCEPTION WHEN data_exception THEN   -- 2/30/2025, month 13
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_trim(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT nullif(btrim(p), '') $$;
