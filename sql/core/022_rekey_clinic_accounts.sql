-- Clinic accounts take their keys again (find_or_create_clinic_account keys an account by
-- norm_name_key of its name). Before this version norm_name_key read ú ù û ü ū as o, ñ as u,
-- ç as n and ý as c (functions/normalizers.sql): an account stored under such a key was not
-- found under the corrected one, so its next record made a second account.
--
-- An account whose corrected key is free takes it (of several that correct to one free key,
-- the oldest). One whose corrected key another account already holds keeps its old key: the
-- two were apart before this version, and merging accounts is a person's call, not an
-- upgrade's (docs/identity.md: the gate makes accounts of names that are not people).
WITH keyed AS (
    SELECT a.account_id, a.account_key, a.created_at,
           coalesce(trapper.norm_name_key(a.account_name), 'unnamed') AS new_key
    FROM trapper.clinic_accounts a
),
picked AS (
    SELECT DISTINCT ON (k.new_key) k.account_id, k.new_key
    FROM keyed k
    WHERE k.new_key <> k.account_key
      AND NOT EXISTS (SELECT 1 FROM trapper.clinic_accounts o WHERE o.account_key = k.new_key)
    ORDER BY k.new_key, k.created_at, k.account_id
)
UPDATE trapper.clinic_accounts a
SET account_key = p.new_key
FROM picked p
WHERE a.account_id = p.account_id;
