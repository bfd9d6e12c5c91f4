-- Routing rules are checked on every write, and their version moves when they change.

-- Rules are checked on every write, whoever writes them (map_source_field or an INSERT).
CREATE OR REPLACE FUNCTION trapper.orchestrator_check_rule() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_fn trapper.orchestrator_functions;
BEGIN
    IF NEW.transform_expression IS NOT NULL THEN
        PERFORM trapper.orchestrator_transform_signature(NEW.transform_expression);
    END IF;
    IF NEW.routing_type = 'transform' AND NEW.transform_expression IS NULL THEN
        RAISE EXCEPTION 'a transform rule needs a transform_expression such as norm_email($1)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.target_function IS NOT NULL THEN
        SELECT * INTO v_fn FROM trapper.orchestrator_functions
        WHERE function_name = NEW.target_function AND kind = 'target';
        IF v_fn.function_name IS NULL THEN
            RAISE EXCEPTION 'target_function "%" is not in the allowlist of target functions',
                NEW.target_function USING ERRCODE = 'invalid_parameter_value',
                HINT = 'see SELECT function_name FROM trapper.orchestrator_functions WHERE kind = ''target''';
        END IF;
        IF NEW.target_field IS NOT NULL AND NOT NEW.target_field = ANY (v_fn.parameters) THEN
            RAISE EXCEPTION '% takes no field "%" (it takes %)', NEW.target_function,
                NEW.target_field, array_to_string(v_fn.parameters, ', ')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.source_field, NEW.target_surface, NEW.target_field,
                             NEW.target_function, NEW.routing_type, NEW.transform_expression,
                             NEW.is_required, NEW.skip_if_empty)
        IS DISTINCT FROM (OLD.source_field, OLD.target_surface, OLD.target_field,
                          OLD.target_function, OLD.routing_type, OLD.transform_expression,
                          OLD.is_required, OLD.skip_if_empty) THEN
        NEW.rule_version := OLD.rule_version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_routing_rules_check
    BEFORE INSERT OR UPDATE ON trapper.orchestrator_routing_rules
    FOR EACH ROW EXECUTE FUNCTION trapper.orchestrator_check_rule();
