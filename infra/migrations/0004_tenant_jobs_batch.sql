-- profs_tenant_job (0003) reads one job; this reads any number of one tenant's jobs in the same single
-- statement, so the API can answer polls of different jobs that arrive together with one round trip
-- (api/read_batcher.ts). Same scope switch and same two boundaries as 0003 (see there): it first switches the
-- transaction to profs_tenant with profs.tenant_id set, then reads with WHERE tenant_id = p_tenant, so the
-- policies of 0001_row_level_security apply too. SECURITY INVOKER; the plan is cached per session.
-- The result is JSON text: [{"job": row_to_json(jobs row), "artifacts": [row_to_json(artifacts row), …]}, …]
-- for the ids the tenant owns (in no particular order; unknown and other tenants' ids are left out).
DROP FUNCTION profs_tenant_job(uuid, uuid);--> statement-breakpoint
CREATE FUNCTION profs_tenant_jobs(p_tenant uuid, p_jobs uuid[]) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM set_config('role', 'profs_tenant', true), set_config('profs.tenant_id', p_tenant::text, true);
  RETURN (
    SELECT coalesce(json_agg(json_build_object(
      'job', row_to_json(j),
      -- Artifacts are published in the transaction that marks the job succeeded (queue.ts), so only a
      -- succeeded job can have any: the others skip the lookup.
      'artifacts', CASE WHEN j.status = 'succeeded' THEN coalesce(
        (SELECT json_agg(row_to_json(a) ORDER BY a.name) FROM artifacts a
          WHERE a.tenant_id = p_tenant AND a.job_id = j.id),
        '[]'::json
      ) ELSE '[]'::json END
    )), '[]'::json)::text
    FROM jobs j
    WHERE j.tenant_id = p_tenant AND j.id = ANY (p_jobs)
  );
END
$$;
