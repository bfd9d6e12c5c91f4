-- Addresses the parser read anew with this migration (functions/normalizers.sql; docs/
-- identity.md, "Places"): a rural route or highway contract box ("RR 2 Box 5", "Star Route Box
-- 3") is a place of its own kind; a landmark before a street with no suffix ("Sonoma Valley
-- High School 20000 Broadway") or a numbered one ("Joe's Market - 500 4th St") keeps its
-- address; "4th/Main", "4th x Main", "cnr 4th and Main" are intersections; "One Hundred
-- Twenty-Fifth" is 125th; "N E Elm" is "NE Elm"; a ZIP+4 with no hyphen and a county after
-- the town are no part of the town. The places already made take their keys again.
ALTER TABLE trapper.places DROP CONSTRAINT places_address_kind_check;
ALTER TABLE trapper.places ADD CONSTRAINT places_address_kind_check
    CHECK (address_kind IN ('address', 'intersection', 'landmark', 'rural_route'));

SELECT trapper.rekey_places();
