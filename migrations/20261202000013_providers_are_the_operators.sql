-- Configurations no longer carry an endpoint (`base_url`): each model names
-- one of the operator's providers, so a provider's key only ever goes to the
-- host the operator configured for it.
--
-- A stored configuration that named an endpoint keeps its fingerprint, its
-- evidence and its history, and now names the provider
-- `legacy-<api>-<endpoint>` (`legacy-openai-127-0-0-1-8090-v1`). No service
-- offers that provider until the operator lists it with that endpoint and a
-- key: until then V1 refuses to run it and V2 answers its reviews with a
-- configuration error, and no request goes anywhere it did not go before.

CREATE FUNCTION pg_temp.named_provider(model jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN model ? 'base_url' THEN
            (model - 'base_url') || jsonb_build_object('provider', rtrim(left(
                'legacy-' || (model ->> 'provider') || '-' || trim(BOTH '-' FROM regexp_replace(
                    lower(regexp_replace(model ->> 'base_url', '^[A-Za-z][A-Za-z0-9+.-]*://', '')),
                    '[^a-z0-9]+', '-', 'g')),
                63), '-'))
        ELSE model
    END
$$;

CREATE FUNCTION pg_temp.named_providers(configuration jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN configuration #> '{models,secondary}' IS NULL THEN c
        ELSE jsonb_set(c, '{models,secondary}',
                       pg_temp.named_provider(configuration #> '{models,secondary}'))
    END
    FROM (SELECT jsonb_set(configuration, '{models,primary}',
                           pg_temp.named_provider(configuration #> '{models,primary}')) AS c) AS primary_named
$$;

CREATE FUNCTION pg_temp.names_an_endpoint(configuration jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(configuration #> '{models,primary}' ? 'base_url', false)
        OR coalesce(configuration #> '{models,secondary}' ? 'base_url', false)
$$;

UPDATE experiments_v1.experiments
SET configuration = pg_temp.named_providers(configuration)
WHERE pg_temp.names_an_endpoint(configuration);

UPDATE production.deployments
SET configuration = pg_temp.named_providers(configuration)
WHERE pg_temp.names_an_endpoint(configuration);

UPDATE quarantine.quarantine_records
SET configuration = pg_temp.named_providers(configuration)
WHERE pg_temp.names_an_endpoint(configuration);
