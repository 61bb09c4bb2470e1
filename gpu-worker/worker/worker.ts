/**
 * The worker: claims jobs from the Postgres queue (shared/db/queue.ts) one at a time and runs them, in the
 * embedded service's process (`profs serve`) or as any number of `profs worker` processes on any machines that
 * share the database and the blob store.
 *
 * Per claimed attempt:
 * - a heartbeat every `heartbeatMs` extends the lease; its answer says whether the tenant asked to cancel (the run
 *   is aborted, so it stops within one heartbeat) or whether the lease was lost (the run is aborted and its result
 *   dropped: another attempt owns the job now);
 * - progress by stage goes to the job row and its events (fenced by the lease, throttled);
 * - outputs are uploaded under a blob prefix private to the attempt and published as artifact rows in the same
 *   transaction that marks the job succeeded (fenced by attempt and lease token), so nothing is visible before
 *   success and a stale worker can publish nothing;
 * - a failure is classified by its type (job_error.ts: user input, capacity, device, internal): the user's error
 *   and a capacity error fail the job at once, a transient one is retried with backoff by the queue up to the
 *   job's attempt limit; a compute thread that died is a lost attempt, and a job that lost two attempts (threads
 *   or whole workers, the reaper counts the latter) fails as the user's error (shared/db/poison.ts);
 * - a time limit (jobs/time_limit.ts: PROFS_JOB_MAX_SECONDS, `maxJobSeconds`, or a default sized from the job)
 *   aborts the attempt and fails the job with a message naming the limit. The handler is awaited under the
 *   attempt's signal, so a cancel, a lost lease, the limit or the worker's shutdown settles the attempt (and
 *   removes its scratch directory) even if the handler is stuck in an await that cannot be cancelled.
 * Idle, the worker claims again every `pollMs`, or at once when the job change feed (`changes`) reports any
 * job's change, so a submitted job does not wait for the next poll.
 * Between jobs the worker also runs the queue's reaper, so a job whose worker died (kill -9, a lost machine) is
 * re-queued once its lease expires and finished by whichever worker claims it next.
 */
import { hostname } from "node:os";
import { attemptPrefix, jobPrefix } from "../../shared/blobs/keys.ts";
import type { BlobStore } from "../../shared/blobs/store.ts";
import {
  type Claim,
  createJobQueue,
  type Db,
  type Job,
  type JobChanges,
  type JobKind,
  type JobQueue,
  type Lease,
} from "../../shared/db/index.ts";
import { errorMessage } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import { notifyJobFinished } from "../../shared/webhooks/events.ts";
import { type BackendName, decideBackend } from "../profs/select.ts";
import { runCheckJob } from "./jobs/check_job.ts";
import { type ComputeThread, startComputeThread } from "./jobs/run_in_thread.ts";
import { workerMemoryMb } from "../runtime/memory_budget.ts";
import { type JobOutput, type JobRun, runEditJob } from "./jobs/edit_job.ts";
import { runImportJob } from "./jobs/import_job.ts";
import { runTuneJob } from "./jobs/tune_job.ts";
import { classifyJobError } from "./jobs/job_error.ts";
import { createProgressReporter } from "./jobs/progress.ts";
import {
  checkJobSeconds,
  defaultJobSeconds,
  JOB_MAX_SECONDS_ENV,
  JOB_TIME,
  jobSecondsFromEnv,
  TimeLimitExceeded,
} from "./jobs/time_limit.ts";
import { untilAborted } from "../../shared/abort.ts";
import type { ComputeBackend } from "../runtime/backends.ts";

export interface WorkerOptions {
  db: Db;
  blobs: BlobStore;
  logger: Logger;
  /** Aborting it stops the worker: no new claims; a running attempt is aborted and handed back for a retry. */
  signal?: AbortSignal;
  /** The queue; default one whose `onFinish` writes the webhook outbox, as the API's does. */
  queue?: JobQueue;
  /** Lease owner shown in logs and in the reaper's error; default host:pid:random. */
  owner?: string;
  /** Compute backend; default auto (webgpu when an adapter exists, else cpu). Each edit opens it afresh. */
  backend?: BackendName;
  /** How long a claim stays valid without a heartbeat; default 60 s. */
  leaseMs?: number;
  /** Heartbeat period, also the cancellation latency; default leaseMs / 4. */
  heartbeatMs?: number;
  /** How often the worker re-queues jobs whose lease expired (their worker died); default min(lease / 2, 5 s). */
  reapMs?: number;
  /** Idle wait between empty claims; default 1 s. */
  pollMs?: number;
  /**
   * The job change feed (shared/db/job_changes.ts `watchJobChanges`): an idle worker then claims as soon as a
   * job changes — a new job, one handed back to the queue — instead of at its next poll, which stays the
   * fallback (a feed that is down, a retry whose backoff ends with no change to announce it).
   */
  changes?: Pick<JobChanges, "watchAll">;
  /** Least time between two progress writes within a stage; default 500 ms. */
  progressIntervalMs?: number;
  /** Where attempts get their scratch directories; default the system temp directory. */
  workDir?: string;
  /**
   * Most seconds one attempt may run (a number for every job, or per job); default PROFS_JOB_MAX_SECONDS when
   * set, else sized from the job (jobs/time_limit.ts).
   */
  maxJobSeconds?: number | ((job: Job) => number);
  /**
   * The compute threads' memory budget in MiB (default PROFS_WORKER_MEMORY_MB, else 4096) and how long a silent
   * thread may go before it counts as dead (default 30 s): jobs/run_in_thread.ts.
   */
  thread?: { memoryMb?: number; silenceMs?: number };
}

export interface Worker {
  readonly owner: string;
  /** Resolves once the worker has stopped (after `signal` aborted or `stop()`), its last attempt settled. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

type Handler = (run: JobRun) => Promise<JobOutput>;

const HANDLERS: Record<JobKind, Handler> = {
  edit: runEditJob,
  check: runCheckJob,
  import: runImportJob,
  tune: runTuneJob,
};

/** Why a running attempt was aborted (the AbortSignal's reason). */
class CancelRequested extends Error {
  override name = "CancelRequested";
}
class LeaseLost extends Error {
  override name = "LeaseLost";
}
class WorkerStopping extends Error {
  override name = "WorkerStopping";
}

export function startWorker(options: WorkerOptions): Worker {
  const { db, blobs } = options;
  const queue = options.queue ?? createJobQueue({ onFinish: notifyJobFinished });
  const owner = options.owner ?? `${hostname()}:${Deno.pid}:${crypto.randomUUID().slice(0, 8)}`;
  const log = options.logger.child({ worker: owner });
  const leaseMs = options.leaseMs ?? 60_000;
  const heartbeatMs = options.heartbeatMs ?? Math.max(50, Math.floor(leaseMs / 4));
  const pollMs = options.pollMs ?? 1_000;
  const reapMs = options.reapMs ?? Math.min(leaseMs / 2, 5_000);
  const progressIntervalMs = options.progressIntervalMs ?? 500;
  const kinds = Object.keys(HANDLERS) as JobKind[];
  const timeLimit = jobTimeLimit(options.maxJobSeconds);
  const stopping = new AbortController();
  if (options.signal?.aborted) stopping.abort();
  options.signal?.addEventListener("abort", () => stopping.abort(), { once: true });

  let backend: ComputeBackend | null = null;
  // A compute thread started while the worker waits for work, taken by the next edit: thread, modules and the
  // edit's stream threads take about a second to start on a busy 2-core machine, which a job would wait for.
  // A budget the environment gets wrong fails the job that needs it (edit_job.ts), not the worker.
  const threadMemoryMb = () => options.thread?.memoryMb ?? workerMemoryMb();
  let spare: ComputeThread | null = null;
  const takeThread = (): ComputeThread => {
    const thread = spare ?? startComputeThread(threadMemoryMb());
    spare = null;
    return thread;
  };
  const startSpare = () => {
    try {
      spare ??= startComputeThread(threadMemoryMb());
    } catch {
      // no spare: takeThread starts one, and reports why it cannot
    }
  };

  let lastReap = -Infinity;
  async function reapIfDue(): Promise<void> {
    if (performance.now() - lastReap < reapMs) return;
    lastReap = performance.now();
    const report = await queue.reapOnce(db);
    if (report.requeued.length + report.failed.length + report.canceled.length > 0) {
      log.warn("reaped expired leases", { ...report });
    }
  }

  async function loop(): Promise<void> {
    // Decided once per worker; auto never picks a software adapter (gpu-worker/backend.ts).
    const decision = await decideBackend(options.backend ?? "auto");
    backend = decision.name;
    log.info("worker started", { kinds, backend, backendReason: decision.reason, leaseMs, heartbeatMs });
    const changed = changeLatch(options.changes);
    try {
      while (!stopping.signal.aborted) {
        let claim: Claim | null = null;
        changed.clear(); // before the claim: a job enqueued during it still wakes the wait below
        try {
          await reapIfDue();
          claim = await queue.claim(db, { owner, leaseMs, kinds });
        } catch (error) {
          log.error("claim failed", { error: errorMessage(error) });
        }
        if (claim) await runAttempt(claim);
        else {
          startSpare();
          await changed.wait(pollMs, stopping.signal);
        }
      }
    } finally {
      changed.close();
      await spare?.terminate().catch(() => {});
      spare = null;
    }
    log.info("worker stopped");
  }

  async function runAttempt({ job, lease, lostAttempts }: Claim): Promise<void> {
    const jobLog = log.child({ job: job.id, attempt: job.attempt, kind: job.kind });
    if (lostAttempts > 0) {
      // Not blind: an earlier attempt's worker or compute thread died on this job (shared/db/poison.ts).
      jobLog.warn("job lost earlier attempts: it may be poison", { lostAttempts });
    }
    const started = performance.now();
    const controller = new AbortController();
    const onStop = () => controller.abort(new WorkerStopping("worker stopping"));
    stopping.signal.addEventListener("abort", onStop, { once: true });
    const heartbeat = startHeartbeat(queue, db, lease, { leaseMs, heartbeatMs }, controller, jobLog);
    const progress = createProgressReporter((p) => queue.progress(db, lease, p), {
      intervalMs: progressIntervalMs,
      onLeaseLost: () => controller.abort(new LeaseLost("lease lost")),
    });
    const blobPrefix = attemptPrefix(job, lease.token);
    let scratch: string | null = null;
    const limit = timeLimit(job);
    // setTimeout holds at most 2³¹ − 1 ms (24.8 days); a longer limit is as good as none.
    const limitTimer = setTimeout(
      () => controller.abort(new TimeLimitExceeded(limit.seconds, limit.source)),
      Math.min(limit.seconds * 1000, 2 ** 31 - 1),
    );
    jobLog.info("job claimed", { timeLimitSeconds: limit.seconds });
    try {
      scratch = await Deno.makeTempDir({ dir: options.workDir, prefix: `profs-job-${job.id.slice(0, 8)}-` });
      controller.signal.throwIfAborted();
      const output = await untilAborted(
        HANDLERS[job.kind]({
          db,
          blobs,
          logger: jobLog,
          job,
          blobPrefix,
          scratch,
          backend: backend!,
          signal: controller.signal,
          onProgress: progress.report,
          thread: options.thread ?? {},
          computeThread: takeThread,
          recordEvent: (type, data) => queue.recordEvent(db, lease, type, data),
        }),
        controller.signal,
      );
      await progress.flush();
      controller.signal.throwIfAborted();
      heartbeat.stop();
      if (await queue.complete(db, lease, output)) {
        jobLog.info("job succeeded", { seconds: (performance.now() - started) / 1000 });
        await removeOtherAttempts(blobs, jobPrefix(job), blobPrefix);
      } else {
        jobLog.warn("lease lost before completion: result dropped");
        await blobs.deletePrefix(blobPrefix);
      }
    } catch (error) {
      heartbeat.stop();
      await progress.flush().catch(() => {});
      await blobs.deletePrefix(blobPrefix).catch(() => {});
      await settleFailure(lease, error, controller.signal.reason, jobLog);
    } finally {
      clearTimeout(limitTimer);
      heartbeat.stop();
      stopping.signal.removeEventListener("abort", onStop);
      if (scratch) await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  }

  async function settleFailure(lease: Lease, error: unknown, reason: unknown, jobLog: Logger): Promise<void> {
    try {
      if (reason instanceof CancelRequested) {
        const ok = await queue.acknowledgeCancel(db, lease);
        jobLog.info(ok ? "job canceled" : "lease lost while canceling");
        return;
      }
      if (reason instanceof LeaseLost) {
        jobLog.warn("lease lost: attempt abandoned");
        return;
      }
      if (reason instanceof TimeLimitExceeded) {
        const outcome = await queue.fail(db, lease, { error: reason.message, retryable: false });
        jobLog.warn("job ran past its time limit", { outcome, seconds: reason.seconds });
        return;
      }
      if (reason instanceof WorkerStopping) {
        const outcome = await queue.fail(db, lease, {
          error: "The worker running the job stopped; the job goes back to the queue",
          retryable: true,
        });
        jobLog.info("attempt handed back", { outcome });
        return;
      }
      const classified = classifyJobError(error);
      const outcome = await queue.fail(db, lease, {
        error: classified.message,
        retryable: classified.retryable,
        lost: classified.lost ? "thread_lost" : undefined,
      });
      const fields = { outcome, code: classified.code, class: classified.class, error: classified.detail };
      if (classified.code === "bad_input") jobLog.info("job failed on its input", fields);
      else {jobLog.error("attempt failed", {
          ...fields,
          stack: error instanceof Error ? error.stack : undefined,
        });}
    } catch (settleError) {
      // The lease will expire and the reaper will retry the job: nothing is lost.
      jobLog.error("could not record the attempt's end", { error: errorMessage(settleError) });
    }
  }

  const done = loop();
  return {
    owner,
    done,
    async stop() {
      stopping.abort();
      await done;
    },
  };
}

/** Each job's limit in seconds and where it came from (said in the job's error). */
function jobTimeLimit(
  option: WorkerOptions["maxJobSeconds"],
): (job: Job) => { seconds: number; source: string } {
  if (typeof option === "number") {
    const seconds = checkJobSeconds(option, "maxJobSeconds");
    return () => ({ seconds, source: "the worker's limit for every job" });
  }
  if (typeof option === "function") return (job) => ({ seconds: option(job), source: "the worker's limit" });
  const fromEnv = jobSecondsFromEnv();
  if (fromEnv !== undefined) return () => ({ seconds: fromEnv, source: JOB_MAX_SECONDS_ENV });
  const { baseSeconds, perLayerSeconds, perPairSeconds, checkSeconds, perTrialSeconds } = JOB_TIME;
  return (job) => ({
    seconds: defaultJobSeconds(job),
    source: job.kind === "edit"
      ? `the default: ${baseSeconds} s + ${perLayerSeconds} s per block + ${perPairSeconds} s per pair ` +
        `(max_pairs) + ${checkSeconds} s with check`
      : job.kind === "tune"
      ? `the default: 2 × ${baseSeconds} s + ${perPairSeconds} s per pair (max_pairs) + time_seconds, else ` +
        `${perTrialSeconds} s per trial`
      : `the default: ${baseSeconds} s + ${checkSeconds} s for a ${job.kind}`,
  });
}

interface Heartbeat {
  stop(): void;
}

function startHeartbeat(
  queue: JobQueue,
  db: Db,
  lease: Lease,
  timing: { leaseMs: number; heartbeatMs: number },
  controller: AbortController,
  log: Logger,
): Heartbeat {
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || controller.signal.aborted) return;
    busy = true;
    try {
      const beat = await queue.heartbeat(db, lease, { leaseMs: timing.leaseMs });
      if (!beat.ok) controller.abort(new LeaseLost("lease lost"));
      else if (beat.cancelRequested) controller.abort(new CancelRequested("cancel requested"));
    } catch (error) {
      // A missed beat is survivable while the lease lasts; the next one retries.
      log.warn("heartbeat failed", { error: errorMessage(error) });
    } finally {
      busy = false;
    }
  }, timing.heartbeatMs);
  return { stop: () => clearInterval(timer) };
}

/** Blobs of earlier attempts of the same job (killed before they could clean up) are garbage once one succeeds. */
async function removeOtherAttempts(blobs: BlobStore, jobPrefix: string, keep: string): Promise<void> {
  const stale = new Set(
    (await blobs.list(jobPrefix)).map((key) => key.split("/").slice(0, 3).join("/")).filter((p) =>
      p !== keep
    ),
  );
  for (const prefix of stale) await blobs.deletePrefix(prefix);
}

/** Any job's change as a latch the idle wait ends on (never set without a feed: the wait is the poll). */
function changeLatch(changes: WorkerOptions["changes"]) {
  let set = false;
  let wake: (() => void) | null = null;
  const onChange = () => {
    set = true;
    wake?.();
  };
  const unwatch = changes?.watchAll({ onChange, onReset: onChange });
  return {
    clear: () => void (set = false),
    /** Resolves after `ms`, at `signal`'s abort, or at a change (at once if one came since `clear`). */
    wait: (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve) => {
        if (signal.aborted || set) return resolve();
        const timer = setTimeout(done, ms);
        signal.addEventListener("abort", done, { once: true });
        wake = done;
        function done() {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          wake = null;
          resolve();
        }
      }),
    close: () => unwatch?.(),
  };
}
