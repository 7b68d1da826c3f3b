-- A blacklisted configuration must never be served again. Blacklisting
-- moves every experiment of it to `blacklisted`, including one V2 served
-- before and no longer serves (still `promoted`); rollbacks skip every
-- deployment of a blacklisted configuration (trizone_store::production).
INSERT INTO experiments_v1.status_transitions (from_status, to_status, mover)
VALUES ('promoted', 'blacklisted', 'gate');
