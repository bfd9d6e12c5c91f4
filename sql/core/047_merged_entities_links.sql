-- What people, places and cats merged before this release held stays on their merged-away
-- rows: move it to their survivors, as the merge triggers (triggers/merge_flattening.sql) now
-- do at the merge (docs/identity.md, "Reviewing"). Merges never chain, so each merged row's
-- target is live.
SELECT trapper.move_person_links(p.person_id, p.merged_into_person_id)
FROM trapper.sot_people p
WHERE p.merged_into_person_id IS NOT NULL
ORDER BY p.merged_at, p.person_id;

SELECT trapper.move_place_links(p.place_id, p.merged_into_place_id)
FROM trapper.places p
WHERE p.merged_into_place_id IS NOT NULL
ORDER BY p.merged_at, p.place_id;

SELECT trapper.move_cat_links(c.cat_id, c.merged_into_cat_id)
FROM trapper.sot_cats c
WHERE c.merged_into_cat_id IS NOT NULL
ORDER BY c.merged_at, c.cat_id;
