-- What V2 answered includes why the secondary model answered, when it did
-- (the adaptive strategy's fallback): kept, so reading a review back shows
-- what its POST showed.
ALTER TABLE production.code_reviews ADD COLUMN fallback jsonb;
