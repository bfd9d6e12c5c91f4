-- identity_outcome takes whether the candidate holds the record's identifiers alone
-- (functions/identity_scoring.sql): a new parameter is a new signature, so the one without
-- it goes; functions/identity_scoring.sql makes the new one.
DROP FUNCTION IF EXISTS trapper.identity_outcome(
    double precision, text, boolean, double precision, double precision);
