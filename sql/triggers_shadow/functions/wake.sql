-- How the shadow triggers wake listeners (at most once per transaction, NOTIFY on or off)
-- and count their own failures without ever raising into the host's transaction.

-- Is NOTIFY on? The GUC atlas_orch.notify (ALTER DATABASE … SET, or per role or session)
-- wins when set, since it costs nothing to read; otherwise orchestrator_settings.notify.
CREATE OR REPLACE FUNCTION trapper.orchestrator_notify_enabled() RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v text := current_setting('atlas_orch.notify', true);
BEGIN
    IF v IS NULL OR v = '' THEN
        v := (SELECT value FROM trapper.orchestrator_settings WHERE key = 'notify');
    END IF;
    RETURN coalesce(v, 'on') = 'on';
END $$;

-- The events channel carries an empty payload: identical notifications in one transaction
-- are folded into one by PostgreSQL, so a transaction wakes listeners once however many
-- statements fired, at no bookkeeping cost; the listener reads the table, not the payload.
CREATE OR REPLACE FUNCTION trapper.orchestrator_wake() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF trapper.orchestrator_notify_enabled() THEN
        PERFORM pg_notify('orchestrator_events', '');
    END IF;
    -- a transaction-local flag: the triggers skip this call for the rest of the transaction
    -- (set_config(..., true) ends with the transaction, or with a subtransaction rolled back)
    PERFORM set_config('atlas_orch.woke', 'y', true);
END $$;

-- The job log's channel carries the newest log_seq, once per transaction (a flag local to
-- the transaction: set_config(..., true) ends with it, or with a subtransaction rolled back).
CREATE OR REPLACE FUNCTION trapper.orchestrator_notify_once(p_channel text, p_id bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_flag text := 'atlas_orch.notified_' || p_channel;
BEGIN
    IF current_setting(v_flag, true) = 'y' THEN
        RETURN;
    END IF;
    IF trapper.orchestrator_notify_enabled() THEN
        PERFORM pg_notify(p_channel, p_id::text);
    END IF;
    PERFORM set_config(v_flag, 'y', true);
END $$;

-- The failure path of every shadow trigger: count it where a person will see it, warn, and
-- never raise. If even the count fails (the orchestrator's tables are gone), the WARNING is
-- all that is left, and it says so.
CREATE OR REPLACE FUNCTION trapper.orchestrator_shadow_failed(p_trigger text, p_state text, p_message text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO trapper.orchestrator_shadow_failures (trigger, sqlstate, message)
        VALUES (p_trigger, p_state, p_message);
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'atlas-orchestrator: shadow trigger % failed (%: %) and the failure '
                      'could not be counted (%)', p_trigger, p_state, p_message, SQLERRM;
        RETURN;
    END;
    RAISE WARNING 'atlas-orchestrator: shadow trigger % failed (%: %); the host write '
                  'went through, counted in trapper.orchestrator_shadow_failures',
                  p_trigger, p_state, p_message;
END $$;
