-- The job change feed: every committed change to a job — its row, its artifacts, its events — sends
-- NOTIFY profs_job_changes with the job's id as payload. Postgres delivers a notification only when its
-- transaction commits (never for a rolled-back one), after the change is visible to other sessions, and folds
-- duplicates within a transaction, so a transaction that updates a job and appends its event sends one.
-- Listeners (shared/db/job_changes.ts): the API drops its cached view of the job (api/change_cache.ts) and wakes
-- the job's open event streams, instead of re-reading on every poll.
CREATE FUNCTION profs_notify_job_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed record;
BEGIN
  IF TG_OP = 'DELETE' THEN changed := OLD; ELSE changed := NEW; END IF;
  -- Each branch names only its own table's column (PL/pgSQL resolves a record's fields when it runs them).
  IF TG_TABLE_NAME = 'jobs' THEN
    PERFORM pg_notify('profs_job_changes', changed.id::text);
  ELSE
    PERFORM pg_notify('profs_job_changes', changed.job_id::text);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER jobs_notify_change AFTER INSERT OR UPDATE OR DELETE ON jobs
  FOR EACH ROW EXECUTE FUNCTION profs_notify_job_change();
--> statement-breakpoint
CREATE TRIGGER artifacts_notify_change AFTER INSERT OR UPDATE OR DELETE ON artifacts
  FOR EACH ROW EXECUTE FUNCTION profs_notify_job_change();
--> statement-breakpoint
CREATE TRIGGER job_events_notify_change AFTER INSERT OR UPDATE OR DELETE ON job_events
  FOR EACH ROW EXECUTE FUNCTION profs_notify_job_change();
