-- Values a processor could not read (docs/processing.md, "Values as people type them"): a
-- cat's sex or altered status outside its small value space, an Ownership word the clinic
-- processor does not know. The record is still processed (the field left empty, or the
-- default link made, as `stored` says); one row per staged record and field, so replays
-- count nothing twice and v_unrecognised_values counts each value by source.
CREATE TABLE trapper.unrecognised_values (
    staged_record_id  bigint,
    field             text NOT NULL,
    value             text NOT NULL,
    stored            text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (staged_record_id, field)
);

-- Cats stored before sex and altered status were read (functions/cats.sql,
-- cat_sex_altered): "M", "Neutered Male", "FS" take their values; "Unknown" and
-- "DidNotAsk" become NULL, so the next record that knows may fill them in. A value read as
-- nothing is left as it was, for someone to look at.
UPDATE trapper.sot_cats c
SET sex = n.sex, altered_status = n.altered_status, updated_at = now()
FROM (SELECT c2.cat_id,
             CASE WHEN 'sex' = ANY (v.unrecognised) THEN c2.sex ELSE v.sex END AS sex,
             CASE WHEN 'altered_status' = ANY (v.unrecognised) THEN c2.altered_status
                  ELSE v.altered END AS altered_status
      FROM trapper.sot_cats c2
      CROSS JOIN LATERAL trapper.cat_sex_altered(c2.sex, c2.altered_status) v
      WHERE c2.sex IS NOT NULL OR c2.altered_status IS NOT NULL) n
WHERE n.cat_id = c.cat_id
  AND (c.sex IS DISTINCT FROM n.sex OR c.altered_status IS DISTINCT FROM n.altered_status);
