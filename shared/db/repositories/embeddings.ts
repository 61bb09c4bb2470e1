/**
 * The embedding cache: (model weights sha256, dataset sha256, pooling, max_tokens) → an embeddings blob, per
 * tenant, so a new rank or layer range reuses the forward pass.
 */
import { and, eq } from "drizzle-orm";
import type { Db } from "../database.ts";
import { embeddingCache, type EmbeddingCacheEntry } from "../schema.ts";
import { inTenantScope } from "../tenant_scope.ts";

export interface EmbeddingKey {
  modelSha256: string;
  datasetSha256: string;
  pooling: string;
  maxTokens: number;
}

export function findCachedEmbeddings(
  db: Db,
  tenantId: string,
  key: EmbeddingKey,
): Promise<EmbeddingCacheEntry | null> {
  return inTenantScope(db, tenantId, async (tx) => {
    const [entry] = await tx.select().from(embeddingCache).where(and(
      eq(embeddingCache.tenantId, tenantId),
      eq(embeddingCache.modelSha256, key.modelSha256),
      eq(embeddingCache.datasetSha256, key.datasetSha256),
      eq(embeddingCache.pooling, key.pooling),
      eq(embeddingCache.maxTokens, key.maxTokens),
    ));
    return entry ?? null;
  });
}

/**
 * Records a computed blob; when another worker recorded the same key first, its entry wins and is returned
 * (the caller may then delete its own blob).
 */
export function saveCachedEmbeddings(
  db: Db,
  tenantId: string,
  key: EmbeddingKey,
  blob: { blobKey: string; size: number; sha256: string },
): Promise<EmbeddingCacheEntry> {
  return inTenantScope(db, tenantId, async (tx) => {
    const [inserted] = await tx.insert(embeddingCache).values({ tenantId, ...key, ...blob })
      .onConflictDoNothing()
      .returning();
    if (inserted) return inserted;
    const [existing] = await tx.select().from(embeddingCache).where(and(
      eq(embeddingCache.tenantId, tenantId),
      eq(embeddingCache.modelSha256, key.modelSha256),
      eq(embeddingCache.datasetSha256, key.datasetSha256),
      eq(embeddingCache.pooling, key.pooling),
      eq(embeddingCache.maxTokens, key.maxTokens),
    ));
    return existing;
  });
}
