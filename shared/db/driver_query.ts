/**
 * One statement sent straight to the driver (PGlite or postgres.js) instead of through Drizzle's query builder,
 * for the few reads that run on every poll of a job. Measured on the 2-core development VM, Drizzle's
 * per-statement work (building and mapping the query; on postgres.js, `unsafe` without server-side preparation)
 * was about as large as the statement itself. On postgres.js the statement is prepared once per connection and
 * then only bound and executed.
 *
 * Callers write plain SQL with `$1, $2, …` placeholders and map the row themselves, so keep this to a handful of
 * statements with their own tests. Given a transaction, the statement runs in it (through Drizzle), so a caller's
 * transaction still sees it.
 */
import { PGlite } from "@electric-sql/pglite";
import { type SQL, sql } from "drizzle-orm";
import type { Db } from "./database.ts";
import { isTransaction } from "./tenant_scope.ts";

type Row = Record<string, unknown>;

interface PostgresJsClient {
  unsafe(text: string, params: unknown[], options: { prepare: boolean }): Promise<Row[]>;
}

/** The first column of the statement's first row, or undefined when it returns no row. */
export async function queryFirstValue(db: Db, text: string, params: string[]): Promise<unknown> {
  const rows = await queryRows(db, text, params);
  const row = rows[0];
  return row === undefined ? undefined : Object.values(row)[0];
}

async function queryRows(db: Db, text: string, params: string[]): Promise<Row[]> {
  const client = isTransaction(db) ? undefined : (db as { $client?: unknown }).$client;
  if (client instanceof PGlite) return (await client.query<Row>(text, params)).rows;
  if (isPostgresJs(client)) return await client.unsafe(text, params, { prepare: true });
  // A transaction (or a driver this module does not know): the same statement through Drizzle.
  const result: unknown = await db.execute(withParams(text, params));
  // postgres.js answers with the rows (an array), PGlite with a result object that holds them.
  return Array.isArray(result) ? result : (result as { rows: Row[] }).rows;
}

function isPostgresJs(client: unknown): client is PostgresJsClient {
  return typeof client === "function" && typeof (client as Partial<PostgresJsClient>).unsafe === "function";
}

/** `$n` placeholders → Drizzle's parameter chunks, so the fallback binds the same values the same way. */
function withParams(text: string, params: string[]): SQL {
  const parts = text.split(/\$(\d+)/);
  const query = sql.empty();
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) query.append(sql.raw(parts[i]));
    else {
      const index = Number(parts[i]) - 1;
      if (!(index in params)) throw new Error(`queryFirstValue: $${parts[i]} has no parameter in: ${text}`);
      query.append(sql`${params[index]}`);
    }
  }
  return query;
}
