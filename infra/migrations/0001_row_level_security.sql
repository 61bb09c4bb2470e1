-- Row-level security: the second tenant boundary, behind the repositories' WHERE tenant_id = ….
--
-- Tenant-scoped repository calls run in a transaction that switches to the role profs_tenant and sets
-- profs.tenant_id (shared/db/tenant_scope.ts); the policies below then hide every other tenant's rows even if a
-- query forgets its filter. The connecting role (table owner or superuser, which also runs these migrations)
-- bypasses RLS: the queue, the reaper, API-key lookup and trigger lookup run as it and work across tenants.
-- PGlite connects as a superuser, so there too only the switch to profs_tenant makes the policies apply.
-- A new tenant table needs the same three statements (enable, policy, grant) in its migration.
-- Creating and granting the role needs a superuser or CREATEROLE; otherwise an administrator runs, once:
--   CREATE ROLE profs_tenant NOLOGIN; GRANT profs_tenant TO <the service's role>;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'profs_tenant') THEN
    BEGIN
      CREATE ROLE profs_tenant NOLOGIN;
    EXCEPTION
      WHEN duplicate_object OR unique_violation THEN
        NULL; -- created concurrently by a migration of another database on the same server
      WHEN insufficient_privilege THEN
        RAISE EXCEPTION 'Cannot create the role profs_tenant as the role % must have CREATEROLE', current_user
          USING HINT = format('As an administrator: CREATE ROLE profs_tenant NOLOGIN; GRANT profs_tenant TO %I;', current_user);
    END;
  END IF;
  IF NOT pg_has_role(current_user, 'profs_tenant', 'MEMBER') THEN
    BEGIN
      EXECUTE format('GRANT profs_tenant TO %I', current_user);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE EXCEPTION 'Cannot use the role profs_tenant as it must be granted to the role %', current_user
        USING HINT = format('As an administrator: GRANT profs_tenant TO %I;', current_user);
    END;
  END IF;
END
$$;--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO profs_tenant;--> statement-breakpoint
ALTER TABLE "tenants" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "tenants" TO profs_tenant
  USING ("id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT ON "tenants" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "api_keys" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "api_keys" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "api_keys" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "models" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "models" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "models" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "model_files" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "model_files" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "model_files" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "datasets" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "datasets" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "datasets" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "jobs" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "jobs" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "jobs" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "job_events" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "job_events" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "job_events" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "artifacts" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "artifacts" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "artifacts" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "embedding_cache" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "embedding_cache" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "embedding_cache" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "idempotency_keys" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "idempotency_keys" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "idempotency_keys" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "webhook_endpoints" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "webhook_endpoints" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "webhook_endpoints" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "webhook_deliveries" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "webhook_deliveries" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "webhook_delivery_attempts" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "webhook_delivery_attempts" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "webhook_delivery_attempts" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "triggers" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "triggers" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "triggers" TO profs_tenant;--> statement-breakpoint
ALTER TABLE "inbound_webhooks" ENABLE ROW LEVEL SECURITY;--> statement-breakpoint
CREATE POLICY "tenant_isolation" ON "inbound_webhooks" TO profs_tenant
  USING ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid)
  WITH CHECK ("tenant_id" = nullif(current_setting('profs.tenant_id', true), '')::uuid);--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON "inbound_webhooks" TO profs_tenant;--> statement-breakpoint
GRANT USAGE ON SEQUENCE "job_events_id_seq", "webhook_delivery_attempts_id_seq" TO profs_tenant;
