-- Reviews arrive in time order with time-ordered (v7) ids. An ascending
-- index on (deployment_id, created_at) takes each new review at the right
-- edge of its deployment's range, as the primary key now does for the
-- whole table: inserts stay on a few hot pages, and at the index's
-- rightmost page PostgreSQL's fast path skips the descent. The descending
-- index put every new review at the left edge of its range instead.
-- Queries that read the newest first scan it backwards.
DROP INDEX production.code_reviews_deployment;
CREATE INDEX code_reviews_deployment ON production.code_reviews (deployment_id, created_at);
