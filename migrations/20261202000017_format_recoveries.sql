-- A case whose answer broke the output contract but was still read exactly
-- (the review object inside a code fence) says so, so a run can show how
-- often its model needed help. Older cases had no recovery: NULL.
ALTER TABLE experiments_v1.code_analyses
    ADD COLUMN format_recovery text CHECK (format_recovery IN ('fenced'));
