-- Schemas, one per zone, and one login role per binary.
--
-- Roles are cluster-wide while databases are many (every test gets its own),
-- so two migrations may try to create the same role at once. Advisory locks
-- cannot serialise that: they are scoped to one database. Instead each
-- CREATE ROLE runs in its own sub-block and a concurrent creator's
-- duplicate/unique error is taken as "someone else created it".
--
-- Roles are created without passwords; operators set them (ALTER ROLE ...
-- PASSWORD) from their secret store. Local clusters use trust auth.

DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['trizone_experiment', 'trizone_gate', 'trizone_stable', 'trizone_quarantine'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;

    -- V3 is an archive: every transaction of its role is read-only, on top
    -- of it holding no write grant at all.
    IF NOT EXISTS (
        SELECT 1
        FROM pg_catalog.pg_db_role_setting s
        JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
        WHERE r.rolname = 'trizone_quarantine'
          AND s.setdatabase = 0
          AND 'default_transaction_read_only=on' = ANY (s.setconfig)
    ) THEN
        BEGIN
            ALTER ROLE trizone_quarantine SET default_transaction_read_only = on;
        EXCEPTION WHEN OTHERS THEN
            -- A concurrent migration set it in the same instant ("tuple
            -- concurrently updated"); check that it did rather than trust it.
            IF NOT EXISTS (
                SELECT 1
                FROM pg_catalog.pg_db_role_setting s
                JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
                WHERE r.rolname = 'trizone_quarantine'
                  AND 'default_transaction_read_only=on' = ANY (s.setconfig)
            ) THEN
                RAISE;
            END IF;
        END;
    END IF;
END
$roles$;

CREATE SCHEMA IF NOT EXISTS experiments_v1;
CREATE SCHEMA IF NOT EXISTS production;
CREATE SCHEMA IF NOT EXISTS quarantine;
CREATE SCHEMA IF NOT EXISTS audit;

-- Functions are executable by PUBLIC unless revoked; none of ours should be.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
