/** Datasets (preference pairs or precomputed embeddings), always within one tenant (see models.ts). */
import { and, eq } from "drizzle-orm";
import type { Db } from "../database.ts";
import { type Dataset, datasets } from "../schema.ts";
import { inTenantScope, isUuid } from "../tenant_scope.ts";
import { afterCursor, newestFirst, type Page, type PageRequest, toPage } from "./page.ts";

export type DatasetInput = Omit<typeof datasets.$inferInsert, "id" | "tenantId" | "createdAt">;

const keyset = {
  table: datasets,
  id: datasets.id,
  tenantId: datasets.tenantId,
  createdAt: datasets.createdAt,
};

export function createDataset(db: Db, tenantId: string, input: DatasetInput): Promise<Dataset> {
  return inTenantScope(db, tenantId, async (tx) => {
    const [dataset] = await tx.insert(datasets).values({ ...input, tenantId }).returning();
    return dataset;
  });
}

export function getDataset(db: Db, tenantId: string, id: string): Promise<Dataset | null> {
  if (!isUuid(id)) return Promise.resolve(null);
  return inTenantScope(db, tenantId, async (tx) => {
    const [dataset] = await tx.select().from(datasets)
      .where(and(eq(datasets.tenantId, tenantId), eq(datasets.id, id)));
    return dataset ?? null;
  });
}

export function listDatasets(db: Db, tenantId: string, page: PageRequest): Promise<Page<Dataset>> {
  return inTenantScope(db, tenantId, async (tx) => {
    const rows = await tx.select().from(datasets)
      .where(and(eq(datasets.tenantId, tenantId), afterCursor(keyset, tenantId, page.cursor)))
      .orderBy(...newestFirst(keyset)).limit(page.limit + 1);
    return toPage(rows, page.limit);
  });
}
