/**
 * Deleting a model or dataset and queueing a job on it, serialised on the object's row: a delete takes the row
 * `FOR UPDATE` and refuses while a queued or running job uses the object; a job is inserted in a transaction that
 * holds the row `FOR SHARE` (`lockForJob`). Whichever comes second waits for the first to commit: a job queued
 * first makes the delete refuse, a delete first makes the job find no object. Never both a delete and a job.
 */
import { and, eq, inArray, ne, or, sql } from "drizzle-orm";
import { CHECK_DATASETS } from "../../contracts/checks.ts";
import type { Db } from "../database.ts";
import { type Dataset, datasets, jobs, type Model, models } from "../schema.ts";
import { inTenantScope, isUuid } from "../tenant_scope.ts";

export type UsedObject = "model" | "dataset";

/** A queued or running job that needs the object. */
export interface InUseBy {
  id: string;
  kind: string;
}

type Row<W extends UsedObject> = W extends "model" ? Model : Dataset;

/** The object's row locked with `strength` (drizzle cannot select from a union of tables, hence two branches). */
async function lockRow<W extends UsedObject>(
  tx: Db,
  tenantId: string,
  what: W,
  id: string,
  strength: "share" | "update",
): Promise<Row<W> | null> {
  const [row] = what === "model"
    ? await tx.select().from(models).where(and(eq(models.tenantId, tenantId), eq(models.id, id))).for(
      strength,
    )
    : await tx.select().from(datasets).where(and(eq(datasets.tenantId, tenantId), eq(datasets.id, id)))
      .for(strength);
  return (row ?? null) as Row<W> | null;
}

/**
 * The object's row, locked `FOR SHARE` until `tx` commits (a concurrent `deleteUnlessInUse` waits); null when the
 * tenant has no such object (or it was deleted before the lock). Call it in the transaction that inserts the job.
 */
export async function lockForJob<W extends UsedObject>(
  tx: Db,
  tenantId: string,
  what: W,
  id: string,
): Promise<Row<W> | null> {
  if (!isUuid(id)) return null;
  return await inTenantScope(tx, tenantId, (scoped) => lockRow(scoped, tenantId, what, id, "share"));
}

/**
 * Deletes the object's row unless a queued or running job uses it (a finished job keeps its results, so it does
 * not block): the deleted row, `{ busy }` naming such a job, or null when the tenant has no such object. The
 * caller removes the blobs after it returns the row.
 */
export function deleteUnlessInUse<W extends UsedObject>(
  db: Db,
  tenantId: string,
  what: W,
  id: string,
  /** a job that does not count (a model's own import, which the caller has just asked to cancel) */
  except?: string,
): Promise<{ deleted: Row<W> } | { busy: InUseBy } | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const row = await lockRow(tx, tenantId, what, id, "update");
    if (!row) return null;
    // A dataset is an edit's `dataset_id`, or a check's texts named in its params.
    const uses = what === "model" ? eq(jobs.modelId, id) : or(
      eq(jobs.datasetId, id),
      ...Object.keys(CHECK_DATASETS).map((key) => sql`${jobs.params}->>${key} = ${id}`),
    );
    const [busy] = await tx.select({ id: jobs.id, kind: jobs.kind }).from(jobs).where(and(
      eq(jobs.tenantId, tenantId),
      uses,
      inArray(jobs.status, ["queued", "running"]),
      except === undefined ? undefined : ne(jobs.id, except),
    )).limit(1);
    if (busy) return { busy };
    if (what === "model") {
      await tx.delete(models).where(and(eq(models.tenantId, tenantId), eq(models.id, id)));
    } else await tx.delete(datasets).where(and(eq(datasets.tenantId, tenantId), eq(datasets.id, id)));
    return { deleted: row };
  });
}
