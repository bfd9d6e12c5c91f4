-- One mailbox, one email identifier (docs/identity.md, "People", step 2). The
-- held-out set (tests/corpus/heldout/) found two classes the lower-case key split into two
-- people: a domain typed wrong (`gmial.com`, `yahoo.con`, `hotmial.com`: no mail reaches such
-- a domain, the person meant the provider's) and the forms of one mailbox that a provider
-- treats as one (Gmail ignores dots and a `+tag` in the mailbox name, `googlemail.com` is
-- `gmail.com`; Outlook, Hotmail, iCloud, Proton and Fastmail deliver `name+tag` to `name`).
-- Dots are folded for Gmail alone: elsewhere `j.smith` and `jsmith` are two mailboxes, two
-- people (the real system's V1 folded dots on every domain, which V2 undid). Both are data:
-- add a row to teach the engine a local typo or provider; trapper.email_mailbox reads them.

CREATE TABLE trapper.email_domain_typos (
    typo    text PRIMARY KEY CHECK (typo = lower(typo)),
    domain  text NOT NULL CHECK (domain = lower(domain) AND domain <> typo)
);
INSERT INTO trapper.email_domain_typos (typo, domain) VALUES
    ('gmial.com', 'gmail.com'), ('gmal.com', 'gmail.com'), ('gmaill.com', 'gmail.com'),
    ('gmai.com', 'gmail.com'), ('gmil.com', 'gmail.com'), ('gnail.com', 'gmail.com'),
    ('gamil.com', 'gmail.com'), ('gmsil.com', 'gmail.com'), ('gmail.co', 'gmail.com'),
    ('gmail.con', 'gmail.com'), ('gmail.cm', 'gmail.com'), ('gmail.om', 'gmail.com'),
    ('gmail.comm', 'gmail.com'), ('gmail.cmo', 'gmail.com'), ('gmail.ocm', 'gmail.com'),
    ('yahoo.con', 'yahoo.com'), ('yahoo.co', 'yahoo.com'), ('yahoo.cm', 'yahoo.com'),
    ('yahoo.om', 'yahoo.com'), ('yaho.com', 'yahoo.com'), ('yahooo.com', 'yahoo.com'),
    ('yhoo.com', 'yahoo.com'), ('yahho.com', 'yahoo.com'), ('tahoo.com', 'yahoo.com'),
    ('hotmial.com', 'hotmail.com'), ('hotmal.com', 'hotmail.com'), ('hotmai.com', 'hotmail.com'),
    ('hotmil.com', 'hotmail.com'), ('homail.com', 'hotmail.com'), ('hotmaill.com', 'hotmail.com'),
    ('hotmail.con', 'hotmail.com'), ('hotmail.co', 'hotmail.com'), ('hotmail.cm', 'hotmail.com'),
    ('outlok.com', 'outlook.com'), ('outloo.com', 'outlook.com'), ('outlook.con', 'outlook.com'),
    ('outlook.co', 'outlook.com'), ('icloud.con', 'icloud.com'), ('icloud.co', 'icloud.com'),
    ('iclould.com', 'icloud.com'), ('icoud.com', 'icloud.com'), ('icloud.cm', 'icloud.com'),
    ('aol.con', 'aol.com'), ('aol.co', 'aol.com'), ('aol.cm', 'aol.com'),
    ('comcast.ner', 'comcast.net'), ('comcast.nte', 'comcast.net'), ('comcats.net', 'comcast.net'),
    ('comast.net', 'comcast.net'), ('sbcgloabl.net', 'sbcglobal.net'),
    ('sbcgobal.net', 'sbcglobal.net'), ('sbcglobal.ner', 'sbcglobal.net'),
    ('sbcglobel.net', 'sbcglobal.net'), ('att.ner', 'att.net'), ('msn.con', 'msn.com'),
    ('live.con', 'live.com'), ('me.con', 'me.com');

CREATE TABLE trapper.email_mailbox_rules (
    domain          text PRIMARY KEY CHECK (domain = lower(domain)),
    mailbox_domain  text NOT NULL CHECK (mailbox_domain = lower(mailbox_domain)),
    ignores_dots    boolean NOT NULL,   -- "j.smith" is "jsmith"
    plus_tags       boolean NOT NULL,   -- "name+tag" is "name"
    note            text NOT NULL
);
INSERT INTO trapper.email_mailbox_rules VALUES
    ('gmail.com', 'gmail.com', true, true, 'Gmail ignores dots and a +tag'),
    ('googlemail.com', 'gmail.com', true, true, 'the same mailboxes as gmail.com'),
    ('outlook.com', 'outlook.com', false, true, 'plus addressing'),
    ('hotmail.com', 'hotmail.com', false, true, 'plus addressing'),
    ('live.com', 'live.com', false, true, 'plus addressing'),
    ('icloud.com', 'icloud.com', false, true, 'plus addressing'),
    ('me.com', 'me.com', false, true, 'plus addressing (iCloud)'),
    ('protonmail.com', 'protonmail.com', false, true, 'plus addressing'),
    ('proton.me', 'proton.me', false, true, 'plus addressing'),
    ('fastmail.com', 'fastmail.com', false, true, 'plus addressing');

-- The emails already held, under the key they have now: each is written as its mailbox
-- (trapper.email_mailbox, functions/identity.sql); where the person held both forms, the
-- one row left keeps the higher confidence. People who now hold one key are not merged here:
-- the next record with that email finds both and is scored against each, as for any
-- identifier two people hold.
-- (Statements of their own, not a TEMP table: a production role may lack TEMP on the
-- database, docs/operations.md "Roles and rights"; tests/unit refuses TEMP tables.)
UPDATE trapper.person_identifiers h
SET confidence = greatest(h.confidence, r.confidence)
FROM (SELECT i.person_id, trapper.email_mailbox(i.id_value_norm) AS new,
             max(i.confidence) AS confidence
      FROM trapper.person_identifiers i
      WHERE i.id_type = 'email'
        AND trapper.email_mailbox(i.id_value_norm) IS DISTINCT FROM i.id_value_norm
      GROUP BY 1, 2) r
WHERE h.person_id = r.person_id AND h.id_type = 'email' AND h.id_value_norm = r.new;

DELETE FROM trapper.person_identifiers i
WHERE i.id_type = 'email'
  AND trapper.email_mailbox(i.id_value_norm) IS DISTINCT FROM i.id_value_norm
  AND (EXISTS (SELECT 1 FROM trapper.person_identifiers h
               WHERE h.person_id = i.person_id AND h.id_type = 'email'
                 AND h.id_value_norm = trapper.email_mailbox(i.id_value_norm))
       -- two old forms of one new key on one person: keep the first
       OR EXISTS (SELECT 1 FROM trapper.person_identifiers o
                  WHERE o.person_id = i.person_id AND o.id_type = 'email'
                    AND o.id_value_norm < i.id_value_norm
                    AND trapper.email_mailbox(o.id_value_norm)
                        IS DISTINCT FROM o.id_value_norm
                    AND trapper.email_mailbox(o.id_value_norm)
                        = trapper.email_mailbox(i.id_value_norm)));

UPDATE trapper.person_identifiers i
SET id_value_norm = trapper.email_mailbox(i.id_value_norm)
WHERE i.id_type = 'email'
  AND trapper.email_mailbox(i.id_value_norm) IS DISTINCT FROM i.id_value_norm;

UPDATE trapper.sot_people p
SET primary_email = trapper.email_mailbox(p.primary_email)
WHERE p.primary_email IS NOT NULL
  AND trapper.email_mailbox(p.primary_email) IS DISTINCT FROM p.primary_email;
