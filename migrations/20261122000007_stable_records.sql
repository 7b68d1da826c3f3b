-- V2 writes its records in batches off the request path and retries a batch
-- whose commit it could not confirm. A key chosen by V2 makes that retry a
-- no-op instead of a duplicate: reviews already have one (their id);
-- feedback gets one here.
ALTER TABLE production.review_feedback
    ADD COLUMN feedback_id uuid NOT NULL UNIQUE DEFAULT gen_random_uuid();
