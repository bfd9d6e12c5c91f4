-- The orchestrator's settings are checked where they are written (an UPDATE by hand, as
-- docs/operations.md says to set them): a value its reader cannot use is refused, naming the
-- key, the value and what is allowed (functions/arguments.sql of the orchestrator). The
-- readers stay lenient (a WARNING and the default) for values written before this check;
-- notify_queue_alert was read with a cast, so a typo there stopped the listener's probe.
-- Keys this check does not know are accepted as they are.

CREATE OR REPLACE FUNCTION trapper.orchestrator_check_setting() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v text := btrim(NEW.value);
    v_months int;
BEGIN
    CASE NEW.key
        WHEN 'notify' THEN
            PERFORM trapper.orchestrator_require_one_of('setting notify', v, '{on,off}');
        WHEN 'capture_staged', 'capture_decisions', 'capture_entities' THEN
            PERFORM trapper.orchestrator_require_one_of(
                'setting ' || NEW.key, v, '{trigger,poll}',
                'switch it with atlas-orch shadow set (or trapper.orchestrator_set_capture), '
                'which also switches the triggers');
        WHEN 'events_retention_days' THEN
            IF v !~ '^[0-9]{1,5}([.][0-9]+)?$' THEN
                RAISE EXCEPTION 'setting events_retention_days %: not a number of days',
                    quote_literal(left(NEW.value, 40))
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'a number of days such as 7 or 0.5';
            END IF;
        WHEN 'notify_queue_alert' THEN
            IF v !~ '^(0?[.][0-9]+|0|1|1[.]0*)$' THEN
                RAISE EXCEPTION 'setting notify_queue_alert %: not a fraction from 0 to 1',
                    quote_literal(left(NEW.value, 40))
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'the share of the NOTIFY queue in use that raises an anomaly, '
                                 'such as 0.5';
            END IF;
        WHEN 'partitions_ahead_months', 'log_retention_months' THEN
            v_months := CASE WHEN v ~ '^[0-9]{1,6}$' THEN v::int END;
            IF NOT (v = '' AND NEW.key = 'log_retention_months')
               AND (v_months IS NULL
                    OR v_months > CASE NEW.key WHEN 'partitions_ahead_months' THEN 120
                                               ELSE 1200 END) THEN
                RAISE EXCEPTION 'setting % %: not a whole number of months from 0 to %',
                    NEW.key, quote_literal(left(NEW.value, 40)),
                    CASE NEW.key WHEN 'partitions_ahead_months' THEN 120 ELSE 1200 END
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = CASE NEW.key WHEN 'log_retention_months'
                                      THEN 'empty keeps the job log forever'
                                      ELSE 'the months after the current one made ready' END;
            END IF;
        ELSE
            NULL;
    END CASE;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_settings_check
    BEFORE INSERT OR UPDATE OF value ON trapper.orchestrator_settings
    FOR EACH ROW EXECUTE FUNCTION trapper.orchestrator_check_setting();
