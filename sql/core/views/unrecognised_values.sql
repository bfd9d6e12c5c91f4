-- What the processors could not read, counted per source table, field and value (core 024).

CREATE OR REPLACE VIEW trapper.v_unrecognised_values AS
SELECT s.source_system, s.source_table, u.field, u.value, u.stored,
       count(*) AS records, min(u.created_at) AS first_seen, max(u.created_at) AS last_seen
FROM trapper.unrecognised_values u
LEFT JOIN trapper.staged_records s ON s.id = u.staged_record_id
GROUP BY s.source_system, s.source_table, u.field, u.value, u.stored;
