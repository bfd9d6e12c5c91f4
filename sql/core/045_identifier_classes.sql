-- Identifiers as people type them (docs/identity.md, "People", step 2;
-- tests/test_identifier_classes.py).
--
-- An email whose mailbox name says there is none ("noemail@gmail.com", "none@yahoo.com",
-- "no.email@…", "declined@…", "na@na.com") at a real provider's domain was an identifier:
-- everyone who typed it shared it, so two strangers of one name were one person, and of two
-- names a household. The fake domains were blocked (noemail.com, none.com); the fake
-- mailbox names at real domains were not. They are rows of identity_blocklist, id_type
-- 'email_local', matched without the name's dots, dashes and underscores
-- (trapper.identifier_blocked); staff add a local one as a row.
ALTER TABLE trapper.identity_blocklist DROP CONSTRAINT identity_blocklist_id_type_check;
ALTER TABLE trapper.identity_blocklist ADD CONSTRAINT identity_blocklist_id_type_check
    CHECK (id_type IN ('email', 'email_domain', 'email_local', 'phone'));

INSERT INTO trapper.identity_blocklist (id_type, value, reason)
SELECT 'email_local', v, 'a placeholder: the mailbox name says there is no email'
FROM unnest(ARRAY['none', 'noemail', 'noemails', 'nomail', 'noemailaddress',
                  'noemailprovided', 'noemailgiven', 'noneprovided', 'nonegiven',
                  'notprovided', 'notgiven', 'noaddress', 'noreply', 'donotreply',
                  'donotemail', 'dontemail', 'declined', 'decline', 'refused', 'unknown',
                  'na', 'null', 'nil', 'nobody', 'noone', 'no', 'nope', 'fake', 'test',
                  'x', 'xx', 'xxx', 'xxxx', 'asdf']) v
ON CONFLICT DO NOTHING;

INSERT INTO trapper.identity_blocklist (id_type, value, reason)
SELECT 'email_domain', v, 'fake domain'
FROM unnest(ARRAY['na.com', 'nomail.com', 'noemail.net', 'none.net', 'fake.com',
                  'test.com', 'donotreply.com']) v
ON CONFLICT DO NOTHING;

-- The emails already held, under the key norm_email gives now (a full-width or decomposed
-- character read as its compatibility form, NFKC): as 034 re-keyed them, where the person
-- held both forms the one row left keeps the higher confidence.
UPDATE trapper.person_identifiers h
SET confidence = greatest(h.confidence, r.confidence)
FROM (SELECT i.person_id, trapper.email_mailbox(trapper.norm_email(i.id_value_norm)) AS new,
             max(i.confidence) AS confidence
      FROM trapper.person_identifiers i
      WHERE i.id_type = 'email'
        AND trapper.email_mailbox(trapper.norm_email(i.id_value_norm)) <> i.id_value_norm
      GROUP BY 1, 2) r
WHERE h.person_id = r.person_id AND h.id_type = 'email' AND h.id_value_norm = r.new;

DELETE FROM trapper.person_identifiers i
WHERE i.id_type = 'email'
  AND trapper.email_mailbox(trapper.norm_email(i.id_value_norm)) <> i.id_value_norm
  AND (EXISTS (SELECT 1 FROM trapper.person_identifiers h
               WHERE h.person_id = i.person_id AND h.id_type = 'email'
                 AND h.id_value_norm = trapper.email_mailbox(trapper.norm_email(i.id_value_norm)))
       -- two old forms of one new key on one person: keep the first
       OR EXISTS (SELECT 1 FROM trapper.person_identifiers o
                  WHERE o.person_id = i.person_id AND o.id_type = 'email'
                    AND o.id_value_norm < i.id_value_norm
                    AND trapper.email_mailbox(trapper.norm_email(o.id_value_norm))
                        = trapper.email_mailbox(trapper.norm_email(i.id_value_norm))));

UPDATE trapper.person_identifiers i
SET id_value_norm = trapper.email_mailbox(trapper.norm_email(i.id_value_norm))
WHERE i.id_type = 'email'
  AND trapper.email_mailbox(trapper.norm_email(i.id_value_norm)) <> i.id_value_norm;

-- An email held that is now refused (a placeholder mailbox) is no identifier: no record
-- gives it any more, and kept it would still count as the person's "other email" against
-- a record's real one. The staged records keep it as typed; a person left with no
-- identifier is listed by why-missing (person_no_identifiers). People it joined before
-- stay as they are: which of them are one person is a reviewer's question.
DELETE FROM trapper.person_identifiers i
WHERE i.id_type = 'email' AND trapper.identifier_blocked('email', i.id_value_norm) IS NOT NULL;

UPDATE trapper.sot_people p
SET primary_email = NULL
WHERE p.primary_email IS NOT NULL
  AND trapper.identifier_blocked('email', p.primary_email) IS NOT NULL;
