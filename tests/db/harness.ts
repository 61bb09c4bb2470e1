/**
 * Fresh databases for tests, on both engines.
 *
 * - PGlite: a new in-memory instance per test, restored from a data directory migrated once per test file.
 * - Postgres (when TEST_DATABASE_URL is set): a new database `profs_t_<random>` per test on that server,
 *   dropped afterwards, so test files running in parallel never see each other's rows. The URL's role needs
 *   CREATEDB (CI connects as postgres).
 *
 * `engineTests(name, fn)` registers one Deno.test per engine; the Postgres one is ignored, visibly, without a
 * server.
 */
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { type Database, openDatabase } from "../../shared/db/index.ts";
import { wrapPglite } from "../../shared/db/connection.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";

export type Engine = "pglite" | "postgres";
export const ENGINES: Engine[] = ["pglite", "postgres"];

export interface TestDatabase extends Database {
  /** Open another pool on the same database (Postgres) — or null on PGlite, which belongs to one handle. */
  url: string | null;
}

export async function freshDatabase(
  engine: Engine,
  options: { migrate?: boolean; maxConnections?: number } = {},
): Promise<TestDatabase> {
  if (engine === "pglite") {
    if (options.migrate === false) {
      return { ...await openDatabase({ dataDir: "memory://", migrate: false }), url: null };
    }
    // Restoring a migrated data directory is several times faster than migrating each new instance.
    const client = await PGlite.create({ loadDataDir: await migratedPgliteImage() });
    return { ...wrapPglite(client), url: null };
  }
  const url = await createServerDatabase();
  const database = await openDatabase({
    url,
    migrate: options.migrate,
    maxConnections: options.maxConnections,
  });
  return {
    ...database,
    url,
    close: async () => {
      await database.close();
      await dropServerDatabase(url);
    },
  };
}

let pgliteImage: Promise<Blob> | undefined;

function migratedPgliteImage(): Promise<Blob> {
  return pgliteImage ??= (async () => {
    const database = await openDatabase({ dataDir: "memory://" });
    try {
      return await (database.db as unknown as { $client: PGlite }).$client.dumpDataDir("none");
    } finally {
      await database.close();
    }
  })();
}

/** A new empty database on the TEST_DATABASE_URL server; returns its URL. */
export async function createServerDatabase(): Promise<string> {
  const name = `profs_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(testDatabaseUrl!, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(testDatabaseUrl!);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropServerDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = postgres(testDatabaseUrl!, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** One test per engine, each with its own fresh, migrated database. */
export function engineTests(
  name: string,
  fn: (database: TestDatabase, engine: Engine) => Promise<void>,
  options: { maxConnections?: number } = {},
): void {
  for (const engine of ENGINES) {
    Deno.test({
      name: `${name} [${engine}]`,
      ignore: engine === "postgres" && noPostgres(),
      async fn() {
        const database = await freshDatabase(engine, options);
        try {
          await fn(database, engine);
        } finally {
          await database.close();
        }
      },
    });
  }
}
