-- Tunes (POST /v1/tunes): a search for the best edit runs as a 'tune' job; each finished trial is a 'trial' row of
-- job_events, so a retried attempt resumes without repeating one.
ALTER TYPE "public"."job_kind" ADD VALUE 'tune';
