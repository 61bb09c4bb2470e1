/**
 * The blob janitor: removes what no row owns once it is older than a grace period, so a crash at any step of an
 * upload or a job leaves nothing behind for long (api/uploads/owned_blob.ts describes the write order).
 *
 * One pass (`runJanitor`):
 *   1. staging: the store's `.tmp/` files (S3: unfinished multipart uploads) last written before the cutoff;
 *   2. blobs: every key under the store's roots (shared/blobs/keys.ts `BLOB_ROOTS`) that no row records (model
 *      files, datasets, artifacts, the embedding cache) and that was last modified before the cutoff.
 *
 * Never removed, whatever their age: a key a row records; anything under the prefix of a job that is still queued
 * or running (`edits/<id>/…`, `checks/<id>/…`: its attempt may be writing there, or publishing); anything
 * younger than the grace period (an upload between its rename and its insert, or still streaming: its staging
 * file is touched at every chunk); anything outside the roots. An upload that sends no byte for the whole grace
 * period loses its staging file and fails.
 *
 * `profs serve` and `profs api` run a pass every PROFS_JANITOR_INTERVAL_SECONDS (600; 0: never) with a grace of
 * PROFS_JANITOR_GRACE_SECONDS (3600); `profs janitor` runs one pass and prints what it removed. Several
 * processes may run it against one store: removing twice is harmless.
 */
import { BLOB_ROOTS } from "../shared/blobs/keys.ts";
import type { BlobStore } from "../shared/blobs/store.ts";
import type { Db } from "../shared/db/database.ts";
import { referencedBlobKeys, unfinishedJobIds } from "../shared/db/repositories/blob_refs.ts";
import { errorMessage, InputError } from "../shared/errors.ts";
import type { Logger } from "../shared/log.ts";

export interface JanitorOptions {
  /** what is younger than this (ms) is never removed */
  graceMs: number;
  /** ms between passes in a running service; 0: no periodic pass */
  intervalMs: number;
}

export const DEFAULT_JANITOR: JanitorOptions = { graceMs: 3_600_000, intervalMs: 600_000 };

export interface JanitorReport {
  /** staging files (or multipart uploads) removed */
  staging: number;
  /** unreferenced blobs removed, and their bytes */
  blobs: number;
  bytes: number;
  /** unreferenced blobs kept because they are younger than the grace period or under an unfinished job */
  kept: number;
}

/** Keys whose references are looked up in one round of statements. */
const BATCH = 500;

export async function runJanitor(
  o: { db: Db; blobs: BlobStore; graceMs: number; now?: Date; logger?: Logger },
): Promise<JanitorReport> {
  const cutoff = new Date((o.now ?? new Date()).getTime() - o.graceMs);
  const report: JanitorReport = { staging: await o.blobs.sweepStaging(cutoff), blobs: 0, bytes: 0, kept: 0 };
  for (const root of BLOB_ROOTS) {
    const keys = await o.blobs.list(root);
    for (let i = 0; i < keys.length; i += BATCH) {
      const batch = keys.slice(i, i + BATCH);
      const referenced = await referencedBlobKeys(o.db, batch);
      const loose = batch.filter((key) => !referenced.has(key));
      const running = await unfinishedJobIds(o.db, loose.map(jobIdOf).filter((id) => id !== null));
      for (const key of loose) {
        const job = jobIdOf(key);
        const stat = job !== null && running.has(job) ? null : await o.blobs.stat(key);
        if (stat === null || stat.modified >= cutoff) {
          report.kept++;
          continue;
        }
        if (await o.blobs.delete(key)) {
          report.blobs++;
          report.bytes += stat.size;
          o.logger?.debug("janitor removed an unreferenced blob", { key, size: stat.size });
        }
      }
    }
  }
  return report;
}

/** The job id of a key under a job's prefix (`edits/<id>/…`, `checks/<id>/…`), else null. */
function jobIdOf(key: string): string | null {
  const [root, id] = key.split("/");
  return (root === "edits" || root === "checks") && id ? id : null;
}

/** Runs a pass every `intervalMs` (the first one after one interval) until `stop()`; failures are logged. */
export function startJanitor(
  o: { db: Db; blobs: BlobStore; options: JanitorOptions; logger: Logger },
): { stop(): Promise<void> } {
  if (o.options.intervalMs <= 0) return { stop: () => Promise.resolve() };
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = runJanitor({ db: o.db, blobs: o.blobs, graceMs: o.options.graceMs, logger: o.logger })
      .then((report) => {
        if (report.staging + report.blobs > 0) o.logger.info("blob janitor pass", { ...report });
      })
      .catch((error) => o.logger.warn("blob janitor pass failed", { error: errorMessage(error) }))
      .finally(() => running = null);
  }, o.options.intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/** PROFS_JANITOR_GRACE_SECONDS (3600) and PROFS_JANITOR_INTERVAL_SECONDS (600; 0 turns the periodic pass off). */
export function janitorOptionsFromEnv(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): JanitorOptions {
  const seconds = (name: string, fallbackMs: number, min: number) => {
    const value = env(name);
    if (value === undefined || value === "") return fallbackMs;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) {
      throw new InputError(
        `Cannot start the blob janitor as ${name} must be a number of seconds of at least ${min}: current value is ${value}`,
      );
    }
    return n * 1000;
  };
  return {
    graceMs: seconds("PROFS_JANITOR_GRACE_SECONDS", DEFAULT_JANITOR.graceMs, 60),
    intervalMs: seconds("PROFS_JANITOR_INTERVAL_SECONDS", DEFAULT_JANITOR.intervalMs, 0),
  };
}
