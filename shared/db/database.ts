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

export type Unlisten = () => Promise<void>;

export interface Database {
  db: Db;
  kind: DatabaseKind;
  /**
   * LISTEN on `channel`: `onPayload` gets the payload of each NOTIFY on it (Postgres delivers one when its
   * transaction commits), and `onListening` runs each time the LISTEN is in place — once, and again after the
   * listening connection was lost and re-established (postgres.js does that by itself), when notifications may
   * have been missed, so a caller resynchronises there. Resolves once listening; the function it returns stops.
   * PGlite delivers its own notifications in-process, during the statement that commits.
   */
  listen(channel: string, onPayload: (payload: string) => void, onListening: () => void): Promise<Unlisten>;
  /** Ends the pool (postgres.js) or closes the embedded engine (PGlite). Idempotent. */
  close(): Promise<void>;
}
