-- V3 quarantine: the archive of configurations that failed, and the
-- permanent blacklist. Written by the gate only; read by V3 and (the
-- blacklist) by V1.

CREATE TABLE quarantine.quarantine_records (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    experiment_id         uuid NOT NULL REFERENCES experiments_v1.experiments (id),
    fingerprint           text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    configuration         jsonb NOT NULL,
    owner                 text NOT NULL,
    primary_model         text NOT NULL,
    secondary_model       text,
    reason                text NOT NULL
                          CHECK (reason IN ('accuracy', 'latency', 'error_rate', 'cost', 'non_inferiority',
                                            'smoke_test', 'slo_breach', 'blacklist')),
    -- Every failed check: name, value, bound, threshold, reason.
    failed_checks         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(failed_checks) = 'array'),
    metrics               jsonb,
    -- Related experiments and deployments (model, prompt, fingerprint).
    impact                jsonb NOT NULL DEFAULT '{}',
    reevaluation_eligible boolean NOT NULL,
    deployment_id         uuid REFERENCES production.deployments (id),
    decided_by            text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quarantine_records_fingerprint ON quarantine.quarantine_records (fingerprint);
CREATE INDEX quarantine_records_reason ON quarantine.quarantine_records (reason, created_at DESC);
CREATE INDEX quarantine_records_created ON quarantine.quarantine_records (created_at DESC);

CREATE TABLE quarantine.blacklist (
    fingerprint    text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    reason         text NOT NULL CHECK (length(reason) > 0),
    record_id      uuid REFERENCES quarantine.quarantine_records (id),
    blacklisted_by text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE experiments_v1.experiments
    ADD CONSTRAINT experiments_reevaluation_of_fkey
    FOREIGN KEY (reevaluation_of) REFERENCES quarantine.quarantine_records (id);
CREATE INDEX experiments_reevaluation_of ON experiments_v1.experiments (reevaluation_of)
    WHERE reevaluation_of IS NOT NULL;

-- Re-evaluations of each record, read through the link V1 wrote, so V3
-- needs no grant on V1's tables and writes nothing.
CREATE VIEW quarantine.reevaluations AS
SELECT e.reevaluation_of AS record_id,
       e.id AS experiment_id,
       e.status,
       e.owner,
       e.created_at,
       e.updated_at
FROM experiments_v1.experiments e
WHERE e.reevaluation_of IS NOT NULL;

CREATE VIEW quarantine.quarantine_summary AS
WITH outcomes AS (
    SELECT r.id,
           count(re.experiment_id) AS reevaluations,
           count(re.experiment_id) FILTER (WHERE re.status = 'promoted') AS reevaluations_promoted,
           count(re.experiment_id) FILTER (WHERE re.status IN ('quarantined', 'blacklisted')) AS reevaluations_failed,
           count(re.experiment_id) FILTER (WHERE re.status IN ('registered', 'evaluating', 'evaluated')) AS reevaluations_open
    FROM quarantine.quarantine_records r
    LEFT JOIN quarantine.reevaluations re ON re.record_id = r.id
    GROUP BY r.id
)
SELECT date_trunc('week', r.created_at) AS week,
       r.reason,
       r.primary_model,
       count(*) AS records,
       count(DISTINCT r.fingerprint) AS configurations,
       count(*) FILTER (WHERE r.reevaluation_eligible) AS eligible_for_reevaluation,
       sum(o.reevaluations) AS reevaluations,
       sum(o.reevaluations_promoted) AS reevaluations_promoted,
       sum(o.reevaluations_failed) AS reevaluations_failed,
       sum(o.reevaluations_open) AS reevaluations_open
FROM quarantine.quarantine_records r
JOIN outcomes o ON o.id = r.id
GROUP BY 1, 2, 3;
