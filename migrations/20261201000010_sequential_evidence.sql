-- Sequential evaluation: the evidence for a configuration is every case
-- evaluated for its fingerprint, over all its runs, each case counted once.
-- The gate judges that pooled evidence, so running a configuration again
-- continues the same test instead of starting a new one.

-- What the model is shown for a case: the same code at the same path is
-- the same case, whichever dataset it came in. Computed by the service on
-- upload (trizone_core::case_key); existing rows are backfilled the same way.
ALTER TABLE experiments_v1.dataset_cases ADD COLUMN case_key text;
UPDATE experiments_v1.dataset_cases
SET case_key = encode(sha256(convert_to(language || E'\x1f' || path || E'\x1f' || code, 'UTF8')), 'hex');
ALTER TABLE experiments_v1.dataset_cases
    ALTER COLUMN case_key SET NOT NULL,
    ADD CONSTRAINT dataset_cases_case_key_hex CHECK (case_key ~ '^[0-9a-f]{64}$');
CREATE INDEX dataset_cases_key ON experiments_v1.dataset_cases (case_key);

-- Which analysis counts for which configuration: one per (fingerprint,
-- case). A case recorded again (another dataset holding it, a race) keeps
-- its analysis row but adds no evidence.
CREATE TABLE experiments_v1.evidence (
    fingerprint text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    case_key    text NOT NULL CHECK (case_key ~ '^[0-9a-f]{64}$'),
    run_id      uuid NOT NULL,
    case_id     text NOT NULL,
    PRIMARY KEY (fingerprint, case_key),
    UNIQUE (run_id, case_id),
    FOREIGN KEY (run_id, case_id) REFERENCES experiments_v1.code_analyses (run_id, case_id) ON DELETE CASCADE
);
INSERT INTO experiments_v1.evidence (fingerprint, case_key, run_id, case_id)
SELECT DISTINCT ON (e.fingerprint, c.case_key) e.fingerprint, c.case_key, a.run_id, a.case_id
FROM experiments_v1.code_analyses a
JOIN experiments_v1.evaluation_runs r ON r.id = a.run_id
JOIN experiments_v1.experiments e ON e.id = r.experiment_id
JOIN experiments_v1.dataset_cases c ON c.dataset_id = r.dataset_id AND c.case_id = a.case_id
ORDER BY e.fingerprint, c.case_key, a.created_at, a.run_id;

-- How a run chose and stopped: its cases in an order drawn from `seed`;
-- it stops once the judge has decided (`decided`), or when its cases run
-- out (`exhausted`); `exhaustive` runs every case regardless.
ALTER TABLE experiments_v1.evaluation_runs
    ADD COLUMN seed bigint,
    ADD COLUMN exhaustive boolean NOT NULL DEFAULT false,
    ADD COLUMN stop_reason text CHECK (stop_reason IN ('decided', 'exhausted')),
    ADD COLUMN cases_not_needed integer CHECK (cases_not_needed >= 0),
    -- The judge's verdict on the pooled evidence when the run ended.
    ADD COLUMN verdict jsonb;

-- Decisions keep what they rest on, so each can be re-derived: the pooled
-- counts, and the runs whose recorded cases were pooled (each run's seed is
-- on the run). The design (risk, indifference, thresholds) is in `thresholds`.
ALTER TABLE gate.decisions
    ADD COLUMN evidence jsonb,
    ADD COLUMN pooled_runs uuid[];
CREATE INDEX decisions_fingerprint ON gate.decisions (fingerprint, created_at DESC);

-- V1 judges with exactly the gate's thresholds, all of them.
ALTER TABLE experiments_v1.gate_thresholds ADD COLUMN thresholds jsonb;

-- Where each experiment stands, as the gate sees it: the pooled evidence of
-- its configuration and the gate's latest decision on it. No threshold is
-- compared here: the judge is the one place that decides.
DROP VIEW experiments_v1.promotion_readiness;
CREATE VIEW experiments_v1.promotion_readiness AS
SELECT e.id AS experiment_id,
       e.name,
       e.owner,
       e.fingerprint,
       e.status,
       p.cases,
       p.correct::double precision / NULLIF(p.cases, 0) AS accuracy,
       p.errors::double precision / NULLIF(p.cases, 0) AS error_rate,
       p.latency_p95_ms,
       p.cost_usd,
       (SELECT avg(f.score)::double precision FROM experiments_v1.feedback f WHERE f.experiment_id = e.id) AS satisfaction,
       d.id AS decision_id,
       d.decision,
       (d.verdict ->> 'cases')::bigint AS decided_on_cases,
       (d.verdict ->> 'additional_cases_needed')::bigint AS additional_cases_needed,
       d.created_at AS decided_at,
       coalesce(d.decision = 'pass', false) AS ready
FROM experiments_v1.experiments e
CROSS JOIN LATERAL (
    SELECT count(*) AS cases,
           count(*) FILTER (WHERE a.correct) AS correct,
           count(*) FILTER (WHERE a.outcome = 'error') AS errors,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY a.latency_ms) FILTER (WHERE a.outcome = 'ok') AS latency_p95_ms,
           coalesce(sum(a.cost_usd), 0)::double precision AS cost_usd
    FROM experiments_v1.evidence v
    JOIN experiments_v1.code_analyses a ON a.run_id = v.run_id AND a.case_id = v.case_id
    WHERE v.fingerprint = e.fingerprint
) p
LEFT JOIN LATERAL (
    SELECT gd.id, gd.decision, gd.verdict, gd.created_at
    FROM gate.decisions gd
    WHERE gd.fingerprint = e.fingerprint
    ORDER BY gd.created_at DESC
    LIMIT 1
) d ON true;

-- Evidence is append-only, even for V1's own login: nobody who holds it can
-- rewrite an outcome or erase a bad case (directly, or by deleting a run or
-- dataset and letting the foreign keys cascade) to restart a test. V1
-- never needs to.
REVOKE ALL ON experiments_v1.evidence FROM PUBLIC;
GRANT SELECT, INSERT ON experiments_v1.evidence TO trizone_experiment;
REVOKE UPDATE, DELETE ON experiments_v1.code_analyses, experiments_v1.dataset_cases,
    experiments_v1.experiment_metrics FROM trizone_experiment;
REVOKE DELETE ON experiments_v1.evaluation_runs, experiments_v1.datasets FROM trizone_experiment;
GRANT SELECT ON experiments_v1.evidence, experiments_v1.promotion_readiness TO trizone_gate;
GRANT SELECT ON experiments_v1.promotion_readiness TO trizone_experiment;
