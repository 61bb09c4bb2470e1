/**
 * `profs migrate`: apply pending migrations (infra/migrations/) to the service database and exit. Safe to run
 * while other processes start or run: migrations take an advisory lock (shared/db/migrate.ts). API and worker
 * processes also migrate on start-up; this command is for deploy pipelines that migrate first.
 */
import { parseArgs } from "node:util";
import { applyMigrations, openDatabase } from "../../shared/db/index.ts";

export const USAGE = `usage: profs migrate

Applies pending migrations to DATABASE_URL (a Postgres server) or, when unset, to the embedded PGlite database
in PROFS_DATA_DIR (default .data), and prints what it applied.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { help: { type: "boolean", short: "h" } }, strict: true });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const database = await openDatabase({ migrate: false });
  try {
    const report = await applyMigrations(database.db);
    const target = database.kind === "postgres" ? "Postgres server" : "embedded PGlite";
    console.log(
      report.applied.length
        ? `applied ${report.applied.length} migration(s) to the ${target}: ${report.applied.join(", ")}`
        : `the ${target} is up to date (${report.total} migrations)`,
    );
  } finally {
    await database.close();
  }
}
