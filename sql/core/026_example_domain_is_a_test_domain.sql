-- CORE_026: example.com is not a fake domain of the real data (those are noemail.com,
-- petestablished.com and the literal "none": research/atlas-data.md, "data traps") but the
-- domain RFC 2606 keeps for examples, which test data and demos are written with; blocked,
-- every person known by such an email alone was rejected. A placeholder typed for many
-- people is kept apart as any shared identifier is (docs/identity.md).
DELETE FROM trapper.identity_blocklist
WHERE id_type = 'email_domain' AND value = 'example.com';
