-- Staged rows are immutable: the trigger that refuses to rewrite what a source said.

-- Raw rows are immutable: processing may mark them, never rewrite what the source said.
CREATE OR REPLACE FUNCTION trapper.staged_records_refuse_rewrite() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'staged_records are immutable: % of row % cannot change',
        'payload/row_hash/source', OLD.id
        USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;

CREATE OR REPLACE TRIGGER staged_records_immutable
    BEFORE UPDATE ON trapper.staged_records
    FOR EACH ROW
    WHEN (OLD.payload IS DISTINCT FROM NEW.payload
          OR OLD.row_hash IS DISTINCT FROM NEW.row_hash
          OR OLD.source_system IS DISTINCT FROM NEW.source_system
          OR OLD.source_table IS DISTINCT FROM NEW.source_table
          OR OLD.source_row_id IS DISTINCT FROM NEW.source_row_id)
    EXECUTE FUNCTION trapper.staged_records_refuse_rewrite();
