/**
 * The database handle types shared by every module of shared/db.
 *
 * `Db` is a Drizzle database on either driver (PGlite or postgres.js) or a transaction of one: repository and
 * queue functions take it, so a caller can run them inside its own transaction (enqueue in the same transaction
 * as the domain write).
 */
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type * as schema from "./schema.ts";

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;

/** Which engine a Database runs on: embedded PGlite (one process) or a Postgres server (shared). */
export type DatabaseKind = "pglite" | "postgres";

export interface Database {
  db: Db;
  kind: DatabaseKind;
  /** Ends the pool (postgres.js) or closes the embedded engine (PGlite). Idempotent. */
  close(): Promise<void>;
}
