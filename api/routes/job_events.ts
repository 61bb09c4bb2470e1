/**
 * A job's progress events as Server-Sent Events: every event so far (after Last-Event-ID when reconnecting), then
 * new ones as they happen, until the job's terminal event. The stream reads when the job change feed says the job
 * changed (at least every FEED_TRUST_MS), or polls when the feed is not listening, and sends keep-alive comments.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import { type JobEvent, TERMINAL_STATUSES } from "../../shared/contracts/edits.ts";
import { type Db, FEED_TRUST_MS, inTenantScope, type JobChanges } from "../../shared/db/index.ts";
import { getJob, listJobEvents } from "../../shared/db/repositories/jobs.ts";
import type { ApiEnv } from "../env.ts";
import type { Job } from "../../shared/db/schema.ts";
import type { StreamLimiter } from "../stream_limiter.ts";

/**
 * The answer of `GET /v1/<jobs>/{id}/events`, for every job collection: SSE when the client accepts
 * `text/event-stream` (its stream slot taken before anything is read, so a tenant at its cap costs no database
 * round trip), else one JSON page after `?after=` of at most `limit` events, with `has_more`.
 */
export async function jobEventsAnswer(
  c: Context<ApiEnv>,
  o: {
    db: Db;
    changes: JobChanges;
    streams: StreamLimiter;
    tenantId: string;
    /** the job as the tenant may see it, or a 404 (`findJob` in job_routes.ts) */
    find: () => Promise<Job>;
    /** names the stream in a 429 (`edit 'abc'`) */
    what: string;
    query: { after?: number; limit: number };
  },
): Promise<Response> {
  const wantsSse = (c.req.header("Accept") ?? "").includes("text/event-stream");
  const release = wantsSse ? o.streams.open(o.tenantId, `an event stream of ${o.what}`) : () => {};
  let job: Job;
  try {
    job = await o.find();
  } catch (error) {
    release();
    throw error;
  }
  if (!wantsSse) {
    const { after, limit } = o.query;
    const events = await listJobEvents(o.db, o.tenantId, job.id, { afterId: after, limit: limit + 1 });
    return c.json(
      { data: events.slice(0, limit).map(eventView), status: job.status, has_more: events.length > limit },
      200,
    );
  }
  const lastEventId = Number(c.req.header("Last-Event-ID") ?? o.query.after ?? 0);
  return streamJobEvents(c, {
    db: o.db,
    changes: o.changes,
    tenantId: o.tenantId,
    jobId: job.id,
    lastEventId,
    release,
  });
}

/**
 * How often an open event stream looks for new events when the change feed is not listening (when it is, the
 * stream reads when the feed says the job changed, and at least every FEED_TRUST_MS), and how often it sends a
 * keep-alive comment.
 */
const EVENTS_POLL_MS = 250;
const KEEPALIVE_MS = 15_000;

export function streamJobEvents(
  c: Context<ApiEnv>,
  o: {
    db: Db;
    changes: JobChanges;
    tenantId: string;
    jobId: string;
    lastEventId: number;
    /** gives the tenant's stream slot back (api/stream_limiter.ts): when the stream ends or the client leaves */
    release: () => void;
  },
): Response {
  const { db, changes, tenantId, lastEventId } = o;
  const job = { id: o.jobId };
  return streamSSE(c, async (stream) => {
    // Set by the feed when the job changes; cleared before each read so no change is missed in between.
    const changed = changes.signal(job.id);
    stream.onAbort(() => {
      changed.close();
      o.release();
    });
    try {
      let after = Number.isSafeInteger(lastEventId) && lastEventId > 0 ? lastEventId : 0;
      let lastWrite = Date.now();
      /**
       * The events after the last one sent and the job's status, in one transaction: one round trip of the
       * database's connection per wake-up, however many streams are open.
       */
      const read = () =>
        inTenantScope(db, tenantId, async (tx) => ({
          events: await listJobEvents(tx, tenantId, job.id, { afterId: after, limit: 500 }),
          status: (await getJob(tx, tenantId, job.id))?.status ?? null,
        }));
      /** Writes the events (outside the transaction: a slow client never holds a connection). */
      const send = async (events: Awaited<ReturnType<typeof read>>["events"]) => {
        for (const event of events) {
          await stream.writeSSE({
            id: String(event.id),
            event: event.type,
            data: JSON.stringify(eventView(event)),
          });
          after = event.id;
          lastWrite = Date.now();
        }
      };
      while (!stream.aborted) {
        changed.clear();
        const { events, status } = await read();
        await send(events);
        if (events.length > 0) continue;
        // Terminal events are written in the transaction that ends the job, so once the job reads terminal
        // what is left to read (the status may have been read after the events) is all there is.
        if (status === null || TERMINAL_STATUSES.includes(status)) {
          for (let more = await read(); more.events.length > 0; more = await read()) await send(more.events);
          break;
        }
        if (Date.now() - lastWrite >= KEEPALIVE_MS) {
          await stream.write(": keep-alive\n\n");
          lastWrite = Date.now();
        }
        // Jittered, so streams opened together do not read together every FEED_TRUST_MS.
        await changed.wait(changes.live ? FEED_TRUST_MS * (0.5 + Math.random() / 2) : EVENTS_POLL_MS);
      }
    } finally {
      changed.close();
      o.release();
    }
  });
}

/** An event as the API shows it. */
export function eventView(
  event: { id: number; type: string; createdAt: Date; data: unknown; attempt: number },
): JobEvent {
  const data = (event.data && typeof event.data === "object" ? event.data : {}) as Record<string, unknown>;
  return {
    seq: event.id,
    type: event.type,
    at: event.createdAt.toISOString(),
    data: { attempt: event.attempt, ...data },
  };
}
