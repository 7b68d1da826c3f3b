-- Reviews arrive in time order with time-ordered (v7) ids. An ascending
-- index on (deployment_id, created_at) takes each new review at the right
-- edge of its deployment's range, where PostgreSQL's fast path for
-- rightmost inserts skips the descent; the descending one put every insert
-- at the left edge and split pages in half. Queries that read the newest
-- first scan it backwards.
DROP INDEX production.code_reviews_deployment;
CREATE INDEX code_reviews_deployment ON production.code_reviews (deployment_id, created_at);
