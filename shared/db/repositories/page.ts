/**
 * Keyset pagination, newest first, for every tenant list: order by (created_at, id) descending; the cursor is the
 * last item's id (base64url), and the next page starts strictly after that row. Exact even when rows share a
 * created_at, and stable while rows are added (new ones appear on the first page, not as duplicates).
 */
import { and, desc, eq, type SQL, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import { InputError } from "../../errors.ts";
import { isUuid } from "../tenant_scope.ts";

export interface PageRequest {
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last. */
  nextCursor: string | null;
}

export interface KeysetColumns {
  table: PgTable;
  id: PgColumn;
  tenantId: PgColumn;
  createdAt: PgColumn;
}

export function encodeCursor(id: string): string {
  return btoa(id).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

export function decodeCursor(cursor: string): string {
  let id = "";
  try {
    id = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    // falls through to the error below
  }
  if (!isUuid(id)) {
    throw new InputError(
      `Cannot read cursor as it must be a next_cursor returned by this list: current value is '${cursor}'`,
    );
  }
  return id;
}

/** WHERE fragment "after the cursor row" (within the same tenant), or undefined for the first page. */
export function afterCursor(
  cols: KeysetColumns,
  tenantId: string,
  cursor: string | undefined,
): SQL | undefined {
  if (cursor === undefined) return undefined;
  const id = decodeCursor(cursor);
  return sql`(${cols.createdAt}, ${cols.id}) < (SELECT ${cols.createdAt}, ${cols.id} FROM ${cols.table} WHERE ${
    and(eq(cols.id, id), eq(cols.tenantId, tenantId))
  })`;
}

export function newestFirst(cols: KeysetColumns): SQL[] {
  return [desc(cols.createdAt), desc(cols.id)];
}

/** Rows fetched with limit + 1 → the page and its next cursor. */
export function toPage<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? encodeCursor(items[items.length - 1].id) : null };
}
