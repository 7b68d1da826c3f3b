-- A case's result keeps what an experimenter needs to see why it went
-- wrong: the model's answer as it came (its first 4,000 characters) and,
-- for a failed review, the error's message. Older cases have neither: NULL.
ALTER TABLE experiments_v1.code_analyses
    ADD COLUMN answer text CHECK (char_length(answer) <= 4000),
    ADD COLUMN error_message text CHECK (char_length(error_message) <= 2000);
