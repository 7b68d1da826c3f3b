-- Every zone may verify the audit chain, which needs its head (V3 shows
-- whether the chain of a record's events verifies).
GRANT SELECT ON audit.chain_head
    TO trizone_experiment, trizone_gate, trizone_stable, trizone_quarantine;
