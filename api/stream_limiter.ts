/**
 * Per-tenant cap on long-lived responses (Server-Sent Event streams of job events, artifact downloads): each
 * holds a slot from the moment it is accepted until its body ends or the client goes away. Beyond the cap
 * (PROFS_MAX_STREAMS_PER_TENANT, default 32) a request is a 429 with `Retry-After`, so one tenant's hundreds of
 * open streams cannot take the event loop and database round trips other tenants' requests need.
 */
import { ApiError } from "./errors.ts";

/** Seconds a refused client is told to wait: open streams last seconds to minutes. */
export const STREAM_RETRY_AFTER_SECONDS = 5;

export interface StreamLimiter {
  /** Takes a slot for `tenantId` (429 `ApiError` when it holds the cap); the returned release is idempotent. */
  open(tenantId: string, what: string): () => void;
  /** Slots the tenant holds now. */
  held(tenantId: string): number;
  readonly maxPerTenant: number;
}

export function createStreamLimiter(maxPerTenant: number): StreamLimiter {
  const counts = new Map<string, number>();
  return {
    maxPerTenant,
    held: (tenantId) => counts.get(tenantId) ?? 0,
    open(tenantId, what) {
      const now = counts.get(tenantId) ?? 0;
      if (now >= maxPerTenant) {
        throw new ApiError(
          429,
          "too-many-requests",
          `Cannot open ${what} as this tenant may hold at most ${maxPerTenant} open streams and downloads ` +
            `at once: it holds ${now}; close one or retry after ${STREAM_RETRY_AFTER_SECONDS} s`,
          { headers: { "Retry-After": String(STREAM_RETRY_AFTER_SECONDS) } },
        );
      }
      counts.set(tenantId, now + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (counts.get(tenantId) ?? 1) - 1;
        if (left <= 0) counts.delete(tenantId);
        else counts.set(tenantId, left);
      };
    },
  };
}

/** `body` that releases its slot when it ends, fails or is cancelled (the client went away). */
export function releasingBody(
  body: ReadableStream<Uint8Array>,
  release: () => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        release();
        controller.error(error);
      }
    },
    cancel(reason) {
      release();
      return reader.cancel(reason);
    },
  });
}
