-- A finished run's metrics say how many of its answers were read only
-- after undoing a habit of form (a code fence), beside its errors, so an
-- experimenter sees that a model needed help. Runs finished before: 0.
ALTER TABLE experiments_v1.experiment_metrics
    ADD COLUMN format_recoveries bigint NOT NULL DEFAULT 0 CHECK (format_recoveries >= 0);
