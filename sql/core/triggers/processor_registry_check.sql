-- The processor registry admits only functions (staged_record_id bigint) -> jsonb that exist.

CREATE OR REPLACE FUNCTION trapper.data_engine_processors_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF to_regprocedure(NEW.processor_function || '(bigint)') IS NULL THEN
        RAISE EXCEPTION 'processor % names %, which is not a function (bigint) -> jsonb',
            NEW.processor_name, NEW.processor_function
            USING ERRCODE = 'undefined_function';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER data_engine_processors_check
    BEFORE INSERT OR UPDATE OF processor_function ON trapper.data_engine_processors
    FOR EACH ROW EXECUTE FUNCTION trapper.data_engine_processors_check();
