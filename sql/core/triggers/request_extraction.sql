-- The AI extraction queue, filled with a trigger reason (the AI itself is out of scope).

-- New requests with free text are queued for AI enrichment (the trigger reason says why).
CREATE OR REPLACE FUNCTION trapper.queue_request_extraction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trapper.extraction_queue
        (entity_type, entity_id, source_table, source_record_id, priority, trigger_reason)
    SELECT 'request', n.request_id, n.source_system, n.source_record_id,
           CASE WHEN n.has_kittens THEN 80 ELSE 50 END, 'new_record'
    FROM new_requests n
    WHERE nullif(btrim(n.summary), '') IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER sot_requests_queue_extraction
    AFTER INSERT ON trapper.sot_requests
    REFERENCING NEW TABLE AS new_requests
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.queue_request_extraction();
