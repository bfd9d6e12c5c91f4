-- What a clinic visit says about a cat's body, kept (docs/processing.md, "A cat's weight and
-- age"): ClinicHQ's cat_info carries Weight, Age Years and Age Months on every visit
-- (docs/research/atlas-data.md, "cat_info"), which were read by nothing and stored nowhere.
-- A weight belongs to its day (a kitten grows), so each staged record is one observation:
-- the values read (weight in pounds; age in months; the birth date the age gives on the
-- visit's day) beside the values as typed, which are kept even when they read as nothing.
CREATE TABLE trapper.cat_observations (
    observation_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cat_id               uuid NOT NULL REFERENCES trapper.sot_cats,
    staged_record_id     bigint UNIQUE,
    observed_on          date,
    weight_lbs           numeric(6, 2),
    age_months           integer,
    birth_date_estimate  date,
    as_typed             jsonb NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cat_observations_cat_idx ON trapper.cat_observations (cat_id, observed_on);
