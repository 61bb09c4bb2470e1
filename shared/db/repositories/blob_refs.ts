/**
 * Which blob keys the database owns, across every tenant, for the blob janitor (infra/janitor.ts). Runs as the
 * connecting role (no tenant scope): the janitor is the service's own maintenance, not a tenant's request.
 */
import { inArray } from "drizzle-orm";
import type { Db } from "../database.ts";
import { artifacts, datasets, embeddingCache, jobs, modelFiles } from "../schema.ts";
import { isUuid } from "../tenant_scope.ts";

/** Of `keys`, those a row records: a model file (any status), a dataset, an artifact or a cached embedding. */
export async function referencedBlobKeys(db: Db, keys: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  if (keys.length === 0) return found;
  const owners = [
    db.select({ key: modelFiles.blobKey }).from(modelFiles).where(inArray(modelFiles.blobKey, keys)),
    db.select({ key: datasets.blobKey }).from(datasets).where(inArray(datasets.blobKey, keys)),
    db.select({ key: artifacts.blobKey }).from(artifacts).where(inArray(artifacts.blobKey, keys)),
    db.select({ key: embeddingCache.blobKey }).from(embeddingCache).where(
      inArray(embeddingCache.blobKey, keys),
    ),
  ];
  for (const rows of await Promise.all(owners)) for (const row of rows) found.add(row.key);
  return found;
}

/** Of `ids`, the jobs still queued or running: their attempts may be writing under the job's prefix. */
export async function unfinishedJobIds(db: Db, ids: string[]): Promise<Set<string>> {
  const valid = ids.filter(isUuid);
  if (valid.length === 0) return new Set();
  const rows = await db.select({ id: jobs.id, status: jobs.status }).from(jobs).where(
    inArray(jobs.id, valid),
  );
  return new Set(rows.filter((r) => r.status === "queued" || r.status === "running").map((r) => r.id));
}
