-- What the gate promotes must be what was evaluated, and each role may
-- write only what its zone does.
--
-- V1's login could UPDATE any column of an experiment: swapping the prompt
-- and models of a configuration under test put the swap into V2 under the
-- evaluated fingerprint. An experiment's content is now fixed at
-- registration, for every role: changing it takes disabling this trigger,
-- as an owner, on purpose. V1 keeps UPDATE of the status alone.

REVOKE UPDATE, DELETE ON experiments_v1.experiments FROM trizone_experiment;
GRANT UPDATE (status) ON experiments_v1.experiments TO trizone_experiment;

CREATE FUNCTION experiments_v1.refuse_content_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.name, NEW.owner, NEW.description, NEW.configuration, NEW.fingerprint, NEW.prompt_hash,
        NEW.primary_model, NEW.secondary_model, NEW.strategy, NEW.reevaluation_of, NEW.created_at)
       IS DISTINCT FROM
       (OLD.name, OLD.owner, OLD.description, OLD.configuration, OLD.fingerprint, OLD.prompt_hash,
        OLD.primary_model, OLD.secondary_model, OLD.strategy, OLD.reevaluation_of, OLD.created_at) THEN
        RAISE EXCEPTION 'an experiment''s configuration is fixed at registration: register a new one'
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'experiments_content_fixed';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER experiments_content_fixed
    BEFORE UPDATE ON experiments_v1.experiments
    FOR EACH ROW EXECUTE FUNCTION experiments_v1.refuse_content_change();

-- The lifecycle trigger watches status changes only; an experiment V1
-- inserted directly as `promoted` skipped it. V1 registers; every later
-- status is a move the transition table allows.
CREATE FUNCTION experiments_v1.check_registration() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF session_user IN ('trizone_experiment', 'trizone_gate') AND NEW.status <> 'registered' THEN
        RAISE EXCEPTION 'an experiment starts registered, not %', NEW.status
            USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'experiments_start_registered';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER experiments_start_registered
    BEFORE INSERT ON experiments_v1.experiments
    FOR EACH ROW EXECUTE FUNCTION experiments_v1.check_registration();

-- No code updates a quarantine record: V3 is an archive.
REVOKE UPDATE ON quarantine.quarantine_records FROM trizone_gate;

-- Each role appends only its own zone's actions: V1 experiments and runs,
-- the gate its moves. V2 and V3 append nothing.
REVOKE EXECUTE ON FUNCTION audit.append_event(text, text, text, jsonb) FROM trizone_stable;

CREATE OR REPLACE FUNCTION audit.append_event(p_actor text, p_action text, p_subject text, p_details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_seq  bigint;
    v_prev bytea;
    v_at   timestamptz;
    v_hash bytea;
BEGIN
    IF coalesce(p_actor, '') = '' OR coalesce(p_action, '') = '' OR coalesce(p_subject, '') = '' THEN
        RAISE EXCEPTION 'an audit event needs an actor, an action and a subject'
            USING ERRCODE = 'not_null_violation';
    END IF;
    IF (session_user = 'trizone_experiment' AND NOT (p_action LIKE 'experiment.%' OR p_action LIKE 'run.%'))
       OR (session_user = 'trizone_gate' AND p_action NOT LIKE 'gate.%') THEN
        RAISE EXCEPTION '% may not append % events', session_user, p_action
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE audit.chain_head SET seq = seq + 1 WHERE singleton RETURNING seq, hash INTO v_seq, v_prev;
    -- Taken after the lock, so time never runs backwards along the chain.
    v_at := date_trunc('microseconds', clock_timestamp());
    v_hash := sha256(v_prev || audit.canonical_row(v_seq, v_at, session_user, p_actor, p_action, p_subject,
                                                   coalesce(p_details, '{}')));
    INSERT INTO audit.event_log (seq, occurred_at, db_role, actor, action, subject, details, prev_hash, hash)
    VALUES (v_seq, v_at, session_user, p_actor, p_action, p_subject, coalesce(p_details, '{}'), v_prev, v_hash);
    UPDATE audit.chain_head SET hash = v_hash WHERE singleton;
    RETURN v_seq;
END
$$;
