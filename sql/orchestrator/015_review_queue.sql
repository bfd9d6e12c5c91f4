-- Issue 18, item 1: the review queue (docs/identity.md, "Reviewing").
--
-- Identity resolution queues a possible match as a `review_pending` decision
-- (trapper.data_engine_match_decisions, review_status 'pending'). A person settles it with
-- `atlas-orch review merge | keep-separate | defer` (listener/admin/review.py), through
-- trapper.orchestrator_review_act (functions/review.sql). Every action is also a row of the
-- decision log (orchestrator_job_log); these two tables hold what the log cannot answer
-- cheaply: the latest action on each decision (a deferral leaves review_status 'pending',
-- since the engines' CHECK has no 'deferred'), and the pairs a reviewer kept apart, which
-- identity resolution reads so that the same pair is not queued again.

-- The latest review action on each reviewed decision.
CREATE TABLE trapper.orchestrator_identity_reviews (
    decision_id   BIGINT PRIMARY KEY,
    verdict       TEXT NOT NULL CHECK (verdict IN ('merged', 'kept_separate', 'deferred')),
    reviewed_by   TEXT NOT NULL,
    note          TEXT,
    -- the two people as they were when acted on (canonical ids) and, for a merge, the survivor
    person_id     UUID,
    candidate_id  UUID,
    survivor_id   UUID,
    log_seq       BIGINT,
    reviewed_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Pairs of people a reviewer said are two people. Stored once per pair, smaller id first.
-- A merge of either side later leaves the row naming the merged id; readers resolve both
-- sides to canonical ids (trapper.get_canonical_person_id) before comparing.
CREATE TABLE trapper.orchestrator_kept_separate (
    person_a     UUID NOT NULL,
    person_b     UUID NOT NULL,
    decision_id  BIGINT,
    decided_by   TEXT NOT NULL,
    note         TEXT,
    decided_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (person_a, person_b),
    CHECK (person_a < person_b)
);
CREATE INDEX orchestrator_kept_separate_b_idx ON trapper.orchestrator_kept_separate (person_b);
