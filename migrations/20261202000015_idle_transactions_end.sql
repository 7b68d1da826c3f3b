-- A transaction left idle holds its connection and its locks: sixteen
-- trickling dataset uploads once held all of V1's pool. Each zone's role
-- ends a transaction idle for a minute, whatever client opened it (the
-- services never leave one idle that long between statements).
--
-- Role settings are cluster-wide: databases migrating at once (every test
-- has its own) update the same catalog row, and one of them fails with
-- "tuple concurrently updated". As in the first migration, a failed
-- setting is accepted only when the setting is there. (This file was
-- amended so; `trizone_store::migrate` accepts its first version.)
DO $idle$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['trizone_experiment', 'trizone_gate', 'trizone_stable', 'trizone_quarantine'] LOOP
        BEGIN
            EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', r, '60s');
        EXCEPTION WHEN OTHERS THEN
            IF NOT EXISTS (
                SELECT 1
                FROM pg_catalog.pg_db_role_setting s
                JOIN pg_catalog.pg_roles o ON o.oid = s.setrole
                WHERE o.rolname = r
                  AND s.setdatabase = 0
                  AND 'idle_in_transaction_session_timeout=60s' = ANY (s.setconfig)
            ) THEN
                RAISE;
            END IF;
        END;
    END LOOP;
END
$idle$;
