-- The casts a routing rule's transform may apply (ORCH_002).

-- Casts a transform may apply, as functions (so a rule never carries SQL text).
CREATE OR REPLACE FUNCTION trapper.orchestrator_to_integer(p text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN btrim(p) ~ '^-?\d{1,9}(\.0+)?$' THEN split_part(btrim(p), '.', 1)::integer END
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_to_numeric(p text) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN btrim(p) ~ '^-?\d+(\.\d+)?$' THEN btrim(p)::numeric END
$$;

-- A date as exports write one: ISO (2025-03-14, with a time or not), US (3/14/2025, 3/14/25,
-- with a time or not) or with the month's name (Mar 14, 2025; 14 March 2025); anything else
-- is no date. PostgreSQL's date input was used before: 'yesterday', 'today', 'now' gave the
-- day the record was routed (a different one on each replay), 'epoch' 1970-01-01,
-- 'infinity' infinity, 'J2451187' a Julian day, and 'March 3, 2025' cut to ten characters
-- 2002-03-03; MM/DD against DD/MM followed the session's DateStyle.
CREATE OR REPLACE FUNCTION trapper.orchestrator_to_date(p text) RETURNS date
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := btrim(p);
    m text[];
    y integer;
    mon integer;
    months constant text[] := ARRAY['january', 'february', 'march', 'april', 'may', 'june',
                                    'july', 'august', 'september', 'october', 'november',
                                    'december'];
    clock constant text := '(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?'
                           '(?:Z|[+-]\d{2}(?::?\d{2})?)?)?';
BEGIN
    IF v IS NULL OR v = '' THEN
        RETURN NULL;
    END IF;
    m := regexp_match(v, '^(\d{4})-(\d{1,2})-(\d{1,2})' || clock || '$');
    IF m IS NOT NULL THEN
        RETURN make_date(m[1]::integer, m[2]::integer, m[3]::integer);
    END IF;
    m := regexp_match(v, '^(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})' || clock || '$');
    IF m IS NOT NULL THEN
        y := m[3]::integer;
        IF length(m[3]) = 2 THEN   -- PostgreSQL's and Excel's rule for two-digit years
            y := y + CASE WHEN y < 70 THEN 2000 ELSE 1900 END;
        END IF;
        RETURN make_date(y, m[1]::integer, m[2]::integer);
    END IF;
    m := regexp_match(v, '^([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})$');
    IF m IS NULL THEN
        m := regexp_match(v, '^(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})$');
        m := CASE WHEN m IS NULL THEN NULL ELSE ARRAY[m[2], m[1], m[3]] END;
    END IF;
    IF m IS NOT NULL THEN
        SELECT i INTO mon FROM generate_subscripts(months, 1) i
        WHERE months[i] LIKE lower(m[1]) || '%' AND length(m[1]) >= 3
              AND (length(m[1]) = 3 OR months[i] = lower(m[1]) OR lower(m[1]) = 'sept');
        IF mon IS NOT NULL THEN
            RETURN make_date(m[3]::integer, mon, m[2]::integer);
        END IF;
    END IF;
    RETURN NULL;
EXCEPTION WHEN data_exception THEN   -- 2/30/2025, month 13
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_trim(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT nullif(btrim(p), '') $$;
