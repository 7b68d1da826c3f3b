-- Progressive delivery. After its smoke test a candidate first shadows live
-- traffic (V2 mirrors a sample of requests to it after answering the user),
-- then answers a growing, per-key sticky share of requests (a canary); the
-- gate judges each step on its own live data before the candidate serves
-- everyone, or aborts it and V2 serves the stable configuration alone.

ALTER TABLE production.deployments DROP CONSTRAINT deployments_status_check;
ALTER TABLE production.deployments ADD CONSTRAINT deployments_status_check
    CHECK (status IN ('pending', 'smoke_testing', 'smoke_passed', 'shadowing', 'canary', 'active',
                      'superseded', 'rolled_back', 'failed'));
DROP INDEX production.deployments_one_in_flight;
CREATE UNIQUE INDEX deployments_one_in_flight ON production.deployments (fingerprint)
    WHERE status IN ('pending', 'smoke_testing', 'smoke_passed', 'shadowing', 'canary');
-- One candidate meets live traffic at a time, whatever the code above does.
CREATE UNIQUE INDEX deployments_one_rolling_out ON production.deployments ((true))
    WHERE status IN ('shadowing', 'canary');

-- A candidate's way to V2: written by the gate, followed by V2 replicas
-- (notified on trizone_active_deployment, like the active pointer).
CREATE TABLE production.rollouts (
    deployment_id        uuid PRIMARY KEY REFERENCES production.deployments (id),
    -- What the candidate is served beside and compared with.
    stable_deployment_id uuid NOT NULL REFERENCES production.deployments (id),
    -- The plan as it was when the rollout began: later edits do not move it.
    plan                 jsonb NOT NULL,
    -- 0 while shadowing, then the canary step from 1.
    step                 integer NOT NULL DEFAULT 0 CHECK (step >= 0),
    -- Percent of requests the candidate answers now: 0 while shadowing.
    share                double precision NOT NULL DEFAULT 0 CHECK (share >= 0 AND share <= 100),
    -- Share of requests mirrored while shadowing.
    shadow_sample        double precision NOT NULL CHECK (shadow_sample >= 0 AND shadow_sample <= 1),
    paused               boolean NOT NULL DEFAULT false,
    step_started_at      timestamptz NOT NULL DEFAULT now(),
    outcome              text CHECK (outcome IN ('promoted', 'aborted')),
    ended_at             timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((outcome IS NULL) = (ended_at IS NULL))
);

-- The candidate's answer to a mirrored request, beside the stable one the
-- user got. Never shown to users; V2 writes them apart from code_reviews.
CREATE TABLE production.shadow_reviews (
    id                   uuid PRIMARY KEY,
    deployment_id        uuid NOT NULL REFERENCES production.deployments (id),
    stable_deployment_id uuid NOT NULL REFERENCES production.deployments (id),
    -- The user's review this one mirrors.
    review_id            uuid NOT NULL,
    outcome              text NOT NULL CHECK (outcome IN ('ok', 'error')),
    error_kind           text,
    findings             jsonb NOT NULL DEFAULT '[]',
    latency_ms           double precision NOT NULL CHECK (latency_ms >= 0),
    cost_usd             double precision NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
    stable_outcome       text NOT NULL CHECK (stable_outcome IN ('ok', 'error')),
    stable_latency_ms    double precision NOT NULL CHECK (stable_latency_ms >= 0),
    stable_cost_usd      double precision NOT NULL DEFAULT 0 CHECK (stable_cost_usd >= 0),
    -- Both answered, with findings that match one to one as V1 matches
    -- them; null when either failed.
    agrees               boolean,
    created_at           timestamptz NOT NULL
);
CREATE INDEX shadow_reviews_deployment ON production.shadow_reviews (deployment_id, created_at);

-- The steps every rollout follows, as admins set them (one row).
CREATE TABLE gate.rollout_plan (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    plan       jsonb NOT NULL,
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE quarantine.quarantine_records DROP CONSTRAINT quarantine_records_reason_check;
ALTER TABLE quarantine.quarantine_records ADD CONSTRAINT quarantine_records_reason_check
    CHECK (reason IN ('accuracy', 'latency', 'error_rate', 'cost', 'non_inferiority',
                      'smoke_test', 'slo_breach', 'blacklist', 'shadow', 'canary'));

GRANT SELECT, INSERT, UPDATE ON production.rollouts TO trizone_gate;
GRANT SELECT ON production.rollouts TO trizone_stable;
GRANT SELECT, INSERT ON production.shadow_reviews TO trizone_stable;
GRANT SELECT ON production.shadow_reviews TO trizone_gate;
GRANT SELECT, INSERT, UPDATE ON gate.rollout_plan TO trizone_gate;
