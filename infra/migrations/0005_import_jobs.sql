-- Hub imports (POST /v1/models with a source.hub): the API creates the model and an 'import' job; a worker
-- fetches the repo's files through the Hub's HTTP API into the blob store and finalizes the model.
ALTER TYPE "public"."job_kind" ADD VALUE 'import';
