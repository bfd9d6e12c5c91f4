-- The canonical entities (docs/research/atlas-data.md §1), their identifiers and relationships, and the
-- trace from every source row to the entity it made or matched. Merges point at the
-- canonical entity; a trigger resolves every merge target on write, so chains cannot form.
--
-- Its functions, views and triggers live in functions/canonical_ids.sql and
-- triggers/merge_flattening.sql (re-applied when they change; docs/operations.md, "Installing and
-- uninstalling").

CREATE TABLE trapper.households (
    household_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    place_id      uuid,
    reason        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trapper.sot_people (
    person_id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    display_name           text,
    first_name             text,
    last_name              text,
    primary_email          text,
    primary_phone          text,
    entity_type            text NOT NULL DEFAULT 'person',
    data_quality           text NOT NULL DEFAULT 'normal',
    data_source            text,
    household_id           uuid REFERENCES trapper.households,
    merged_into_person_id  uuid REFERENCES trapper.sot_people,
    merged_at              timestamptz,
    merge_reason           text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CHECK (merged_into_person_id IS DISTINCT FROM person_id)
);
CREATE INDEX sot_people_merged_idx ON trapper.sot_people (merged_into_person_id)
    WHERE merged_into_person_id IS NOT NULL;

-- Not unique across people: a household landline is held by each member (is_shared),
-- which the matcher demotes. Unique per person and value.
CREATE TABLE trapper.person_identifiers (
    identifier_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id         uuid NOT NULL REFERENCES trapper.sot_people,
    id_type           text NOT NULL CHECK (id_type IN ('email', 'phone', 'external_id')),
    id_value_norm     text COLLATE "C" NOT NULL,
    id_value_raw      text,
    source_system     text,
    source_table      text,
    source_row_id     text,
    staged_record_id  bigint,
    confidence        numeric(3, 2) NOT NULL DEFAULT 1.0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (person_id, id_type, id_value_norm)
);
CREATE INDEX person_identifiers_value_idx
    ON trapper.person_identifiers (id_type, id_value_norm);

-- Organisation, placeholder and business "owners": kept, but never people.
CREATE TABLE trapper.clinic_accounts (
    account_id    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_key   text COLLATE "C" NOT NULL UNIQUE,
    account_name  text NOT NULL,
    account_type  text NOT NULL
        CHECK (account_type IN ('organization', 'placeholder', 'business', 'agency')),
    email         text,
    phone         text,
    place_id      uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trapper.places (
    place_id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    display_name          text,
    formatted_address     text,
    normalized_address    text,
    address_key           text COLLATE "C",
    house_number          text,
    unit_number           text,
    location              point,              -- (lng, lat); no PostGIS required
    geocode_status        text NOT NULL DEFAULT 'pending'
        CHECK (geocode_status IN ('pending', 'ok', 'zero_results', 'failed', 'source')),
    geocoded_at           timestamptz,
    geocode_source        text,
    place_kind            text,
    parent_place_id       uuid REFERENCES trapper.places,
    colony_size_estimate  integer,
    merged_into_place_id  uuid REFERENCES trapper.places,
    merged_at             timestamptz,
    merge_reason          text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (merged_into_place_id IS DISTINCT FROM place_id)
);
-- One live place per address key: concurrent creators meet here (ON CONFLICT).
CREATE UNIQUE INDEX places_address_key_idx ON trapper.places (address_key)
    WHERE merged_into_place_id IS NULL;
CREATE INDEX places_location_idx ON trapper.places USING gist (location)
    WHERE merged_into_place_id IS NULL;

CREATE TABLE trapper.sot_cats (
    cat_id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    display_name        text,
    sex                 text,
    altered_status      text,
    breed               text,
    primary_color       text,
    secondary_color     text,
    ownership_type      text,
    is_deceased         boolean NOT NULL DEFAULT false,
    clinichq_animal_id  text,
    merged_into_cat_id  uuid REFERENCES trapper.sot_cats,
    merged_at           timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (merged_into_cat_id IS DISTINCT FROM cat_id)
);

CREATE TABLE trapper.cat_identifiers (
    identifier_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cat_id             uuid NOT NULL REFERENCES trapper.sot_cats,
    id_type            text NOT NULL CHECK (id_type IN ('microchip', 'clinichq_animal_id',
                                                        'shelterluv_animal_id', 'petlink_pet_id')),
    id_value           text COLLATE "C" NOT NULL,
    source_system      text,
    format_confidence  numeric(3, 2) NOT NULL DEFAULT 1.0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id_type, id_value)
);
CREATE INDEX cat_identifiers_cat_idx ON trapper.cat_identifiers (cat_id);

CREATE TABLE trapper.sot_requests (
    request_id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    status                text NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'triaged', 'scheduled', 'in_progress', 'completed',
                          'cancelled', 'on_hold', 'redirected')),
    priority              text,
    place_id              uuid REFERENCES trapper.places,
    requester_person_id   uuid REFERENCES trapper.sot_people,
    summary               text,
    estimated_cat_count   integer,
    has_kittens           boolean,
    assigned_trapper_refs text[],
    resolved_at           timestamptz,
    source_system         text NOT NULL,
    source_record_id      text NOT NULL,
    source_created_at     timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_system, source_record_id)
);

CREATE TABLE trapper.request_trappers (
    request_id  uuid NOT NULL REFERENCES trapper.sot_requests,
    person_id   uuid NOT NULL REFERENCES trapper.sot_people,
    source      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, person_id)
);

CREATE TABLE trapper.place_colony_estimates (
    estimate_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    place_id          uuid NOT NULL REFERENCES trapper.places,
    total_cats        integer,
    adult_count       integer,
    kitten_count      integer,
    altered_count     integer,
    feral_count       integer,
    source_type       text NOT NULL,
    observation_date  date,
    source_system     text NOT NULL,
    source_record_id  text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_system, source_record_id, place_id)
);

CREATE TABLE trapper.sot_appointments (
    appointment_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    appointment_number  text COLLATE "C" NOT NULL,
    appointment_date    date NOT NULL,
    cat_id              uuid REFERENCES trapper.sot_cats,
    person_id           uuid REFERENCES trapper.sot_people,
    clinic_account_id   uuid REFERENCES trapper.clinic_accounts,
    place_id            uuid REFERENCES trapper.places,
    services            jsonb NOT NULL DEFAULT '[]',
    vet_name            text,
    source_system       text NOT NULL DEFAULT 'clinichq',
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- the business key that stops re-exported appointments duplicating
    UNIQUE (appointment_number, appointment_date)
);

CREATE TABLE trapper.person_place (
    person_id   uuid NOT NULL REFERENCES trapper.sot_people,
    place_id    uuid NOT NULL REFERENCES trapper.places,
    role        text NOT NULL CHECK (role IN ('resident', 'requester', 'owner', 'trapper',
                                              'contact')),
    confidence  numeric(3, 2) NOT NULL DEFAULT 0.8,
    source_system text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, place_id, role)
);
CREATE TABLE trapper.person_cat (
    person_id     uuid NOT NULL REFERENCES trapper.sot_people,
    cat_id        uuid NOT NULL REFERENCES trapper.sot_cats,
    relationship  text NOT NULL CHECK (relationship IN ('owner', 'adopter', 'foster',
                                                        'caretaker', 'trapper')),
    confidence    numeric(3, 2) NOT NULL DEFAULT 0.8,
    source_system text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, cat_id, relationship)
);
CREATE TABLE trapper.cat_place (
    cat_id        uuid NOT NULL REFERENCES trapper.sot_cats,
    place_id      uuid NOT NULL REFERENCES trapper.places,
    relationship  text NOT NULL CHECK (relationship IN ('home', 'appointment_site',
                                                        'trapped_at')),
    confidence    numeric(3, 2) NOT NULL DEFAULT 0.8,
    source_system text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cat_id, place_id, relationship)
);
CREATE TABLE trapper.person_roles (
    person_id   uuid NOT NULL REFERENCES trapper.sot_people,
    role        text NOT NULL,
    source_system text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, role)
);

-- Which source rows made or matched each entity: any source row is one query from its
-- canonical entity, and any entity one query from its source rows.
CREATE TABLE trapper.entity_sources (
    entity_source_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_type       text NOT NULL CHECK (entity_type IN ('person', 'place', 'cat', 'request',
                                                           'appointment', 'clinic_account')),
    entity_id         uuid NOT NULL,
    source_system     text COLLATE "C" NOT NULL,
    source_table      text COLLATE "C" NOT NULL,
    source_row_id     text COLLATE "C",
    staged_record_id  bigint,
    action            text NOT NULL CHECK (action IN ('created', 'matched', 'updated')),
    detail            text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entity_sources_source_idx
    ON trapper.entity_sources (source_system, source_table, source_row_id);
CREATE INDEX entity_sources_entity_idx ON trapper.entity_sources (entity_id);

-- The matcher's audit trail: every identity decision with its evidence.
CREATE TABLE trapper.data_engine_match_decisions (
    decision_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system        text NOT NULL,
    source_table         text NOT NULL,
    source_row_id        text,
    staged_record_id     bigint,
    incoming_email       text,
    incoming_phone       text,
    incoming_name        text,
    incoming_address     text,
    top_candidate_id     uuid,
    top_candidate_score  numeric,
    decision_type        text NOT NULL CHECK (decision_type IN ('auto_match', 'review_pending',
                                                                'household_member', 'new_entity',
                                                                'rejected')),
    decision_reason      text NOT NULL,
    resulting_person_id  uuid,
    household_id         uuid,
    score_breakdown      jsonb,
    fs_score             numeric,
    review_status        text NOT NULL DEFAULT 'not_required'
        CHECK (review_status IN ('not_required', 'pending', 'approved', 'rejected', 'merged',
                                 'kept_separate')),
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX match_decisions_source_idx
    ON trapper.data_engine_match_decisions (source_system, source_table, source_row_id);
CREATE INDEX match_decisions_person_idx
    ON trapper.data_engine_match_decisions (resulting_person_id);

-- The real system's staff-facing intake table (an active flow the orchestrator must never
-- touch; the web intake processor fills it).
CREATE TABLE trapper.web_intake_submissions (
    submission_id        text PRIMARY KEY,
    submitted_at         timestamptz,
    first_name           text,
    last_name            text,
    email                text,
    phone                text,
    requester_address    text,
    cats_address         text,
    ownership_status     text,
    cat_count_estimate   integer,
    fixed_status         text,
    has_kittens          boolean,
    is_emergency         boolean,
    situation_description text,
    status               text NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'triaged', 'reviewed', 'request_created', 'redirected',
                          'archived')),
    matched_person_id    uuid,
    matched_place_id     uuid,
    created_request_id   uuid,
    staged_record_id     bigint
);
