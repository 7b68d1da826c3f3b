-- The audit trail: append-only, hash-chained, written through one function.
--
-- hash = sha256(prev_hash || canonical row), where the canonical row is the
-- fields below as netstrings ("<byte length>:<text>,"), so no two rows share
-- an encoding. `trizone audit verify` recomputes it independently.

CREATE TABLE audit.chain_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    seq       bigint NOT NULL DEFAULT 0,
    hash      bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
);
INSERT INTO audit.chain_head DEFAULT VALUES;

CREATE TABLE audit.event_log (
    seq         bigint PRIMARY KEY,
    occurred_at timestamptz NOT NULL,
    -- The database role that wrote the row: taken from the session, so an
    -- application cannot claim to be another zone.
    db_role     text NOT NULL,
    -- Who asked, as the application knows them (token id, "scheduler").
    actor       text NOT NULL,
    action      text NOT NULL,
    -- What it is about: a fingerprint, an experiment or deployment id.
    subject     text NOT NULL,
    details     jsonb NOT NULL,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL UNIQUE
);
CREATE INDEX event_log_subject ON audit.event_log (subject, seq);

CREATE FUNCTION audit.netstring(value text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN octet_length(value)::text || ':' || value || ',';

CREATE FUNCTION audit.canonical_row(
    seq bigint, occurred_at timestamptz, db_role text, actor text, action text, subject text, details jsonb
) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN convert_to(
    audit.netstring(seq::text)
    || audit.netstring((extract(epoch FROM occurred_at) * 1000000)::bigint::text)
    || audit.netstring(db_role)
    || audit.netstring(actor)
    || audit.netstring(action)
    || audit.netstring(subject)
    || audit.netstring(details::text),
    'UTF8');

-- Appends one event and returns its sequence number.
--
-- Writers serialise on the chain head row: the UPDATE below waits for any
-- other writer's transaction to end and then, under READ COMMITTED, sees
-- the head that writer left, so the chain never forks. Under REPEATABLE
-- READ or SERIALIZABLE the same UPDATE fails with a serialization error
-- instead of forking; the caller retries.
CREATE FUNCTION audit.append_event(p_actor text, p_action text, p_subject text, p_details jsonb DEFAULT '{}')
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

-- Not even the owner changes history by accident: altering a row takes
-- disabling this trigger first, and the chain still shows it.
CREATE FUNCTION audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit.event_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER event_log_append_only BEFORE UPDATE OR DELETE ON audit.event_log
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER event_log_no_truncate BEFORE TRUNCATE ON audit.event_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
