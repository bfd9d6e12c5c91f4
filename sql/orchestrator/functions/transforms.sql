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

CREATE OR REPLACE FUNCTION trapper.orchestrator_to_date(p text) RETURNS date
LANGUAGE sql IMMUTABLE AS $$ SELECT trapper.parse_us_date(p) $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_trim(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT nullif(btrim(p), '') $$;
