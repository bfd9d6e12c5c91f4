-- Which towns each ZIP is written with (docs/identity.md, "Places"): learned from every
-- address that names both, so that an address whose town could not be read (only its ZIP)
-- and an address that names the town but no ZIP can meet when the ZIP belongs to that town
-- alone. A ZIP seen with two towns (Cotati and Penngrove share one) joins neither.
-- trapper.find_or_create_place_deduped adds the pairs it reads; this fills it from the
-- places already there.
CREATE TABLE trapper.address_zip_towns (
    zip  text COLLATE "C" NOT NULL,
    town text COLLATE "C" NOT NULL,
    PRIMARY KEY (zip, town)
);

INSERT INTO trapper.address_zip_towns (zip, town)
SELECT DISTINCT x.parts ->> 'zip', x.parts ->> 'town'
FROM trapper.places p
CROSS JOIN LATERAL (SELECT trapper.address_parts(
    coalesce(p.normalized_address, p.formatted_address)) AS parts) x
WHERE x.parts ? 'zip' AND x.parts ? 'town'
ON CONFLICT DO NOTHING;
