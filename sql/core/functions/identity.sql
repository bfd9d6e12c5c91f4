-- Identity resolution: the gate, exact identifier lookup guarded by names, shared
-- identifiers demoted, never a match on name alone, Fellegi–Sunter log-odds scoring, and
-- every decision written down with its evidence (docs/research/atlas-data.md §1, closing section).
-- Why lookups decide before they lock: 009_less_contention.sql.

-- (Small helpers are PL/pgSQL, not SQL: a non-inlined SQL function is planned again on
-- every call, which cost more than the work at 170,000 records.)
-- Whether, and why, a normalised identifier is refused by the blocklist: the reason, or
-- NULL when it may be used. The one lookup usable_email, usable_phone and identifiers_refused
-- make, so that what is dropped and what the rejection says cannot disagree (a copy of the
-- lookup in each had been the case). p_type is 'email' (the address or its domain) or
-- 'phone'; p_value is norm_email's or norm_phone_us's result.
CREATE OR REPLACE FUNCTION trapper.identifier_blocked(p_type text, p_value text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    why text;
BEGIN
    IF p_type = 'email' THEN
        -- a mailbox name that says there is none ("noemail@gmail.com", "none@yahoo.com",
        -- "declined@…", "n.a@…": core 045), read without its dots, dashes and underscores
        SELECT b.reason INTO why FROM trapper.identity_blocklist b
        WHERE (b.id_type = 'email_domain' AND b.value = split_part(p_value, '@', 2))
           OR (b.id_type = 'email' AND b.value = p_value)
           OR (b.id_type = 'email_local'
               AND b.value = translate(split_part(p_value, '@', 1), '._-', ''))
        ORDER BY b.id_type LIMIT 1;
    ELSE
        -- a local number of one digit seven times (555-5555, 222-2222, any area code) is what
        -- a form's required phone gets typed as; never a line of its own (docs/identity.md)
        IF translate(substr(p_value, 4), substr(p_value, 4, 1), '') = '' THEN
            RETURN 'a placeholder: one digit repeated';
        END IF;
        SELECT b.reason INTO why FROM trapper.identity_blocklist b
        WHERE b.id_type = 'phone' AND b.value = p_value;
    END IF;
    RETURN why;
END $$;

-- An email as its mailbox (core 034; docs/identity.md, "People", step 2): a
-- domain typed wrong is the domain meant (trapper.email_domain_typos: "gmial.com" is
-- "gmail.com"), and a provider that delivers several forms to one mailbox
-- (trapper.email_mailbox_rules) has them as one: Gmail's dots and +tags, another provider's
-- +tags. Any other email is as norm_email gave it. One indexed read of each table.
CREATE OR REPLACE FUNCTION trapper.email_mailbox(p_email text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    local text := split_part(p_email, '@', 1);
    dom text := split_part(p_email, '@', 2);
    r record;
BEGIN
    IF p_email IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT coalesce((SELECT t.domain FROM trapper.email_domain_typos t WHERE t.typo = dom), dom)
        INTO dom;
    SELECT m.mailbox_domain, m.ignores_dots, m.plus_tags INTO r
    FROM trapper.email_mailbox_rules m WHERE m.domain = dom;
    IF FOUND THEN
        dom := r.mailbox_domain;
        IF r.plus_tags AND strpos(local, '+') > 1 THEN
            local := split_part(local, '+', 1);
        END IF;
        IF r.ignores_dots THEN
            local := replace(local, '.', '');
        END IF;
    END IF;
    RETURN local || '@' || dom;
END $$;

-- The email a cell gives, as its mailbox: the cell's one address, else the first of the
-- several it lists ("ann@x.org; bob@y.org", "Ann <ann@x.org>, Bob <bob@y.org>"), usable or
-- not; NULL when it holds none, which note_unread_identifiers counts as a value unread. (The
-- person takes the first usable: usable_email.) The list is read only when the cell is no
-- one address.
CREATE OR REPLACE FUNCTION trapper.email_of_cell(p_raw text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    e text := trapper.norm_email(p_raw);
BEGIN
    IF e IS NULL AND strpos(p_raw, '@') > 0 THEN
        e := (trapper.emails_listed(p_raw))[1];
    END IF;
    RETURN trapper.email_mailbox(e);
END $$;

-- The email a record's cell gives the person, as its mailbox: the cell's one address when
-- the blocklist takes it, else the first of the several it lists that the blocklist takes
-- ("none@none.com; ann@x.org", "noemail@gmail.com, ann@x.org": the first refused had left
-- the person no email, though the cell held a usable one; issue 17, docs/identity.md "A cell
-- that lists several"). NULL when none is usable: identifiers_refused says why. A rule's
-- norm_email($1) passes the same address (orchestrator_usable, functions/transforms.sql).
CREATE OR REPLACE FUNCTION trapper.usable_email(p_raw text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    e text := trapper.norm_email(p_raw);
BEGIN
    IF e IS NOT NULL THEN
        e := trapper.email_mailbox(e);
        RETURN CASE WHEN trapper.identifier_blocked('email', e) IS NULL THEN e END;
    ELSIF coalesce(strpos(p_raw, '@'), 0) = 0 THEN
        RETURN NULL;
    END IF;
    FOREACH e IN ARRAY trapper.emails_listed(p_raw) LOOP
        e := trapper.email_mailbox(e);
        IF trapper.identifier_blocked('email', e) IS NULL THEN
            RETURN e;
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trapper.usable_phone(p_raw text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text := trapper.norm_phone_us(p_raw);
BEGIN
    IF v IS NULL OR trapper.identifier_blocked('phone', v) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    RETURN v;
END $$;

-- The numbers a record's phone cells give, usable, each once, in order: a cell's one
-- number, and every number a cell of twenty digits or more lists ("707-523-1234 /
-- 707-523-9876", "707-523-1234 (work), 707-523-9876 (cell)", "cell: 707… home: 707…": both
-- the person's, where they had been no number at all, and the record rejected when it had no
-- other, or the first alone; a rule's norm_phone_us($1) passes the first usable, the next
-- usable as the person's cell). A cell that is no one number is read for the numbers it
-- lists however many its digits ("555-5555, 707-523-1234", seventeen: a rule's
-- norm_phone_us($1) passed 7075231234, a processor nothing; issue 17). A number the
-- blocklist refuses is skipped, never the cell ("555-555-5555 / 707-523-1234").
CREATE OR REPLACE FUNCTION trapper.usable_phones(p_cells text[]) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
    raw text;
    v text;
    listed text[];
    got text[] := '{}';
BEGIN
    FOREACH raw IN ARRAY coalesce(p_cells, '{}') LOOP
        CONTINUE WHEN raw IS NULL;
        v := trapper.norm_phone_us(raw);
        listed := CASE WHEN trapper.phone_cell_lists(raw)
                            -- (ten digits at the least: no regular expression for "n/a")
                            OR (v IS NULL
                                AND length(translate(raw, translate(raw, '0123456789', ''), '')) >= 10)
                       THEN trapper.phones_listed_us(raw) ELSE '{}' END;
        IF v IS NOT NULL AND NOT v = ANY (listed) THEN
            listed := v || listed;
        END IF;
        FOREACH v IN ARRAY listed LOOP
            IF NOT v = ANY (got) AND trapper.identifier_blocked('phone', v) IS NULL THEN
                got := got || v;
            END IF;
        END LOOP;
    END LOOP;
    RETURN got;
END $$;

-- A value in a record's email or phone cell that reads as none, counted for the record
-- (trapper.unrecognised_values, field 'email', 'phone' or 'cell'), as an unread microchip
-- is: a phone with digits that is no number ("707-555-123", "000-000-0000", "1-800-FLOWERS"),
-- an email with an @ that is no address ("ann@gmail", "ann @ x.org"). It was dropped
-- unsaid when the record had another identifier. A placeholder refused on purpose
-- ("noemail@gmail.com", "555-555-5555") is no unread value: the blocklist names it. Called
-- only when a cell gave nothing.
CREATE OR REPLACE FUNCTION trapper.note_unread_identifiers(
    p_staged_record_id bigint, p_email text, p_phone text, p_cell text
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF strpos(p_email, '@') > 0 AND trapper.email_of_cell(p_email) IS NULL THEN
        PERFORM trapper.note_unrecognised_value(p_staged_record_id, 'email', p_email);
    END IF;
    IF translate(p_phone, '0123456789', '') <> p_phone
       AND trapper.norm_phone_us(p_phone) IS NULL
       AND cardinality(trapper.phones_listed_us(p_phone)) = 0 THEN
        PERFORM trapper.note_unrecognised_value(p_staged_record_id, 'phone', p_phone);
    END IF;
    IF translate(p_cell, '0123456789', '') <> p_cell
       AND trapper.norm_phone_us(p_cell) IS NULL
       AND cardinality(trapper.phones_listed_us(p_cell)) = 0 THEN
        PERFORM trapper.note_unrecognised_value(p_staged_record_id, 'cell', p_cell);
    END IF;
END $$;

-- Why a record's email and phones were of no use, for its rejected decision: "no usable
-- email or phone" alone did not say that an email was there and refused, nor why. Called on
-- that path only. A cell listing several says each it lists (every one refused, or the
-- record would not be rejected), read as usable_email and usable_phones read it.
CREATE OR REPLACE FUNCTION trapper.identifiers_refused(p_email text, p_phones text[])
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    said text[] := '{}';
    e text := trapper.norm_email(p_email);
    why text;
    raw text;
    v text;
    listed text[];
BEGIN
    IF nullif(btrim(p_email), '') IS NOT NULL THEN
        listed := CASE WHEN e IS NOT NULL THEN ARRAY[e]
                       WHEN strpos(p_email, '@') > 0 THEN trapper.emails_listed(p_email)
                       ELSE '{}' END;
        IF cardinality(listed) = 0 THEN
            said := said || format('email %L is not an email address', left(btrim(p_email), 80));
        END IF;
        FOREACH e IN ARRAY listed LOOP
            e := trapper.email_mailbox(e);
            why := trapper.identifier_blocked('email', e);
            IF why IS NOT NULL THEN
                said := said || format('email %s is on the identity blocklist (%s)', e, why);
            END IF;
        END LOOP;
    END IF;
    FOREACH raw IN ARRAY coalesce(p_phones, '{}') LOOP
        CONTINUE WHEN nullif(btrim(raw), '') IS NULL;
        v := trapper.norm_phone_us(raw);
        listed := CASE WHEN v IS NOT NULL AND NOT trapper.phone_cell_lists(raw) THEN ARRAY[v]
                       ELSE trapper.phones_listed_us(raw) END;
        IF v IS NOT NULL AND NOT v = ANY (listed) THEN
            listed := v || listed;
        END IF;
        IF cardinality(listed) = 0 THEN
            said := said || (format('phone %L is not a US number', left(btrim(raw), 40))
                             || coalesce(' (' || trapper.phone_refusal(raw) || ')', ''));
        END IF;
        FOREACH v IN ARRAY listed LOOP
            why := trapper.identifier_blocked('phone', v);
            IF why IS NOT NULL THEN
                said := said || format('phone %s is on the identity blocklist (%s)', v, why);
            END IF;
        END LOOP;
    END LOOP;
    RETURN nullif(array_to_string(said, '; '), '');
END $$;

-- Whether a name is no more than initials ("A.", "A. N.") or empty: what a person made from
-- such records lacks, for the first record with a whole name to fill (the resolver).
CREATE OR REPLACE FUNCTION trapper.name_is_initials(p_first text, p_last text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    k text := trapper.norm_name_key(concat_ws(' ', p_first, p_last));
BEGIN
    RETURN k IS NULL OR length(replace(k, ' ', '')) = cardinality(string_to_array(k, ' '));
END $$;

-- The gate before matching: is this a person at all? Returns the kind of non-person
-- ('organization', 'placeholder', 'business', 'agency', 'address') and why, or 'person'.
CREATE OR REPLACE FUNCTION trapper.should_be_person(
    p_first text, p_last text, OUT kind text, OUT reason text
)
LANGUAGE plpgsql STABLE
-- Its word-table queries take the name's words as parameters, and PL/pgSQL planned them
-- afresh on every call (a custom plan is no better for a table of forty words): 61 µs a call
-- against 30 µs before core 021's placeholder words, and 31–35 µs with generic plans
-- (20,000 names alternated in one session, docs/benchmarks.md).
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    f text;
    l text;
    full_name text;
    words text[];
    spaced text;
    cut text[];
BEGIN
    -- "Mary Smith c/o ABC Property Mgmt", "c/o Mary Smith", "Ann Lee care of Joe's Auto": the
    -- name is the addressee, before the "care of", else after it (its "co" was read as
    -- Company, and the person as a business)
    IF strpos(lower(p_first), 'c/o') > 0 OR strpos(lower(p_first), 'care of') > 0
       OR strpos(lower(p_last), 'c/o') > 0 OR strpos(lower(p_last), 'care of') > 0 THEN
        cut := regexp_split_to_array(coalesce(p_first, '') || ' ' || chr(1) || ' ' || coalesce(p_last, ''),
                                     E'\\s*\\m(?:c ?/ ?o|care of)\\M:?\\s*', 'i');
        IF cardinality(cut) = 2 THEN
            -- (chr(1) marks where the first-name field ended)
            IF nullif(btrim(replace(cut[1], chr(1), '')), '') IS NOT NULL THEN
                p_first := split_part(cut[1], chr(1), 1);
                p_last := CASE WHEN strpos(cut[1], chr(1)) > 0 THEN split_part(cut[1], chr(1), 2) END;
            ELSE
                p_first := CASE WHEN strpos(cut[2], chr(1)) > 0 THEN split_part(cut[2], chr(1), 1) ELSE cut[2] END;
                p_last := CASE WHEN strpos(cut[2], chr(1)) > 0 THEN split_part(cut[2], chr(1), 2) END;
            END IF;
        END IF;
    END IF;
    f := trapper.norm_name_key(p_first);
    l := trapper.norm_name_key(p_last);
    full_name := btrim(coalesce(f, '') || ' ' || coalesce(l, ''));
    words := string_to_array(full_name, ' ');
    spaced := ' ' || full_name || ' ';
    kind := 'person';
    IF full_name = '' THEN
        reason := 'no name given';   -- a person known by an identifier alone
    -- Whole words and phrases by string functions, not regular expressions: PostgreSQL keeps
    -- 32 compiled a session, fewer than a record's normalizers used, so each was compiled
    -- again on every call (docs/benchmarks.md, "Identity").
    ELSIF words && ARRAY['rebooking', 'placeholder', 'unknown', 'test', 'none', 'tbd']
          OR strpos(spaced, ' n a ') > 0
          -- a name of nothing but such words ("N/A", "Owner", "Community Cat"); the first
          -- word's one-row lookup first, since most names have none (the list read whole for
          -- every name was a fifth of this function's cost)
          OR (EXISTS (SELECT 1 FROM trapper.name_placeholder_words p WHERE p.word = words[1])
              AND words <@ ARRAY(SELECT p.word FROM trapper.name_placeholder_words p)
              -- but initials alone ("A.", "N.", "A. N.") are a person's: the words hold "a"
              -- and "n" for "N/A" (caught above as such), and an owner written as an initial
              -- beside a real email and phone was rejected, the record's person lost (seven
              -- rows of the atlas10 world; docs/identity.md). "X" stays a placeholder.
              AND NOT (length(replace(full_name, ' ', '')) = cardinality(words)
                       AND translate(full_name, '0123456789x', '') = full_name)) THEN
        kind := 'placeholder'; reason := format('placeholder name "%s"', full_name);
    ELSIF 'scas' = ANY (words) OR strpos(spaced, ' animal services ') > 0
          OR strpos(spaced, ' animal control ') > 0 THEN
        kind := 'agency'; reason := format('animal services agency "%s"', full_name);
    ELSIF strpos(full_name, 'forgotten felines') > 0 THEN
        kind := 'organization'; reason := 'the organisation''s own account';
    ELSIF f ~ E'^\\d+[a-z]? '
          -- a PO box or a rural route box typed as the name ("PO Box 12", "RR 2 Box 14",
          -- "HC 1 Box 30"; core 042): no person (a rural route box is a place, a PO box none)
          OR (strpos(spaced, ' box ') > 0 OR strpos(spaced, ' bx ') > 0)
             AND words[1] = ANY (ARRAY['po', 'p', 'pob', 'box', 'bx', 'rr', 'r', 'rfd', 'rural',
                                       'hc', 'hcr', 'star', 'post'])
             AND translate(full_name, '0123456789', '') <> full_name
          OR (l IS NULL AND strpos(f, ' ') > 0
              AND reverse(split_part(reverse(f), ' ', 1)) = ANY (ARRAY['rd', 'road', 'st',
                  'street', 'ave', 'avenue', 'ln', 'lane', 'dr', 'drive', 'ct', 'court',
                  'way', 'blvd', 'hwy', 'pt', 'pl', 'cir'])) THEN
        kind := 'address'; reason := format('an address typed as the name: "%s"', p_first);
    ELSIF f IS NOT NULL AND f = l AND position(' ' IN f) > 0 THEN
        kind := 'business'; reason := format('the same business name in both name fields: "%s"', p_first);
    ELSIF EXISTS (SELECT 1 FROM trapper.organization_keywords k
                  WHERE k.keyword = ANY (words)
                    -- "Ann Church": a surname, with one first name before it
                    AND NOT (k.also_surname AND k.keyword = l
                             AND strpos(f, ' ') = 0 AND f <> l)) THEN
        -- whole words: a primary-key lookup per word of the name, not a regex per keyword
        -- (which also flushed PostgreSQL's small cache of compiled regexes for every other
        -- function), nor the keywords read whole for every name (a third of this
        -- function's cost: 21 µs a call before these two lookups, 14 after; 39,576 names of
        -- the atlas world judged the same; docs/benchmarks.md)
        kind := 'business'; reason := format('an organisation name: "%s"', full_name);
    -- A chain store or brand ("Safeway #1234", "Home Depot"; core 025): the brands' first
    -- words are one row (trapper.name_brand_words), so the common name costs one small
    -- lookup; only a name that holds one of them reads the phrases, as whole words.
    ELSIF (SELECT x.first_words ?| words FROM trapper.name_brand_words x)
          AND EXISTS (SELECT 1 FROM trapper.name_brands b
                      WHERE b.first_word = ANY (words)
                        AND strpos(spaced, ' ' || b.phrase || ' ') > 0
                        -- "Joan Target": a surname after a first name
                        AND NOT (b.also_surname AND l IS NOT NULL AND f IS NOT NULL
                                 AND b.phrase = l AND f <> l)) THEN
        kind := 'business'; reason := format('a business name: "%s"', full_name);
    END IF;
END $$;

-- trapper.name_brand_words (core 025) made again from trapper.name_brands: the brands' first
-- words as the keys of one jsonb object, which should_be_person reads to tell in one lookup
-- whether a name may hold a brand. Run by triggers/name_brands.sql after every change to
-- name_brands. (plpgsql: its body names tables made later, by 025)
CREATE OR REPLACE FUNCTION trapper.name_brand_words_refresh() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM trapper.name_brand_words;
    INSERT INTO trapper.name_brand_words (first_words)
    SELECT coalesce(jsonb_object_agg(w.first_word, true), '{}')
    FROM (SELECT DISTINCT first_word FROM trapper.name_brands) w;
END $$;

-- Record that a source row made, matched or updated an entity.
CREATE OR REPLACE FUNCTION trapper.record_entity_source(
    p_entity_type text, p_entity_id uuid, p_staged_record_id bigint, p_action text,
    p_detail text DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trapper.entity_sources
        (entity_type, entity_id, source_system, source_table, source_row_id, staged_record_id,
         action, detail)
    SELECT p_entity_type, p_entity_id, s.source_system, s.source_table, s.source_row_id, s.id,
           p_action, p_detail
    FROM trapper.staged_records s WHERE s.id = p_staged_record_id AND p_entity_id IS NOT NULL;
END $$;

CREATE OR REPLACE FUNCTION trapper.add_person_identifier(
    p_person uuid, p_type text, p_norm text, p_raw text, p_staged bigint, p_conf numeric
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trapper.person_identifiers
        (person_id, id_type, id_value_norm, id_value_raw, source_system, source_table,
         source_row_id, staged_record_id, confidence)
    SELECT p_person, p_type, p_norm, p_raw, s.source_system, s.source_table, s.source_row_id,
           p_staged, p_conf
    FROM (SELECT 1) one
    LEFT JOIN trapper.staged_records s ON s.id = p_staged
    WHERE p_norm IS NOT NULL AND p_person IS NOT NULL
    ON CONFLICT (person_id, id_type, id_value_norm) DO UPDATE
        SET confidence = greatest(trapper.person_identifiers.confidence, EXCLUDED.confidence);
END $$;

-- This source record was seen before, queued for review and settled `kept_separate` (a
-- person said its person is not the candidate): when the best candidate now is either side
-- of that pair, the person kept for the record (canonical) and the one it was kept apart
-- from; else no row. Reads the decisions' source index; only a pair in the review band asks.
CREATE OR REPLACE FUNCTION trapper.review_kept_apart(
    p_source_system text, p_source_table text, p_source_row_id text, p_candidate uuid,
    OUT kept uuid, OUT apart_from uuid, OUT decision_id bigint
)
LANGUAGE sql STABLE AS $$
    SELECT k.kept, k.apart_from, k.decision_id
    FROM (SELECT trapper.get_canonical_person_id(d.resulting_person_id) AS kept,
                 trapper.get_canonical_person_id(d.top_candidate_id) AS apart_from,
                 d.decision_id
          FROM trapper.data_engine_match_decisions d
          WHERE p_source_row_id IS NOT NULL
            -- (the decisions' collation named: a caller passing staged_records' "C" columns
            -- gave the comparison theirs, no index served it, and every call read the whole
            -- table, 10 ms at 70,000 decisions and growing with them)
            AND d.source_system = p_source_system COLLATE "default"
            AND d.source_table = p_source_table COLLATE "default"
            AND d.source_row_id = p_source_row_id COLLATE "default"
            AND d.review_status = 'kept_separate') k
    WHERE p_candidate IN (k.kept, k.apart_from) AND k.kept <> k.apart_from
    ORDER BY k.decision_id DESC
    LIMIT 1
$$;

-- This source record was seen before, queued for review and settled `merged` (a person said
-- its person is the candidate): when the best candidate now is the person they became
-- (canonical), that person and the decision; else no row. Without it, the same record
-- again (`replay --apply`, a new version) made one more person and queued the very pair
-- the reviewer had settled. Reads the decisions' source index; only a pair in the review
-- band asks.
CREATE OR REPLACE FUNCTION trapper.review_merged_into(
    p_source_system text, p_source_table text, p_source_row_id text, p_candidate uuid,
    OUT survivor uuid, OUT decision_id bigint
)
LANGUAGE sql STABLE AS $$
    SELECT k.survivor, k.decision_id
    FROM (SELECT trapper.get_canonical_person_id(d.resulting_person_id) AS survivor,
                 d.decision_id
          FROM trapper.data_engine_match_decisions d
          WHERE p_source_row_id IS NOT NULL
            -- (the decisions' collation named, as in review_kept_apart)
            AND d.source_system = p_source_system COLLATE "default"
            AND d.source_table = p_source_table COLLATE "default"
            AND d.source_row_id = p_source_row_id COLLATE "default"
            AND d.review_status = 'merged') k
    WHERE k.survivor = p_candidate
    ORDER BY k.decision_id DESC
    LIMIT 1
$$;

-- Resolve one incoming person record. Candidates come only from identifier lookups, so a
-- name alone can never match. Each candidate is scored with Fellegi–Sunter weights (an
-- identifier held by several people uses the weaker 'phone_shared' weight; a weight is
-- scaled by the sources' confidence); the decision and its breakdown are recorded.
-- (p_address_key arrived with core 018, which dropped the signature without it; p_gate_kind
-- and p_gate_reason with core 049, which dropped the one without them.)
CREATE OR REPLACE FUNCTION trapper.data_engine_resolve_identity(
    p_email text, p_phone text, p_first text, p_last text, p_address text,
    p_source_system text, p_staged_record_id bigint DEFAULT NULL,
    p_cell text DEFAULT NULL, p_allow_name_only boolean DEFAULT false,
    p_address_key text DEFAULT NULL, p_gate_kind text DEFAULT NULL,
    p_gate_reason text DEFAULT NULL,
    OUT person_id uuid, OUT decision_type text, OUT confidence_score numeric,
    OUT household_id uuid, OUT decision_id bigint, OUT decision_reason text
)
LANGUAGE plpgsql
-- Its statements take parameters whose custom plans were no better than the generic ones,
-- yet PL/pgSQL kept planning them afresh on every call: half of the ~1 ms a call cost at
-- atlas scale (2,000 calls: 2.1 s, 1.0 s with generic plans). No statement here (or in the
-- helpers it calls) depends on a constant for its plan, such as a LIKE prefix.
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_email text := trapper.usable_email(p_email);
    -- every number of the two cells, sorted: the locks below are taken in this order
    v_phones text[] := ARRAY(SELECT x FROM unnest(trapper.usable_phones(ARRAY[p_phone, p_cell])) x
                             ORDER BY x);
    -- p_address_key: trapper.address_key(p_address), from a caller that read the address
    -- already for its place (process_person_fields), so that it is not read twice; else read
    -- here, only when there is a candidate to compare it with (v_addr_read)
    v_addr text := p_address_key;
    v_addr_read boolean := p_address_key IS NOT NULL OR p_address IS NULL;
    v_conf numeric;
    v_auto double precision;
    v_review double precision;
    v_shared_n integer;
    v_gate record;
    v_best record;
    fsw record;
    v_src record;
    v_first text := nullif(btrim(p_first), '');
    v_last text := nullif(btrim(p_last), '');
    v_name text;
    v_locked boolean := false;
    v_kept record;
    v_merged record;
    v_outcome text;
    v_listed text[];
    v_used integer;              -- which of the cell's listed emails the person took
    v_prev record;
BEGIN
    -- a cell that gave nothing is counted for the record (the test in plain expressions:
    -- most records skip the call)
    IF p_staged_record_id IS NOT NULL
       AND ((v_email IS NULL AND strpos(p_email, '@') > 0)
            OR cardinality(v_phones) < (CASE WHEN nullif(btrim(p_phone), '') IS NULL THEN 0 ELSE 1 END
                                        + CASE WHEN nullif(btrim(p_cell), '') IS NULL
                                                    OR p_cell = p_phone THEN 0 ELSE 1 END)) THEN
        PERFORM trapper.note_unread_identifiers(p_staged_record_id, p_email, p_phone, p_cell);
    END IF;
    -- every weight, threshold and the source's confidence in one statement (the weights
    -- are identity_weights(), shared with `explain`: identity_scoring.sql)
    SELECT w.*,
           coalesce((SELECT confidence FROM trapper.source_identity_confidence
                     WHERE source_system = p_source_system), 0.8) AS conf
    INTO fsw FROM trapper.identity_weights() w;
    v_conf := fsw.conf::numeric;
    v_auto := fsw.auto;
    v_review := fsw.review;
    v_shared_n := fsw.shared_n;
    v_name := btrim(coalesce(v_first, '') || ' ' || coalesce(v_last, ''));
    -- (resent: another version of this source record is staged, the only case the look-up
    -- of its earlier decision below can find one: a probe of the versions index here, not a
    -- statement of its own for every new person of a first load)
    SELECT s.source_system, s.source_table, s.source_row_id,
           EXISTS (SELECT 1 FROM trapper.staged_records o
                   WHERE o.source_system = s.source_system AND o.source_table = s.source_table
                     AND o.source_row_id = s.source_row_id AND o.id <> s.id) AS resent
    INTO v_src
    FROM trapper.staged_records s WHERE s.id = p_staged_record_id;
    -- p_gate_kind, p_gate_reason: should_be_person(v_first, v_last), from a caller that asked
    -- it already (process_person_fields, which reads it for the place and the account)
    IF p_gate_kind IS NOT NULL THEN
        SELECT p_gate_kind AS kind, p_gate_reason AS reason INTO v_gate;
    ELSE
        v_gate := trapper.should_be_person(v_first, v_last);
    END IF;
    -- "Delgado, Maria" in one field: a person stored as first and last name (after the gate,
    -- which reads the text as typed)
    IF v_gate.kind = 'person' THEN
        SELECT coalesce(lf.first_name, v_first), coalesce(lf.last_name, v_last)
        INTO v_first, v_last FROM trapper.name_last_first(v_first, v_last) lf;
        v_name := btrim(coalesce(v_first, '') || ' ' || coalesce(v_last, ''));
    END IF;
    -- Decide without locks: most records match someone already there, and matching needs
    -- no turn-taking. Only a decision that writes a new person takes the identifiers' locks
    -- (keys in a fixed order) and decides again, since a worker that held them may have
    -- just created this very person. Locking every lookup made two workers wait on each
    -- other's whole batch (half of all samples in pg_stat_activity were advisory-lock waits).
    LOOP
        person_id := NULL; decision_type := NULL; confidence_score := NULL;
        household_id := NULL; decision_reason := NULL;
        -- so that the audit row below can read it on every path
        SELECT NULL::uuid AS pid, NULL::double precision AS score,
               NULL::double precision AS w_email, NULL::double precision AS w_phone,
               NULL::double precision AS w_name, NULL::text AS name_level,
               NULL::double precision AS w_address, NULL::bigint AS holders,
               NULL::text AS first_name, NULL::text AS last_name,
               NULL::boolean AS email_shared INTO v_best;
        IF v_gate.kind <> 'person' THEN
            decision_type := 'rejected';
            decision_reason := 'not a person: ' || v_gate.reason;
        ELSIF v_email IS NULL AND cardinality(v_phones) = 0 AND NOT p_allow_name_only THEN
            decision_type := 'rejected';
            decision_reason := 'no usable email or phone (never matched or created on a name alone)'
                               || coalesce(': ' || trapper.identifiers_refused(
                                      p_email, ARRAY[p_phone, p_cell]), '');
        ELSIF v_email IS NULL AND cardinality(v_phones) = 0 THEN
            decision_type := 'new_entity';
            decision_reason := 'name only, from a source allowed to create people without identifiers';
        ELSIF NOT EXISTS (SELECT 1 FROM trapper.person_identifiers pi
                          WHERE (pi.id_type = 'email' AND pi.id_value_norm = v_email)
                             OR (pi.id_type = 'phone' AND pi.id_value_norm = ANY (v_phones))) THEN
            -- Nobody to score: two index probes instead of the scoring statement below,
            -- whose executor start-up alone cost ~100 µs a call even with no row to read;
            -- more than half of a first load's records land here, twice each (before and
            -- after the locks; docs/benchmarks.md, "Like for like with Splink").
            decision_type := 'new_entity';
            decision_reason := 'no person holds this email or phone';
        ELSE
            -- The address read once someone is there to compare it with: more than half of a
            -- first load's records have nobody (an address parse, ~40 µs, for nothing)
            IF NOT v_addr_read THEN
                v_addr := trapper.address_key(p_address);
                v_addr_read := true;
            END IF;
            -- Score every person who holds one of the incoming identifiers.
            WITH cand AS (
                SELECT DISTINCT trapper.get_canonical_person_id(pi.person_id) AS pid
                FROM trapper.person_identifiers pi
                WHERE (pi.id_type = 'email' AND pi.id_value_norm = v_email)
                   OR (pi.id_type = 'phone' AND pi.id_value_norm = ANY (v_phones))
            ),
            scored AS (
                SELECT c.pid, sp.first_name, sp.last_name, sp.household_id AS hh,
                       em.conf AS email_conf, ph.conf AS phone_conf, ph.holders,
                       trapper.name_compare(v_first, v_last, sp.first_name, sp.last_name) AS name_level,
                       addr.same_address,
                       v_email IS NOT NULL AND em.conf IS NULL AND EXISTS (
                           SELECT 1 FROM trapper.person_identifiers o
                           WHERE o.person_id = c.pid AND o.id_type = 'email') AS email_disagree
                FROM cand c
                JOIN trapper.sot_people sp ON sp.person_id = c.pid
                LEFT JOIN LATERAL (
                    SELECT max(pi.confidence) AS conf FROM trapper.person_identifiers pi
                    WHERE pi.person_id = c.pid AND pi.id_type = 'email' AND pi.id_value_norm = v_email
                ) em ON true
                LEFT JOIN LATERAL (
                    SELECT max(pi.confidence) AS conf,
                           max((SELECT count(DISTINCT o.person_id) FROM trapper.person_identifiers o
                                WHERE o.id_type = 'phone' AND o.id_value_norm = pi.id_value_norm))
                               AS holders
                    FROM trapper.person_identifiers pi
                    WHERE pi.person_id = c.pid AND pi.id_type = 'phone'
                      AND pi.id_value_norm = ANY (v_phones)
                ) ph ON true
                -- (each place by its key, a subquery per row: as a join, the generic plan
                -- made while places was empty hashed the person's rows and read every place,
                -- and a load that began with people kept that plan for its first 20,000
                -- records; docs/benchmarks.md, "Like for like with Splink")
                -- (the town spaced otherwise is the same town: address_key_town_folded)
                LEFT JOIN LATERAL (
                    SELECT bool_or(trapper.address_key_town_folded(
                                       (SELECT pl.address_key FROM trapper.places pl
                                        WHERE pl.place_id = pp.place_id))
                                   = trapper.address_key_town_folded(v_addr)) AS same_address
                    FROM trapper.person_place pp
                    WHERE pp.person_id = c.pid AND v_addr IS NOT NULL
                ) addr ON true
            ),
            weights AS (
                -- each field's weight: identity_field_weights (identity_scoring.sql),
                -- inlined by the planner (email_disagree stays out of the row: an output
                -- column would run its EXISTS a second time)
                SELECT s.pid, s.first_name, s.last_name, s.hh, s.email_conf, s.phone_conf,
                       s.holders, s.name_level, s.same_address, s.email_shared,
                       s.candidates, fw.*
                FROM (
                    -- An email that someone of another name holds too (a household's, or a
                    -- shelter's given for all its adopters) is demoted as a shared phone is:
                    -- its confidence scaled so that it weighs the shared-identifier weight.
                    -- Only another name counts: people of one name holding it are more likely
                    -- one person split before (the held-out set, docs/identity.md;
                    -- explain.sql weighs it the same way).
                    SELECT sc.*, bool_or(sc.email_conf IS NOT NULL AND sc.name_level = 'different')
                                 OVER () AS email_shared,
                           count(*) OVER () AS candidates
                    FROM scored sc) s
                CROSS JOIN LATERAL trapper.identity_field_weights(
                    s.email_conf * CASE WHEN s.email_shared THEN fsw.phone_shared / fsw.email_agree
                                        ELSE 1 END,
                    s.email_disagree, s.phone_conf, s.holders, s.name_level,
                    s.same_address, v_conf,
                    fsw.email_agree, fsw.email_disagree, fsw.phone, fsw.phone_shared,
                    v_shared_n, fsw.name_exact, fsw.name_close, fsw.name_different,
                    fsw.address, fsw.address_different) fw
            )
            SELECT w.*, w.w_email + w.w_phone + w.w_name + w.w_address AS score
            INTO v_best
            FROM weights w
            ORDER BY w.w_email + w.w_phone + w.w_name + w.w_address DESC, w.pid
            LIMIT 1;

            IF v_best.pid IS NULL THEN
                decision_type := 'new_entity';
                decision_reason := 'no person holds this email or phone';
            ELSE
                confidence_score := round(v_best.score::numeric, 2);
                -- the ladder, shared with `explain`: identity_outcome (identity_scoring.sql)
                v_outcome := trapper.identity_outcome(
                    v_best.score, v_best.name_level,
                    v_best.holders >= 1 OR v_best.email_conf IS NOT NULL, v_auto, v_review,
                    v_best.candidates = 1 AND coalesce(v_best.holders, 0) < v_shared_n);
                IF v_outcome = 'auto_match' THEN
                    decision_type := 'auto_match';
                    person_id := v_best.pid;
                    decision_reason := format('matched existing person via %s (log-odds %s, name %s)%s',
                        concat_ws(' and ', CASE WHEN v_best.email_conf IS NOT NULL THEN
                                               CASE WHEN v_best.email_shared THEN 'shared email'
                                                    ELSE 'email' END END,
                                           CASE WHEN v_best.phone_conf IS NOT NULL THEN
                                               CASE WHEN v_best.holders >= v_shared_n
                                                    THEN 'shared phone' ELSE 'phone' END END),
                        confidence_score, v_best.name_level,
                        CASE WHEN v_best.score < v_auto THEN format(
                            ': below the %s auto-match threshold, but one side has no name and no one else holds the identifiers',
                            v_auto::numeric) ELSE '' END);
                ELSIF v_outcome = 'household_member' THEN
                    -- Same identifier, another name: a household member (shared landline,
                    -- shared family email), never the same person.
                    decision_type := 'household_member';
                    household_id := v_best.hh;
                    decision_reason := format('shares %s with %s %s but the names differ: a new person in the same household',
                        CASE WHEN v_best.email_conf IS NOT NULL THEN 'an email' ELSE 'a phone' END,
                        coalesce(v_best.first_name, ''), coalesce(v_best.last_name, ''));
                ELSIF v_outcome = 'review_pending' THEN
                    -- A reviewer already settled this record against this candidate
                    -- (`review keep-separate`, docs/identity.md "Reviewing"): the same pair
                    -- is not queued again; the record stays with the person kept for it.
                    SELECT k.kept, k.apart_from, k.decision_id INTO v_kept
                    FROM trapper.review_kept_apart(v_src.source_system, v_src.source_table,
                                                   v_src.source_row_id, v_best.pid) k;
                    SELECT m.survivor, m.decision_id INTO v_merged
                    FROM trapper.review_merged_into(v_src.source_system, v_src.source_table,
                                                    v_src.source_row_id, v_best.pid) m;
                    IF v_kept.kept IS NOT NULL THEN
                        decision_type := 'auto_match';
                        person_id := v_kept.kept;
                        decision_reason := format('this record was kept apart from person %s by the review of decision %s: it stays with person %s, not queued again (best candidate %s, log-odds %s)',
                                                  v_kept.apart_from, v_kept.decision_id,
                                                  v_kept.kept, v_best.pid, confidence_score);
                    ELSIF v_merged.survivor IS NOT NULL THEN
                        decision_type := 'auto_match';
                        person_id := v_merged.survivor;
                        decision_reason := format('this record''s person was merged into person %s by the review of decision %s: matched, not queued again (log-odds %s)',
                                                  v_merged.survivor, v_merged.decision_id,
                                                  confidence_score);
                    ELSE
                        decision_type := 'review_pending';
                        decision_reason := CASE WHEN v_best.name_level = 'first_only'
                            THEN format('possible match: the same given name as %s %s with another surname (a surname changed, or a relative; log-odds %s, never an auto-match): new person, queued for review',
                                        coalesce(v_best.first_name, ''), coalesce(v_best.last_name, ''), confidence_score)
                            ELSE format('possible match (log-odds %s, below the %s auto-match threshold): new person, queued for review',
                                        confidence_score, v_auto::numeric) END;
                    END IF;
                ELSE
                    decision_type := 'new_entity';
                    decision_reason := format('best candidate scored %s, below review', confidence_score);
                END IF;
            END IF;
        END IF;
        EXIT WHEN v_locked
              OR decision_type NOT IN ('new_entity', 'review_pending', 'household_member')
              OR (v_email IS NULL AND cardinality(v_phones) = 0);
        IF v_email IS NOT NULL THEN
            PERFORM pg_advisory_xact_lock(hashtextextended('email:' || v_email, 42));
        END IF;
        IF cardinality(v_phones) > 0 THEN
            PERFORM pg_advisory_xact_lock(hashtextextended('phone:' || x, 42))
            FROM unnest(v_phones) x;
        END IF;
        v_locked := true;
    END LOOP;

    -- An earlier version of this very source record (the row sent again, its email and
    -- phone changed: a person who moved, a number corrected) resolved to a person of the
    -- same name: that is the person, not a new one. Candidates come from identifiers, and
    -- none of the new ones pointed at them, so each re-send with other identifiers made one
    -- more person of the same source record (two people holding `shelterluv:104`). Another
    -- name (the row now names someone else) is decided as before.
    IF decision_type IN ('new_entity', 'review_pending', 'household_member')
       AND v_gate.kind = 'person' AND v_src.resent AND v_name <> '' THEN
        SELECT p.person_id, d.decision_id,
               trapper.name_compare(v_first, v_last, sp.first_name, sp.last_name) AS name_level
        INTO v_prev
        FROM (SELECT d.decision_id, d.resulting_person_id
              FROM trapper.data_engine_match_decisions d
              -- (the decisions' collation named, as in review_kept_apart: v_src's are "C")
              WHERE d.source_system = v_src.source_system COLLATE "default"
                AND d.source_table = v_src.source_table COLLATE "default"
                AND d.source_row_id = v_src.source_row_id COLLATE "default"
                AND d.staged_record_id IS DISTINCT FROM p_staged_record_id
                AND d.resulting_person_id IS NOT NULL
              ORDER BY d.decision_id DESC
              LIMIT 1) d
        CROSS JOIN LATERAL (SELECT trapper.get_canonical_person_id(d.resulting_person_id)
                                AS person_id) p
        JOIN trapper.sot_people sp ON sp.person_id = p.person_id;
        IF v_prev.person_id IS NOT NULL AND v_prev.name_level IN ('exact', 'close') THEN
            decision_reason := format('the same %s/%s record %s as before, sent again with '
                'other identifiers: matched the person its earlier version resolved to '
                '(decision %s, name %s)%s', v_src.source_system, v_src.source_table,
                v_src.source_row_id, v_prev.decision_id, v_prev.name_level,
                coalesce(' instead of: ' || decision_reason, ''));
            decision_type := 'auto_match';
            person_id := v_prev.person_id;
            household_id := NULL;
        END IF;
    END IF;

    IF decision_type IN ('new_entity', 'review_pending', 'household_member') THEN
        IF decision_type = 'household_member' AND household_id IS NULL THEN
            INSERT INTO trapper.households (reason) VALUES ('shared identifier')
            RETURNING households.household_id INTO household_id;
            UPDATE trapper.sot_people SET household_id = data_engine_resolve_identity.household_id
            WHERE sot_people.person_id = v_best.pid;
        END IF;
        INSERT INTO trapper.sot_people
            (display_name, first_name, last_name, primary_email, primary_phone, data_source,
             household_id, data_quality)
        VALUES (nullif(v_name, ''), v_first, v_last, v_email, v_phones[1], p_source_system,
                household_id,
                CASE WHEN v_email IS NULL AND cardinality(v_phones) = 0 THEN 'name_only'
                     ELSE 'normal' END)
        RETURNING sot_people.person_id INTO person_id;
    END IF;

    -- A person made from nameless rows (an email alone, core 044) takes the name of the first
    -- named record that joins them: it stayed nameless before, so `explain`, the review queue
    -- and every listing showed a person nobody could recognise, and a later record of another
    -- name on that email was scored against "name unknown" rather than told apart as a
    -- household member (docs/identity.md, "Decisions"). Only an empty name is filled: a name
    -- the person has is never rewritten by a match.
    -- Initials alone ("A.") are filled the same way by a name with a whole word.
    IF decision_type = 'auto_match' AND person_id = v_best.pid AND v_best.name_level = 'unknown'
       AND trapper.name_is_initials(v_best.first_name, v_best.last_name)
       AND NOT trapper.name_is_initials(v_first, v_last) THEN
        UPDATE trapper.sot_people sp
        SET first_name = v_first, last_name = v_last, display_name = v_name, updated_at = now()
        WHERE sp.person_id = data_engine_resolve_identity.person_id
          AND sp.first_name IS NOT DISTINCT FROM v_best.first_name
          AND sp.last_name IS NOT DISTINCT FROM v_best.last_name;
    END IF;

    IF person_id IS NOT NULL THEN
        -- all of the record's identifiers in one statement
        INSERT INTO trapper.person_identifiers
            (person_id, id_type, id_value_norm, id_value_raw, source_system, source_table,
             source_row_id, staged_record_id, confidence)
        SELECT data_engine_resolve_identity.person_id, x.t, x.v, x.raw, v_src.source_system,
               v_src.source_table, v_src.source_row_id, p_staged_record_id, v_conf
        FROM (SELECT 'email' AS t, v_email AS v, p_email AS raw
              UNION ALL SELECT 'phone', ph, ph FROM unnest(v_phones) ph) x
        WHERE x.v IS NOT NULL
          -- an identifier the person already holds as firmly is left alone: ON CONFLICT DO
          -- UPDATE would rewrite it and wait on any worker holding the row
          AND NOT EXISTS (SELECT 1 FROM trapper.person_identifiers h
                          WHERE h.person_id = data_engine_resolve_identity.person_id
                            AND h.id_type = x.t AND h.id_value_norm = x.v
                            AND h.confidence >= v_conf)
        ON CONFLICT ON CONSTRAINT person_identifiers_person_id_id_type_id_value_norm_key
        DO UPDATE
            SET confidence = greatest(trapper.person_identifiers.confidence,
                                      EXCLUDED.confidence);
        IF v_src.source_system IS NOT NULL THEN
            INSERT INTO trapper.entity_sources
                (entity_type, entity_id, source_system, source_table, source_row_id,
                 staged_record_id, action, detail)
            VALUES ('person', person_id, v_src.source_system, v_src.source_table,
                    v_src.source_row_id, p_staged_record_id,
                    CASE WHEN decision_type = 'auto_match' THEN 'matched' ELSE 'created' END,
                    decision_type);
        END IF;
    END IF;

    -- a cell that listed several emails: the person took the first usable, the decision
    -- names the rest (they stay in the staged record), and those refused before it, as the
    -- router's does (docs/identity.md, "A cell that lists several")
    IF length(p_email) - length(replace(p_email, '@', '')) > 1 THEN
        v_listed := trapper.emails_listed(p_email);
        IF cardinality(v_listed) > 1 THEN
            v_used := array_position(ARRAY(SELECT trapper.email_mailbox(x) FROM unnest(v_listed) x),
                                     v_email);
            decision_reason := decision_reason || format(' [the email cell lists %s, %s: %s]',
                cardinality(v_listed),
                CASE WHEN v_used = 1 THEN 'the first used'
                     WHEN v_used > 1
                     THEN format('the first usable used: %s (%s refused)', v_listed[v_used],
                                 array_to_string(v_listed[1:v_used - 1], ', '))
                     ELSE 'none usable' END,
                array_to_string(v_listed, ', '));
        END IF;
    END IF;

    INSERT INTO trapper.data_engine_match_decisions
        (source_system, source_table, source_row_id, staged_record_id, incoming_email,
         incoming_phone, incoming_name, incoming_address, top_candidate_id, top_candidate_score,
         decision_type, decision_reason, resulting_person_id, household_id, score_breakdown,
         fs_score, review_status)
    VALUES (coalesce(v_src.source_system, p_source_system), coalesce(v_src.source_table, ''),
            v_src.source_row_id, p_staged_record_id, p_email,
            concat_ws(' / ', nullif(p_phone, ''), nullif(p_cell, '')), nullif(v_name, ''),
            p_address, v_best.pid, round(v_best.score::numeric, 2), decision_type, decision_reason,
            person_id, household_id,
            CASE WHEN v_best.pid IS NOT NULL THEN jsonb_build_object(
                'email', round(v_best.w_email::numeric, 2), 'phone', round(v_best.w_phone::numeric, 2),
                'name', round(v_best.w_name::numeric, 2), 'name_level', v_best.name_level,
                'address', round(v_best.w_address::numeric, 2), 'phone_holders', v_best.holders,
                -- the email weighed as a shared identifier (review show names its parameter)
                'email_shared', v_best.email_shared,
                'source_confidence', v_conf,
                -- numeric, as the weights: a float's text follows the session's
                -- extra_float_digits (at -15 a threshold of 12 was written as 10)
                'thresholds', jsonb_build_object('auto', v_auto::numeric,
                                                 'review', v_review::numeric)) END,
            round(v_best.score::numeric, 2),
            CASE WHEN decision_type = 'review_pending' THEN 'pending' ELSE 'not_required' END)
    RETURNING data_engine_match_decisions.decision_id INTO decision_id;
END $$;

-- The real system's entry point for people: resolve and return the person (NULL when the
-- record is not a person or carries nothing to identify one by).
CREATE OR REPLACE FUNCTION trapper.find_or_create_person(
    p_email text, p_phone text, p_first text, p_last text, p_address text, p_source text,
    p_staged_record_id bigint DEFAULT NULL, p_cell text DEFAULT NULL,
    p_allow_name_only boolean DEFAULT false
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    r := trapper.data_engine_resolve_identity(p_email, p_phone, p_first, p_last, p_address,
                                              p_source, p_staged_record_id, p_cell,
                                              p_allow_name_only);
    RETURN r.person_id;
END $$;

-- A non-person "owner" (the org, a placeholder, a business, an agency): one account each.
CREATE OR REPLACE FUNCTION trapper.find_or_create_clinic_account(
    p_name text, p_kind text, p_email text, p_phone text, p_staged_record_id bigint
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_key text := coalesce(trapper.norm_name_key(p_name), 'unnamed');
    v_id uuid;
BEGIN
    INSERT INTO trapper.clinic_accounts (account_key, account_name, account_type, email, phone)
    VALUES (v_key, coalesce(nullif(btrim(p_name), ''), 'unnamed'),
            CASE WHEN p_kind IN ('organization', 'placeholder', 'business', 'agency')
                 THEN p_kind ELSE 'business' END,
            trapper.norm_email(p_email), trapper.norm_phone_us(p_phone))
    ON CONFLICT (account_key) DO NOTHING
    RETURNING account_id INTO v_id;
    IF v_id IS NULL THEN
        SELECT account_id INTO v_id FROM trapper.clinic_accounts WHERE account_key = v_key;
        PERFORM trapper.record_entity_source('clinic_account', v_id, p_staged_record_id,
                                             'matched', p_kind);
    ELSE
        PERFORM trapper.record_entity_source('clinic_account', v_id, p_staged_record_id,
                                             'created', p_kind);
    END IF;
    RETURN v_id;
END $$;

-- Lock an identity key for the rest of the transaction, so that two workers resolving the
-- same email, phone or chip at once take turns instead of both creating.
CREATE OR REPLACE FUNCTION trapper.lock_identity_key(p_kind text, p_value text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_value IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_kind || ':' || p_value, 42));
    END IF;
END $$;
