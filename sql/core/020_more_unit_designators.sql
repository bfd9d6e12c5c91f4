-- Addresses as new sources write them (docs/identity.md, "Places"): a unit designator Pub 28
-- C2 does not list ("Sp 12", a mobile home's space, is "Spc 12"). The parser read other shapes
-- anew with this migration (functions/normalizers.sql: numbered routes, "Apt #4B", no-break
-- spaces, full-width digits, accents), so the places already made take their keys again.
INSERT INTO trapper.address_unit_designators (written, standard, needs_id) VALUES
    ('sp', 'spc', true)
ON CONFLICT (written) DO NOTHING;

SELECT trapper.rekey_places();
