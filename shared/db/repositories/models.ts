/**
 * Models and their files, always within one tenant: every call takes the tenant id, filters by it and runs
 * under row-level security for it, so another tenant's id or object finds nothing.
 */
import { and, asc, eq, sql } from "drizzle-orm";
import type { Db } from "../database.ts";
import { type Model, type ModelFile, modelFiles, models } from "../schema.ts";
import { inTenantScope, isUuid } from "../tenant_scope.ts";
import { afterCursor, newestFirst, type Page, type PageRequest, toPage } from "./page.ts";

export interface ModelPatch {
  name?: string;
  status?: Model["status"];
  architecture?: string | null;
  sha256?: string | null;
  summary?: unknown;
}

export interface ModelFileInput {
  filename: string;
  blobKey: string;
  size?: number | null;
  sha256?: string | null;
  status: ModelFile["status"];
}

const keyset = { table: models, id: models.id, tenantId: models.tenantId, createdAt: models.createdAt };

export function createModel(
  db: Db,
  tenantId: string,
  input: { name: string; folderPath?: string | null; status?: Model["status"] },
): Promise<Model> {
  return inTenantScope(db, tenantId, async (tx) => {
    const [model] = await tx.insert(models).values({
      tenantId,
      name: input.name,
      folderPath: input.folderPath ?? null,
      status: input.status ?? "pending",
    }).returning();
    return model;
  });
}

export function getModel(db: Db, tenantId: string, id: string): Promise<Model | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [model] = await tx.select().from(models).where(
      and(eq(models.tenantId, tenantId), eq(models.id, id)),
    );
    return model ?? null;
  });
}

export function listModels(db: Db, tenantId: string, page: PageRequest): Promise<Page<Model>> {
  return inTenantScope(db, tenantId, async (tx) => {
    const rows = await tx.select().from(models)
      .where(and(eq(models.tenantId, tenantId), afterCursor(keyset, tenantId, page.cursor)))
      .orderBy(...newestFirst(keyset)).limit(page.limit + 1);
    return toPage(rows, page.limit);
  });
}

export function updateModel(db: Db, tenantId: string, id: string, patch: ModelPatch): Promise<Model | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [model] = await tx.update(models).set({ ...patch, updatedAt: sql`now()` })
      .where(and(eq(models.tenantId, tenantId), eq(models.id, id))).returning();
    return model ?? null;
  });
}

/**
 * Inserts or replaces the row of one file of a model and puts the model back to `pending` with no summary (its
 * folder changed, so it must be validated again); null when the tenant has no such model. Runs holding the
 * model's row, so it is ordered with `markModelReady`.
 */
export function putModelFile(
  db: Db,
  tenantId: string,
  modelId: string,
  file: ModelFileInput,
): Promise<ModelFile | null> {
  if (!isUuid(modelId)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [owner] = await tx.select({ id: models.id }).from(models)
      .where(and(eq(models.tenantId, tenantId), eq(models.id, modelId))).for("update");
    if (!owner) return null;
    const values = {
      blobKey: file.blobKey,
      size: file.size ?? null,
      sha256: file.sha256 ?? null,
      status: file.status,
    };
    const [row] = await tx.insert(modelFiles).values({
      tenantId,
      modelId,
      filename: file.filename,
      ...values,
    })
      .onConflictDoUpdate({
        target: [modelFiles.modelId, modelFiles.filename],
        set: { ...values, updatedAt: sql`now()` },
      }).returning();
    await tx.update(models).set({ status: "pending", summary: null, updatedAt: sql`now()` })
      .where(and(eq(models.tenantId, tenantId), eq(models.id, modelId)));
    return row;
  });
}

/**
 * Marks an uploaded model ready with `patch` if its complete files are still exactly `validated` (name and
 * sha256): "changed" when a file was stored meanwhile (an upload that finished while the folder was being
 * validated), null when the tenant has no such model. Holds the model's row, like `putModelFile`, so of an
 * upload and a finalize that overlap, either the upload lands first and this says "changed", or this lands
 * first and the upload then puts the model back to pending.
 */
export function markModelReady(
  db: Db,
  tenantId: string,
  id: string,
  validated: { name: string; sha256: string }[],
  patch: Omit<ModelPatch, "status">,
): Promise<Model | "changed" | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [owner] = await tx.select({ id: models.id }).from(models)
      .where(and(eq(models.tenantId, tenantId), eq(models.id, id))).for("update");
    if (!owner) return null;
    const files = await tx.select({ name: modelFiles.filename, sha256: modelFiles.sha256 }).from(modelFiles)
      .where(
        and(eq(modelFiles.tenantId, tenantId), eq(modelFiles.modelId, id), eq(modelFiles.status, "complete")),
      );
    // Compared as sorted "name sha256" lines (sorted here: the database's collation may order names otherwise).
    const lines = (list: { name: string; sha256: string | null }[]) =>
      list.map((f) => `${f.name} ${f.sha256 ?? ""}`).sort().join("\n");
    const [now, then] = [lines(files), lines(validated)];
    if (now !== then) return "changed";
    const [model] = await tx.update(models).set({ ...patch, status: "ready", updatedAt: sql`now()` })
      .where(and(eq(models.tenantId, tenantId), eq(models.id, id))).returning();
    return model;
  });
}

/**
 * Claims the right to publish a model file's bytes (one writer per file): holding the model's row, records the
 * file as `uploading` with the staged bytes' size and sha256 and puts the model back to `pending`. "busy" when
 * another writer's claim on the same file is younger than `staleMs` (it is between its claim and its
 * `completeModelFile`, a few milliseconds unless its process died); null when the tenant has no such model. The
 * caller then moves the bytes under the key and calls `completeModelFile`; a file left `uploading` (a crash in
 * between) is not listed as complete, so it is never validated or recorded with a hash of other bytes.
 */
export function claimModelFile(
  db: Db,
  tenantId: string,
  modelId: string,
  file: { filename: string; blobKey: string; size: number; sha256: string },
  staleMs: number,
): Promise<ModelFile | "busy" | null> {
  if (!isUuid(modelId)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [owner] = await tx.select({ id: models.id }).from(models)
      .where(and(eq(models.tenantId, tenantId), eq(models.id, modelId))).for("update");
    if (!owner) return null;
    const [busy] = await tx.select({ id: modelFiles.id }).from(modelFiles).where(and(
      eq(modelFiles.tenantId, tenantId),
      eq(modelFiles.modelId, modelId),
      eq(modelFiles.filename, file.filename),
      eq(modelFiles.status, "uploading"),
      sql`${modelFiles.updatedAt} > now() - make_interval(secs => ${staleMs / 1000})`,
    ));
    if (busy) return "busy";
    const values = {
      blobKey: file.blobKey,
      size: file.size,
      sha256: file.sha256,
      status: "uploading" as const,
    };
    const [row] = await tx.insert(modelFiles).values({
      tenantId,
      modelId,
      filename: file.filename,
      ...values,
    })
      .onConflictDoUpdate({
        target: [modelFiles.modelId, modelFiles.filename],
        set: { ...values, updatedAt: sql`now()` },
      }).returning();
    await tx.update(models).set({ status: "pending", summary: null, updatedAt: sql`now()` })
      .where(and(eq(models.tenantId, tenantId), eq(models.id, modelId)));
    return row;
  });
}

/**
 * Marks a claimed file complete once its bytes are under the key: only while the claim is still this writer's
 * (status `uploading` with exactly this size and sha256), so the recorded hash is always of the bytes stored.
 * Puts the model back to `pending` again (a finalize may have run meanwhile without this file). Null when the
 * claim is gone (the model was deleted, or a writer that outlived `staleMs` was overtaken).
 */
export function completeModelFile(
  db: Db,
  tenantId: string,
  modelId: string,
  file: { filename: string; size: number; sha256: string },
): Promise<ModelFile | null> {
  if (!isUuid(modelId)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [owner] = await tx.select({ id: models.id }).from(models)
      .where(and(eq(models.tenantId, tenantId), eq(models.id, modelId))).for("update");
    if (!owner) return null;
    const [row] = await tx.update(modelFiles).set({ status: "complete", updatedAt: sql`now()` }).where(and(
      eq(modelFiles.tenantId, tenantId),
      eq(modelFiles.modelId, modelId),
      eq(modelFiles.filename, file.filename),
      eq(modelFiles.status, "uploading"),
      eq(modelFiles.size, file.size),
      eq(modelFiles.sha256, file.sha256),
    )).returning();
    if (!row) return null;
    await tx.update(models).set({ status: "pending", summary: null, updatedAt: sql`now()` })
      .where(and(eq(models.tenantId, tenantId), eq(models.id, modelId)));
    return row;
  });
}

export function listModelFiles(db: Db, tenantId: string, modelId: string): Promise<ModelFile[]> {
  if (!isUuid(modelId)) return Promise.resolve([]);
  return inTenantScope(db, tenantId, (tx) =>
    tx.select().from(modelFiles)
      .where(and(eq(modelFiles.tenantId, tenantId), eq(modelFiles.modelId, modelId)))
      .orderBy(asc(modelFiles.filename)));
}

export function deleteModelFile(
  db: Db,
  tenantId: string,
  modelId: string,
  filename: string,
): Promise<boolean> {
  if (!isUuid(modelId)) return Promise.resolve(false);
  return inTenantScope(db, tenantId, async (tx) => {
    const deleted = await tx.delete(modelFiles).where(and(
      eq(modelFiles.tenantId, tenantId),
      eq(modelFiles.modelId, modelId),
      eq(modelFiles.filename, filename),
    )).returning({ id: modelFiles.id });
    return deleted.length > 0;
  });
}
