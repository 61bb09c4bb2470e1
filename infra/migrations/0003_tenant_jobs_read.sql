-- One tenant's jobs, each with its artifacts, in one statement read under row-level security: the API's most
-- frequent read (GET /v1/edits/{id}, which clients poll) in one round trip instead of up to eight (two
-- transactions of BEGIN, set_config, a select and COMMIT: the job, then its artifacts), and polls of different
-- jobs that arrive together answered by one call (api/read_batcher.ts).
--
-- The function first does what inTenantScope (shared/db/tenant_scope.ts) does — switches the transaction to the
-- role profs_tenant and sets profs.tenant_id, both transaction-local — and only then runs its query, which is
-- planned after the switch, so the policies of 0001_row_level_security apply to it exactly as to a scoped
-- repository call. The WHERE tenant_id = p_tenant is the first boundary, the policies the second. It is
-- SECURITY INVOKER (the default): it can read no more than the caller could after the switch. As with
-- inTenantScope, the rest of the caller's transaction stays scoped; called on its own (autocommit), the scope
-- ends with the statement. PL/pgSQL plans the query once per session, not once per call.
-- The result is JSON text: [{"job": row_to_json(jobs row), "artifacts": [row_to_json(artifacts row), …]}, …]
-- for the ids the tenant owns (in no particular order; unknown and other tenants' ids are left out).
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
