-- V2 stable: deployments (written by the gate only), the active pointer, and
-- what V2 served (written by trizone_stable).

CREATE TABLE production.deployments (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Monotonic, human-facing version of what V2 serves ("v7").
    version                bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    experiment_id          uuid NOT NULL REFERENCES experiments_v1.experiments (id),
    fingerprint            text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    -- A copy, so V2 never reads V1's schema.
    configuration          jsonb NOT NULL,
    -- The promotion saga's progress; every step is idempotent.
    status                 text NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'smoke_testing', 'smoke_passed', 'active',
                                             'superseded', 'rolled_back', 'failed')),
    previous_deployment_id uuid REFERENCES production.deployments (id),
    smoke_result           jsonb,
    failure_reason         text,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    activated_at           timestamptz,
    deactivated_at         timestamptz
);
-- At most one deployment is active, whatever the code above it does.
CREATE UNIQUE INDEX deployments_one_active ON production.deployments ((true)) WHERE status = 'active';
-- At most one promotion in flight per configuration.
CREATE UNIQUE INDEX deployments_one_in_flight ON production.deployments (fingerprint)
    WHERE status IN ('pending', 'smoke_testing', 'smoke_passed');

-- The pointer V2 replicas follow. Moving it is one UPDATE in the enabling
-- transaction; `previous_deployment_id` is the rollback target.
CREATE TABLE production.active_deployment (
    singleton              boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    deployment_id          uuid NOT NULL REFERENCES production.deployments (id),
    previous_deployment_id uuid REFERENCES production.deployments (id),
    changed_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE production.code_reviews (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    deployment_id uuid NOT NULL REFERENCES production.deployments (id),
    fingerprint   text NOT NULL,
    language      text NOT NULL,
    path          text,
    -- The code itself is not kept: its size and hash identify it.
    code_bytes    integer NOT NULL CHECK (code_bytes >= 0),
    code_sha256   text NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('ok', 'error')),
    error_kind    text,
    findings      jsonb NOT NULL DEFAULT '[]',
    summary       text NOT NULL DEFAULT '',
    answered_by   jsonb NOT NULL DEFAULT '[]',
    latency_ms    double precision NOT NULL CHECK (latency_ms >= 0),
    cost_usd      double precision NOT NULL DEFAULT 0,
    requested_by  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX code_reviews_deployment ON production.code_reviews (deployment_id, created_at DESC);

CREATE TABLE production.review_feedback (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    review_id  uuid NOT NULL REFERENCES production.code_reviews (id),
    score      smallint NOT NULL CHECK (score BETWEEN 0 AND 5),
    comment    text NOT NULL DEFAULT '',
    author     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_feedback_review ON production.review_feedback (review_id);

-- Per deployment, per replica, per window: request and error counts and the
-- latency histogram, serialized so windows and replicas merge exactly.
CREATE TABLE production.slo_metrics (
    deployment_id     uuid NOT NULL REFERENCES production.deployments (id),
    replica           text NOT NULL,
    window_start      timestamptz NOT NULL,
    window_seconds    integer NOT NULL CHECK (window_seconds > 0),
    requests          bigint NOT NULL CHECK (requests >= 0),
    errors            bigint NOT NULL CHECK (errors BETWEEN 0 AND requests),
    latency_histogram bytea NOT NULL,
    latency_p95_ms    double precision,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deployment_id, replica, window_start)
);
CREATE INDEX slo_metrics_window ON production.slo_metrics (window_start DESC);
