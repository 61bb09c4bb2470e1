/**
 * drizzle-kit configuration (run by Node: `deno task db:generate` → `drizzle-kit generate`). It diffs
 * shared/db/schema.ts against the snapshots in infra/migrations/meta/ and writes the next SQL migration there.
 * Hand-written SQL (row-level security) goes in `drizzle-kit generate --custom` migrations.
 */
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./shared/db/schema.ts",
  out: "./infra/migrations",
});
