/** What the API needs from the process that runs it: the database, the blob store, a logger, limits. */
import type { BlobStore } from "../shared/blobs/store.ts";
import type { Database } from "../shared/db/database.ts";
import type { JobQueue } from "../shared/db/queue.ts";
import type { Logger } from "../shared/log.ts";
import type { VerifyKey } from "./middleware/auth.ts";
import type { WebhookConfig } from "../shared/webhooks/config.ts";
import { InputError } from "../shared/errors.ts";

export interface ApiConfig {
  /** cap on JSON request bodies (bytes); they are small by nature */
  maxJsonBytes: number;
  /** cap on one uploaded model file (bytes) */
  maxModelFileBytes: number;
  /**
   * cap on one preference-pairs (JSONL) upload (bytes); the parsed pairs are held in memory until the upload is
   * validated, so this bounds an upload's memory (about twice this)
   */
  maxPairsBytes: number;
  /**
   * cap on one JSONL line (UTF-8 bytes): a longer line is refused (422 naming it) and never held whole, so no
   * single text can make a worker tokenize megabytes
   */
  maxLineBytes: number;
  /**
   * cap on a safetensors upload's JSON header (bytes), read from its first 8 bytes: a longer header is refused
   * before any of it is buffered (the format's reference allows 100 MB; real models need a few hundred KB)
   */
  maxHeaderBytes: number;
  /** cap on one precomputed-embeddings upload (bytes); streamed to disk, never held in memory */
  maxEmbeddingsBytes: number;
  /** absolute directories under which a server-side model folder may be registered; empty: none may */
  modelRoots: string[];
  /**
   * most long-lived responses (event streams, artifact downloads) one tenant may hold open at once in one API
   * process; beyond it a 429 with Retry-After (api/stream_limiter.ts)
   */
  maxStreamsPerTenant: number;
}

export interface ApiDeps {
  database: Database;
  blobs: BlobStore;
  logger: Logger;
  config: ApiConfig;
  /** API key → tenant and scopes (the database's key table, api/auth, in the CLIs) */
  verifyKey: VerifyKey;
  /** the job queue; the process that builds it passes the `onFinish` hook (the webhook outbox write) */
  queue: JobQueue;
  /**
   * webhook settings (the allowlist a registration is checked against); read from the environment where absent
   * (infra/compose.ts reads them once and gives the same to the API and the dispatcher)
   */
  webhooks?: WebhookConfig;
}

const GiB = 1024 ** 3;

export const DEFAULT_CONFIG: ApiConfig = {
  maxJsonBytes: 64 * 1024,
  maxModelFileBytes: 64 * GiB,
  // ProFS uses at most EDIT_LIMITS.max_pairs (100k) pairs; 256 MiB of JSONL holds several times that.
  maxPairsBytes: 256 * 1024 ** 2,
  // A preference text or a prompt is a few hundred tokens at most (max_tokens ≤ 4096 at ~4 bytes a token).
  maxLineBytes: 1024 ** 2,
  maxEmbeddingsBytes: 16 * GiB,
  maxHeaderBytes: 16 * 1024 ** 2,
  modelRoots: [],
  maxStreamsPerTenant: 32,
};

/**
 * Limits from the environment: PROFS_MAX_JSON_BYTES, PROFS_MAX_MODEL_FILE_BYTES, PROFS_MAX_PAIRS_BYTES,
 * PROFS_MAX_LINE_BYTES, PROFS_MAX_EMBEDDINGS_BYTES, PROFS_MAX_HEADER_BYTES, PROFS_MAX_STREAMS_PER_TENANT,
 * PROFS_MODEL_ROOTS (a list separated like PATH, by ':').
 */
export function configFromEnv(env: (name: string) => string | undefined = (n) => Deno.env.get(n)): ApiConfig {
  const positive = (name: string, fallback: number, unit = "") => {
    const value = env(name);
    if (value === undefined || value === "") return fallback;
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new InputError(
        `Cannot read ${name} as it must be a positive whole number${unit}: current value is ${value}`,
      );
    }
    return n;
  };
  const bytes = (name: string, fallback: number) => positive(name, fallback, " of bytes");
  return {
    maxJsonBytes: bytes("PROFS_MAX_JSON_BYTES", DEFAULT_CONFIG.maxJsonBytes),
    maxModelFileBytes: bytes("PROFS_MAX_MODEL_FILE_BYTES", DEFAULT_CONFIG.maxModelFileBytes),
    maxPairsBytes: bytes("PROFS_MAX_PAIRS_BYTES", DEFAULT_CONFIG.maxPairsBytes),
    maxLineBytes: bytes("PROFS_MAX_LINE_BYTES", DEFAULT_CONFIG.maxLineBytes),
    maxEmbeddingsBytes: bytes("PROFS_MAX_EMBEDDINGS_BYTES", DEFAULT_CONFIG.maxEmbeddingsBytes),
    maxHeaderBytes: bytes("PROFS_MAX_HEADER_BYTES", DEFAULT_CONFIG.maxHeaderBytes),
    maxStreamsPerTenant: positive("PROFS_MAX_STREAMS_PER_TENANT", DEFAULT_CONFIG.maxStreamsPerTenant),
    modelRoots: (env("PROFS_MODEL_ROOTS") ?? "").split(":").filter(Boolean),
  };
}
