-- Identity resolution: the gate, exact identifier lookup guarded by names, shared
-- identifiers demoted, never a match on name alone, Fellegi–Sunter log-odds scoring with
-- its parameters and thresholds in tables, and every decision written down with its
-- evidence (docs/research/atlas-data.md §1, closing section).
--
-- Its functions, views and triggers live in functions/identity.sql (re-applied when they
-- change; docs/operations.md, "Installing and uninstalling").

CREATE TABLE trapper.fellegi_sunter_parameters (
    field        text PRIMARY KEY,
    m            double precision NOT NULL CHECK (m > 0 AND m < 1),
    u            double precision NOT NULL CHECK (u > 0 AND u < 1),
    description  text NOT NULL,
    -- log2(m/u) on agreement, log2((1-m)/(1-u)) on disagreement
    w_agree      double precision GENERATED ALWAYS AS (ln(m / u) / ln(2)) STORED,
    w_disagree   double precision GENERATED ALWAYS AS (ln((1 - m) / (1 - u)) / ln(2)) STORED
);
INSERT INTO trapper.fellegi_sunter_parameters (field, m, u, description) VALUES
    ('email', 0.95, 0.0001, 'same normalised email'),
    ('phone', 0.90, 0.0005, 'same phone held by one person'),
    ('phone_shared', 0.90, 0.05, 'same phone held by several people (a household line)'),
    ('name_exact', 0.85, 0.001, 'same first and last name'),
    ('name_close', 0.10, 0.01, 'nickname, one typo, initial, or first name only'),
    ('name_different', 0.05, 0.989, 'names disagree'),
    ('address', 0.60, 0.001, 'same address key'),
    ('address_different', 0.30, 0.99, 'both addresses known and different');

CREATE TABLE trapper.identity_config (
    key          text PRIMARY KEY,
    value        numeric NOT NULL,
    description  text NOT NULL
);
INSERT INTO trapper.identity_config (key, value, description) VALUES
    ('auto_match_threshold', 12, 'log-odds at or above which a candidate is the same person'),
    ('review_threshold', 4, 'log-odds at or above which a pair is queued for review'),
    ('shared_identifier_people', 2, 'an identifier held by this many people is demoted');

-- How far each source's identifiers are trusted; a match weight is scaled by it.
CREATE TABLE trapper.source_identity_confidence (
    source_system  text PRIMARY KEY,
    confidence     numeric(3, 2) NOT NULL CHECK (confidence > 0 AND confidence <= 1),
    note           text
);
INSERT INTO trapper.source_identity_confidence VALUES
    ('atlas_ui', 1.0, 'staff entry'), ('clinichq', 0.9, NULL), ('shelterluv', 0.9, NULL),
    ('volunteerhub', 0.95, NULL), ('airtable', 0.85, NULL), ('web_intake', 0.7, 'self-reported'),
    ('petlink', 0.4, 'registry emails are often made up'), ('client_survey', 0.6, NULL);

-- Identifiers that belong to the organisation or are placeholders, not to a person.
CREATE TABLE trapper.identity_blocklist (
    id_type  text NOT NULL CHECK (id_type IN ('email', 'email_domain', 'phone')),
    value    text NOT NULL,
    reason   text NOT NULL,
    PRIMARY KEY (id_type, value)
);
INSERT INTO trapper.identity_blocklist VALUES
    ('email_domain', 'forgottenfelines.com', 'the organisation''s own email'),
    ('email_domain', 'noemail.com', 'fake domain'),
    ('email_domain', 'petestablished.com', 'fake domain'),
    ('email_domain', 'none.com', 'fake domain'),
    ('email_domain', 'example.com', 'fake domain'),
    ('phone', '7075767999', 'the organisation''s own landline, used as a placeholder'),
    ('phone', '7075657100', 'county animal services');

-- Words that make a "name" an organisation. Word-boundary matches, so surnames such as
-- Farmer and Franchetti pass.
CREATE TABLE trapper.organization_keywords (keyword text PRIMARY KEY);
INSERT INTO trapper.organization_keywords VALUES
    ('winery'), ('vineyard'), ('vineyards'), ('poultry'), ('farm'), ('farms'), ('ranch'),
    ('dairy'), ('inc'), ('llc'), ('corp'), ('company'), ('co'), ('services'), ('rescue'),
    ('shelter'), ('felines'), ('marina'), ('storage'), ('landscaping'), ('auto'), ('body'),
    ('tire'), ('center'), ('feed'), ('market'), ('church'), ('school'), ('hospital'),
    ('clinic'), ('county'), ('hotel'), ('motel'), ('apartments'), ('properties'),
    ('foundation'), ('program'), ('society'), ('spca'), ('humane'), ('scas');
