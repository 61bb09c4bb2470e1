/**
 * One connection factory for the whole service.
 *
 * `DATABASE_URL` (or `url`) → a postgres.js pool on a Postgres server, shared by any number of API and worker
 * processes. Otherwise → PGlite, embedded, persisted in `<PROFS_DATA_DIR or .data>/db` (or in memory for
 * `dataDir: "memory://"`); PGlite belongs to one process (a lock file enforces it), so the embedded service runs
 * its worker in-process.
 * Migrations are applied on open (under an advisory lock, see migrate.ts) unless `migrate: false`.
 *
 * PGlite's memory is the embedded service's: it runs with 16 MB of shared buffers instead of the 128 MB initdb
 * writes (Postgres touches all of them at start, ~120 MB of resident memory for a database of a few MB), and
 * a new data directory is created in a thread that ends once it is done (pglite_init_thread.ts), so initdb's
 * WebAssembly memory goes with it instead of staying resident in the server.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import { InputError } from "../errors.ts";
import * as schema from "./schema.ts";
import type { Database, Db } from "./database.ts";
import { applyMigrations } from "./migrate.ts";

export interface OpenDatabaseOptions {
  /** Postgres connection URL; default `DATABASE_URL`. */
  url?: string;
  /** Embedded data directory (PGlite lives in `<dataDir>/db`), or "memory://"; default `PROFS_DATA_DIR` or `.data`. */
  dataDir?: string;
  /** Pool size for a Postgres server (postgres.js `max`); default 10. */
  maxConnections?: number;
  /** Apply pending migrations before returning; default true. */
  migrate?: boolean;
}

export const MEMORY_DATA_DIR = "memory://";

/**
 * Opens the service database. An explicit `url` or `dataDir` wins over the environment, so tests can ask for an
 * embedded database while `DATABASE_URL` is set.
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Database> {
  const url = options.url ?? (options.dataDir === undefined ? env("DATABASE_URL") : undefined);
  const database = url ? openPostgres(url, options.maxConnections ?? 10) : await openPglite(
    options.dataDir ?? env("PROFS_DATA_DIR") ?? ".data",
  );
  if (options.migrate ?? true) {
    try {
      await applyMigrations(database.db);
    } catch (error) {
      await database.close();
      throw error;
    }
  }
  return database;
}

function openPostgres(url: string, max: number): Database {
  // Notices (e.g. "role already granted") are not errors and would otherwise print on stdout.
  const client = postgres(url, { max, onnotice: () => {} });
  const db = drizzlePostgres({ client, schema }) as unknown as Db;
  return {
    db,
    kind: "postgres",
    // postgres.js keeps one connection for all of a pool's LISTENs, re-listens after losing it (calling
    // `onlisten` again) and closes it with the pool.
    listen: async (channel, onPayload, onListening) =>
      (await client.listen(channel, onPayload, onListening)).unlisten,
    close: once(() => client.end({ timeout: 5 })),
  };
}

/** PGlite's own start parameters plus the embedded service's settings (see the header). */
export const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, "-c", "shared_buffers=16MB"];

async function openPglite(dataDir: string): Promise<Database> {
  if (dataDir.startsWith(MEMORY_DATA_DIR)) {
    return wrapPglite(await PGlite.create(MEMORY_DATA_DIR, { startParams: PGLITE_START_PARAMS }));
  }
  const dir = join(dataDir, "db");
  await mkdir(dir, { recursive: true });
  const lock = await lockDataDir(dir);
  try {
    if (!await exists(join(dir, "PG_VERSION"))) await initPgliteDir(dir);
    const database = wrapPglite(await PGlite.create(dir, { startParams: PGLITE_START_PARAMS }));
    return { ...database, close: once(() => database.close().finally(() => lock.close())) };
  } catch (error) {
    lock.close();
    throw error;
  }
}

/** Runs initdb for a new data directory in a thread of its own (pglite_init_thread.ts), which then ends. */
async function initPgliteDir(dir: string): Promise<void> {
  const thread = new Worker(new URL("./pglite_init_thread.ts", import.meta.url), { type: "module" });
  try {
    const answer = await new Promise<{ ok: boolean; message?: string }>((resolve, reject) => {
      thread.onmessage = (event) => resolve(event.data);
      thread.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`the embedded database's initialisation thread crashed: ${event.message}`));
      };
      thread.postMessage({ dir, startParams: PGLITE_START_PARAMS });
    });
    if (!answer.ok) throw new Error(`Cannot create the embedded database in ${dir}: ${answer.message}`);
  } finally {
    thread.terminate();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/**
 * PGlite does not guard its files: a second process (or a second instance in this one) writing the same data
 * directory would corrupt it. An exclusive advisory lock on `<dir>.lock` makes that an error instead; the
 * kernel drops the lock when its holder dies, even by SIGKILL, so a crash never leaves the directory locked.
 */
async function lockDataDir(dir: string): Promise<Deno.FsFile> {
  const file = await Deno.open(`${dir}.lock`, { create: true, write: true });
  if (await file.tryLock(true)) return file;
  file.close();
  throw new InputError(
    `Cannot open the embedded database in ${dir} as it must not be open elsewhere: another profs process ` +
      "(e.g. 'profs serve') holds it. Stop that process, or use a Postgres server via DATABASE_URL",
  );
}

/** A Database over an already created PGlite (e.g. one restored with `loadDataDir` in tests). */
export function wrapPglite(client: PGlite): Database {
  const db = drizzlePglite({ client, schema }) as unknown as Db;
  return {
    db,
    kind: "pglite",
    listen: async (channel, onPayload, onListening) => {
      const unlisten = await client.listen(channel, onPayload);
      onListening();
      return unlisten;
    },
    close: once(() => client.close()),
  };
}

function env(name: string): string | undefined {
  return Deno.env.get(name) || undefined;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => closing ??= fn();
}
