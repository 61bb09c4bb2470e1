/**
 * The job change feed: triggers (migration 0004) send NOTIFY `profs_job_changes` with a job's id whenever the
 * job's row, artifacts or events change, when the changing transaction commits. `watchJobChanges(database)`
 * LISTENs once and fans the ids out to whoever watches: one job's (an open event stream) or all (a cache).
 *
 * Until the LISTEN is in place, and after a failure to place it, `live` is false and watchers must not rely on
 * the feed (poll instead). Each time the LISTEN is (re)established every `onReset` runs: changes made while
 * nobody listened were not delivered, so whatever was derived from earlier reads must be read again.
 *
 * A caveat on a Postgres server: postgres.js re-listens on its own after losing its listening connection, but
 * does not say when it lost it, so between the loss and `onReset` changes can go unseen. Watchers therefore
 * bound how long they trust the feed (`FEED_TRUST_MS`).
 */
import type { Logger } from "../log.ts";
import type { Database } from "./database.ts";

export const JOB_CHANGES_CHANNEL = "profs_job_changes";

/**
 * How long a watcher may go on the feed alone before it looks again itself: a cached read is dropped after
 * this, an event stream re-reads at least this often. It bounds what a silently lost connection can hide.
 */
export const FEED_TRUST_MS = 2_000;

export interface JobChangeWatcher {
  /** a job changed (its row, artifacts or events) */
  onChange(jobId: string): void;
  /** the feed was (re)established: any job may have changed unseen */
  onReset(): void;
}

export interface JobChanges {
  /** true once the LISTEN is in place (and unless placing it failed) */
  readonly live: boolean;
  /** Calls `watcher` for every job's changes; returns the function that stops it. */
  watchAll(watcher: JobChangeWatcher): () => void;
  /** A signal for one job, for a reader that loops: read, then wait for the next change. */
  signal(jobId: string): ChangeSignal;
  /** Stops listening (the database's own close does too). */
  close(): Promise<void>;
}

/**
 * One job's changes as a latch: a change (or a reset) sets it, `wait` returns at once when it is set and
 * otherwise at the next change, at `ms`, or at `close`. Reset it with `clear` *before* reading, so a change that
 * lands during the read is not lost.
 */
export interface ChangeSignal {
  clear(): void;
  /** true when woken by a change, false on timeout or close */
  wait(ms: number): Promise<boolean>;
  close(): void;
}

/** Starts listening on `database` (the promise is kept inside; `live` says when it is in place). */
export function watchJobChanges(database: Database, logger?: Logger): JobChanges {
  const all = new Set<JobChangeWatcher>();
  const byJob = new Map<string, Set<() => void>>();
  let live = false;
  let stopped = false;

  const listening = database.listen(
    JOB_CHANGES_CHANNEL,
    (jobId) => {
      for (const watcher of all) watcher.onChange(jobId);
      for (const wake of byJob.get(jobId) ?? []) wake();
    },
    () => {
      live = !stopped;
      for (const watcher of all) watcher.onReset();
      for (const wakes of byJob.values()) for (const wake of wakes) wake();
    },
  ).catch((error) => {
    live = false;
    if (!stopped) logger?.warn("job change feed unavailable: readers poll instead", { error: String(error) });
    return undefined;
  });

  return {
    get live() {
      return live;
    },
    watchAll(watcher) {
      all.add(watcher);
      return () => void all.delete(watcher);
    },
    signal(jobId) {
      let set = false;
      let ended = false;
      let finishWait: ((changed: boolean) => void) | undefined;
      const fire = () => {
        set = true;
        finishWait?.(true);
      };
      let wakes = byJob.get(jobId);
      if (!wakes) byJob.set(jobId, wakes = new Set());
      wakes.add(fire);
      return {
        clear() {
          set = false;
        },
        wait(ms) {
          if (set || ended) return Promise.resolve(set);
          return new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => finish(false), ms);
            const finish = (changed: boolean) => {
              clearTimeout(timer);
              finishWait = undefined;
              resolve(changed);
            };
            finishWait = finish;
          });
        },
        close() {
          if (ended) return;
          ended = true;
          const mine = byJob.get(jobId);
          mine?.delete(fire);
          if (mine?.size === 0) byJob.delete(jobId);
          finishWait?.(false);
        },
      };
    },
    async close() {
      stopped = true;
      live = false;
      const unlisten = await listening;
      await unlisten?.().catch(() => {});
    },
  };
}
