-- The gate's own record: every decision with every check's value, bound
-- and threshold. Written by the gate only; V1 reads it so experimenters see
-- why a configuration stayed, went to V2 or went to V3.

CREATE SCHEMA gate;

CREATE TABLE gate.decisions (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- One decision per run, whatever number of gates race for it.
    run_id               uuid NOT NULL UNIQUE REFERENCES experiments_v1.evaluation_runs (id),
    experiment_id        uuid NOT NULL REFERENCES experiments_v1.experiments (id),
    fingerprint          text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    decision             text NOT NULL CHECK (decision IN ('pass', 'fail', 'inconclusive')),
    -- The core judge's verdict: checks, additional cases needed.
    verdict              jsonb NOT NULL,
    thresholds           jsonb NOT NULL,
    metrics              jsonb NOT NULL,
    -- What the gate did about it.
    outcome              text NOT NULL
                         CHECK (outcome IN ('promoting', 'kept_in_v1', 'quarantined', 'blacklisted')),
    deployment_id        uuid REFERENCES production.deployments (id),
    quarantine_record_id uuid REFERENCES quarantine.quarantine_records (id),
    decided_by           text NOT NULL,
    trigger              text NOT NULL CHECK (trigger IN ('schedule', 'request')),
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_experiment ON gate.decisions (experiment_id, created_at DESC);
CREATE INDEX decisions_created ON gate.decisions (created_at DESC);

REVOKE ALL ON ALL TABLES IN SCHEMA gate FROM PUBLIC;
GRANT USAGE ON SCHEMA gate TO trizone_gate, trizone_experiment;
GRANT SELECT, INSERT ON gate.decisions TO trizone_gate;
GRANT SELECT ON gate.decisions TO trizone_experiment;
