-- Languages are a closed list (`trizone_core::Language`), in V1's dataset
-- cases as in V2's reviews, so a stored language always reads back as one.
-- V2 has only ever accepted the list. V1 took any text until now: a case
-- stored under another name stops this migration, naming what to fix,
-- rather than failing later, in the middle of someone's run.
DO $$
DECLARE
    unknown text;
BEGIN
    SELECT string_agg(DISTINCT language, ', ') INTO unknown
    FROM experiments_v1.dataset_cases
    WHERE language NOT IN ('c', 'cpp', 'csharp', 'go', 'java', 'javascript', 'kotlin', 'php',
                           'python', 'ruby', 'rust', 'scala', 'shell', 'sql', 'swift', 'typescript');
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'dataset cases use languages trizone does not know: %', unknown
            USING HINT = 'rename them in experiments_v1.dataset_cases to a known language, or delete those datasets, then migrate again';
    END IF;
END
$$;

ALTER TABLE experiments_v1.dataset_cases
    ADD CONSTRAINT dataset_cases_language_known
    CHECK (language IN ('c', 'cpp', 'csharp', 'go', 'java', 'javascript', 'kotlin', 'php',
                        'python', 'ruby', 'rust', 'scala', 'shell', 'sql', 'swift', 'typescript'));

ALTER TABLE production.code_reviews
    ADD CONSTRAINT code_reviews_language_known
    CHECK (language IN ('c', 'cpp', 'csharp', 'go', 'java', 'javascript', 'kotlin', 'php',
                        'python', 'ruby', 'rust', 'scala', 'shell', 'sql', 'swift', 'typescript'));
