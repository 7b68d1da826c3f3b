-- Grants that make DESIGN.md's single-writer table true. Anything not
-- granted here is denied; tests in crates/store/tests prove each denial.
--
-- | role               | writes                                              | reads                                   |
-- |--------------------|-----------------------------------------------------|-----------------------------------------|
-- | trizone_experiment | experiments_v1.* (status within V1 only)            | experiments_v1.*, quarantine.blacklist  |
-- | trizone_gate       | production.deployments + active pointer,           | experiments_v1.*, production.*,         |
-- |                    | quarantine.records + blacklist (insert only),       | quarantine.*                            |
-- |                    | experiments_v1.experiments(status), run judged_at,  |                                         |
-- |                    | gate_thresholds                                     |                                         |
-- | trizone_stable     | production.code_reviews, review_feedback,           | production.deployments, active pointer  |
-- |                    | slo_metrics                                         |                                         |
-- | trizone_quarantine | nothing (and every transaction read-only)          | quarantine.*                            |
-- | all but quarantine | audit.event_log through audit.append_event only     | audit.event_log                         |

REVOKE ALL ON ALL TABLES IN SCHEMA experiments_v1, production, quarantine, audit FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA experiments_v1, production, quarantine, audit FROM PUBLIC;

-- V1 experimentation
GRANT USAGE ON SCHEMA experiments_v1 TO trizone_experiment;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    experiments_v1.experiments, experiments_v1.datasets, experiments_v1.dataset_cases,
    experiments_v1.evaluation_runs, experiments_v1.code_analyses, experiments_v1.experiment_metrics,
    experiments_v1.feedback
    TO trizone_experiment;
GRANT SELECT ON experiments_v1.status_transitions, experiments_v1.gate_thresholds,
    experiments_v1.promotion_readiness TO trizone_experiment;
GRANT USAGE ON SCHEMA quarantine TO trizone_experiment;
GRANT SELECT ON quarantine.blacklist TO trizone_experiment;

-- Gate
GRANT USAGE ON SCHEMA experiments_v1, production, quarantine TO trizone_gate;
GRANT SELECT ON ALL TABLES IN SCHEMA experiments_v1 TO trizone_gate;
GRANT UPDATE (status) ON experiments_v1.experiments TO trizone_gate;
GRANT UPDATE (judged_at) ON experiments_v1.evaluation_runs TO trizone_gate;
GRANT UPDATE ON experiments_v1.gate_thresholds TO trizone_gate;
GRANT SELECT ON ALL TABLES IN SCHEMA production TO trizone_gate;
GRANT INSERT, UPDATE ON production.deployments, production.active_deployment TO trizone_gate;
GRANT SELECT ON ALL TABLES IN SCHEMA quarantine TO trizone_gate;
GRANT INSERT, UPDATE ON quarantine.quarantine_records TO trizone_gate;
-- Blacklisting is permanent: insert, never update or delete.
GRANT INSERT ON quarantine.blacklist TO trizone_gate;

-- V2 stable
GRANT USAGE ON SCHEMA production TO trizone_stable;
GRANT SELECT ON production.deployments, production.active_deployment TO trizone_stable;
GRANT SELECT, INSERT ON production.code_reviews, production.review_feedback TO trizone_stable;
GRANT SELECT, INSERT, UPDATE ON production.slo_metrics TO trizone_stable;

-- V3 quarantine
GRANT USAGE ON SCHEMA quarantine TO trizone_quarantine;
GRANT SELECT ON ALL TABLES IN SCHEMA quarantine TO trizone_quarantine;

-- Audit: appended through the function only, read by every zone.
GRANT USAGE ON SCHEMA audit TO trizone_experiment, trizone_gate, trizone_stable, trizone_quarantine;
GRANT SELECT ON audit.event_log TO trizone_experiment, trizone_gate, trizone_stable, trizone_quarantine;
GRANT EXECUTE ON FUNCTION audit.append_event(text, text, text, jsonb)
    TO trizone_experiment, trizone_gate, trizone_stable;
