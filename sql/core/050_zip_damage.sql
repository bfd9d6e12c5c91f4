-- ZIPs a spreadsheet damaged (issue 17; docs/identity.md, "Places"): the places already made
-- from an address whose ZIP lost its leading zero, or was written as a float ("1 Main St,
-- Boston, MA, 2134", keyed with the town "boston ma 2134"), take the key address_parts now
-- gives, and are merged into the place of the clean address when it has one (rekey_places).
SELECT trapper.rekey_places();
