-- V1 experimentation: configurations under test, datasets, runs and what
-- they measured. Written by trizone_experiment; the gate moves statuses
-- across zones.

CREATE TABLE experiments_v1.experiments (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    owner           text NOT NULL CHECK (length(owner) BETWEEN 1 AND 200),
    description     text NOT NULL DEFAULT '',
    configuration   jsonb NOT NULL,
    fingerprint     text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    prompt_hash     text NOT NULL CHECK (prompt_hash ~ '^[0-9a-f]{64}$'),
    primary_model   text NOT NULL,
    secondary_model text,
    strategy        text NOT NULL CHECK (strategy IN ('primary', 'secondary', 'ensemble', 'adaptive')),
    status          text NOT NULL DEFAULT 'registered',
    -- Set when this experiment re-evaluates a quarantined configuration.
    reevaluation_of uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Registration is idempotent on fingerprint among live experiments; a
-- quarantined, blacklisted or withdrawn one does not block a new one (a
-- re-evaluation registers the same fingerprint again).
CREATE UNIQUE INDEX experiments_live_fingerprint
    ON experiments_v1.experiments (fingerprint)
    WHERE status IN ('registered', 'evaluating', 'evaluated', 'promoted');
CREATE INDEX experiments_status ON experiments_v1.experiments (status, created_at DESC);
CREATE INDEX experiments_owner ON experiments_v1.experiments (owner, created_at DESC);
CREATE INDEX experiments_prompt ON experiments_v1.experiments (prompt_hash);
CREATE INDEX experiments_models ON experiments_v1.experiments (primary_model, secondary_model);

-- The lifecycle of trizone_core::lifecycle, and who may make each move.
CREATE TABLE experiments_v1.status_transitions (
    from_status text NOT NULL,
    to_status   text NOT NULL,
    mover       text NOT NULL CHECK (mover IN ('experiment', 'gate')),
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO experiments_v1.status_transitions (from_status, to_status, mover) VALUES
    ('registered',  'evaluating',  'experiment'),
    ('registered',  'withdrawn',   'experiment'),
    ('registered',  'blacklisted', 'gate'),
    ('evaluating',  'registered',  'experiment'),
    ('evaluating',  'evaluated',   'experiment'),
    ('evaluated',   'evaluating',  'experiment'),
    ('evaluated',   'withdrawn',   'experiment'),
    ('evaluated',   'promoted',    'gate'),
    ('evaluated',   'quarantined', 'gate'),
    ('evaluated',   'blacklisted', 'gate'),
    ('promoted',    'quarantined', 'gate'),
    ('quarantined', 'blacklisted', 'gate');

ALTER TABLE experiments_v1.experiments
    ADD CONSTRAINT experiments_status_known CHECK (
        status IN ('registered', 'evaluating', 'evaluated', 'promoted', 'quarantined', 'blacklisted', 'withdrawn'));

-- Refuses a status change the lifecycle does not allow, or one made by the
-- wrong zone: only the gate moves an experiment between zones. Owners and
-- superusers (migrations, operators repairing data) are not checked.
CREATE FUNCTION experiments_v1.check_status_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    allowed_mover text;
BEGIN
    IF NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    SELECT mover INTO allowed_mover
    FROM experiments_v1.status_transitions
    WHERE from_status = OLD.status AND to_status = NEW.status;
    IF allowed_mover IS NULL THEN
        RAISE EXCEPTION 'an experiment cannot go from % to %', OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'experiments_status_transition';
    END IF;
    IF session_user IN ('trizone_experiment', 'trizone_gate')
       AND session_user <> 'trizone_' || allowed_mover THEN
        RAISE EXCEPTION 'only trizone_% may move an experiment from % to %', allowed_mover, OLD.status, NEW.status
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'experiments_status_mover';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER experiments_status_transition
    BEFORE UPDATE OF status ON experiments_v1.experiments
    FOR EACH ROW EXECUTE FUNCTION experiments_v1.check_status_transition();

CREATE TABLE experiments_v1.datasets (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description    text NOT NULL DEFAULT '',
    case_count     integer NOT NULL CHECK (case_count >= 0),
    content_sha256 text NOT NULL,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE experiments_v1.dataset_cases (
    dataset_id        uuid NOT NULL REFERENCES experiments_v1.datasets (id) ON DELETE CASCADE,
    ordinal           integer NOT NULL CHECK (ordinal >= 0),
    case_id           text NOT NULL CHECK (length(case_id) BETWEEN 1 AND 200),
    language          text NOT NULL,
    path              text NOT NULL,
    code              text NOT NULL,
    expected_findings jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(expected_findings) = 'array'),
    PRIMARY KEY (dataset_id, case_id),
    UNIQUE (dataset_id, ordinal)
);

CREATE TABLE experiments_v1.evaluation_runs (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    experiment_id    uuid NOT NULL REFERENCES experiments_v1.experiments (id),
    dataset_id       uuid NOT NULL REFERENCES experiments_v1.datasets (id),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'finished', 'failed', 'cancelled')),
    concurrency      integer NOT NULL CHECK (concurrency BETWEEN 1 AND 256),
    cases_total      integer NOT NULL CHECK (cases_total >= 0),
    -- A run is worked by one replica at a time, under a renewable lease.
    lease_owner      text,
    lease_expires_at timestamptz,
    error            text,
    requested_by     text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    -- Set by the gate once it has judged the finished run.
    judged_at        timestamptz
);
CREATE INDEX evaluation_runs_experiment ON experiments_v1.evaluation_runs (experiment_id, created_at DESC);
CREATE INDEX evaluation_runs_claimable ON experiments_v1.evaluation_runs (created_at)
    WHERE status IN ('queued', 'running');

-- One row per case per run: what the review found and how it scored.
CREATE TABLE experiments_v1.code_analyses (
    run_id          uuid NOT NULL REFERENCES experiments_v1.evaluation_runs (id) ON DELETE CASCADE,
    case_id         text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('ok', 'error')),
    error_kind      text,
    findings        jsonb NOT NULL DEFAULT '[]',
    true_positives  integer NOT NULL DEFAULT 0,
    false_positives integer NOT NULL DEFAULT 0,
    false_negatives integer NOT NULL DEFAULT 0,
    correct         boolean NOT NULL,
    latency_ms      double precision NOT NULL CHECK (latency_ms >= 0),
    input_tokens    bigint NOT NULL DEFAULT 0,
    output_tokens   bigint NOT NULL DEFAULT 0,
    cost_usd        double precision NOT NULL DEFAULT 0,
    answered_by     text,
    fallback_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, case_id),
    CHECK (outcome = 'ok' OR NOT correct)
);

-- A finished run's aggregate metrics (trizone_core::RunMetrics).
CREATE TABLE experiments_v1.experiment_metrics (
    run_id            uuid PRIMARY KEY REFERENCES experiments_v1.evaluation_runs (id) ON DELETE CASCADE,
    experiment_id     uuid NOT NULL REFERENCES experiments_v1.experiments (id),
    cases             bigint NOT NULL CHECK (cases >= 0),
    correct           bigint NOT NULL CHECK (correct BETWEEN 0 AND cases),
    errors            bigint NOT NULL CHECK (errors BETWEEN 0 AND cases),
    true_positives    bigint NOT NULL,
    false_positives   bigint NOT NULL,
    false_negatives   bigint NOT NULL,
    latency_p50_ms    double precision,
    latency_p95_ms    double precision,
    latency_p99_ms    double precision,
    -- Serialized HdrHistogram (V2 format), so runs can be merged exactly.
    latency_histogram bytea,
    input_tokens      bigint NOT NULL DEFAULT 0,
    output_tokens     bigint NOT NULL DEFAULT 0,
    cost_usd          double precision NOT NULL DEFAULT 0,
    throughput_per_s  double precision,
    computed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX experiment_metrics_latest ON experiments_v1.experiment_metrics (experiment_id, computed_at DESC);

CREATE TABLE experiments_v1.feedback (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id uuid NOT NULL REFERENCES experiments_v1.experiments (id),
    score         smallint NOT NULL CHECK (score BETWEEN 0 AND 5),
    comment       text NOT NULL DEFAULT '',
    author        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_experiment ON experiments_v1.feedback (experiment_id);

-- The thresholds the readiness view compares against; the gate keeps this
-- row equal to the thresholds it judges with.
CREATE TABLE experiments_v1.gate_thresholds (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    min_accuracy       double precision NOT NULL DEFAULT 0.95,
    max_p95_latency_ms double precision NOT NULL DEFAULT 3000,
    max_error_rate     double precision NOT NULL DEFAULT 0.02,
    min_sample_size    bigint NOT NULL DEFAULT 100,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
INSERT INTO experiments_v1.gate_thresholds DEFAULT VALUES;

-- Each experiment's latest metrics against the gate's thresholds, on point
-- estimates. The gate's verdict (with confidence bounds) is authoritative;
-- this view tells an experimenter where a configuration stands.
CREATE VIEW experiments_v1.promotion_readiness AS
SELECT e.id AS experiment_id,
       e.name,
       e.owner,
       e.fingerprint,
       e.status,
       m.run_id,
       m.cases,
       m.correct::double precision / NULLIF(m.cases, 0) AS accuracy,
       m.errors::double precision / NULLIF(m.cases, 0) AS error_rate,
       m.latency_p95_ms,
       m.cost_usd,
       (SELECT avg(f.score)::double precision FROM experiments_v1.feedback f WHERE f.experiment_id = e.id) AS satisfaction,
       coalesce(m.cases >= t.min_sample_size, false) AS meets_sample_size,
       coalesce(m.correct::double precision / NULLIF(m.cases, 0) >= t.min_accuracy, false) AS meets_accuracy,
       coalesce(m.latency_p95_ms <= t.max_p95_latency_ms, false) AS meets_latency,
       coalesce(m.errors::double precision / NULLIF(m.cases, 0) <= t.max_error_rate, false) AS meets_error_rate,
       coalesce(m.cases >= t.min_sample_size
                AND m.correct::double precision / m.cases >= t.min_accuracy
                AND m.latency_p95_ms <= t.max_p95_latency_ms
                AND m.errors::double precision / m.cases <= t.max_error_rate, false) AS ready,
       m.computed_at
FROM experiments_v1.experiments e
CROSS JOIN experiments_v1.gate_thresholds t
LEFT JOIN LATERAL (
    SELECT *
    FROM experiments_v1.experiment_metrics em
    WHERE em.experiment_id = e.id
    ORDER BY em.computed_at DESC
    LIMIT 1
) m ON true;
