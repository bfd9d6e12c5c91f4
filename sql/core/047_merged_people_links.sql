-- What people merged before this release held stays on their merged-away rows: move it to
-- their survivors, as the merge trigger (triggers/merge_flattening.sql) now does at the merge
-- (docs/identity.md, "Reviewing"). Merges never chain, so each merged row's target is live.
SELECT trapper.move_person_links(p.person_id, p.merged_into_person_id)
FROM trapper.sot_people p
WHERE p.merged_into_person_id IS NOT NULL
ORDER BY p.merged_at, p.person_id;
