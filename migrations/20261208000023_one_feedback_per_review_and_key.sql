-- One end user's word on one review counts once: a second feedback on the
-- same review from the same key replaces the first. Before this, one key
-- posted thousands on one review and set its deployment's satisfaction to
-- whatever it wanted. Rows already there keep the latest per key.
DELETE FROM production.review_feedback f
USING production.review_feedback newer
WHERE newer.review_id = f.review_id
  AND newer.author = f.author
  AND (newer.created_at, newer.id) > (f.created_at, f.id);

CREATE UNIQUE INDEX review_feedback_one_per_author
    ON production.review_feedback (review_id, author);

-- V2 replaces what a key said before; it changes nothing else.
GRANT UPDATE (feedback_id, score, comment, created_at)
    ON production.review_feedback TO trizone_stable;
