-- A transaction left idle holds its connection and its locks: sixteen
-- trickling dataset uploads once held all of V1's pool. Each zone's role
-- ends a transaction idle for a minute, whatever client opened it (the
-- services never leave one idle that long between statements).
ALTER ROLE trizone_experiment SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE trizone_gate SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE trizone_stable SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE trizone_quarantine SET idle_in_transaction_session_timeout = '60s';
