/**
 * One delivery attempt of one webhook message and the decision that follows it. The attempt checks the
 * destination again (SSRF guard at send time), signs with the endpoint's current secrets, posts, and reports the
 * outcome; `decideNext` is the pure rule for what happens to the message afterwards.
 */
import type { DestinationPolicy } from "../../shared/webhooks/destination.ts";
import { resolveDestination, UnsafeDestinationError } from "../../shared/webhooks/destination.ts";
import { DeliveryError, type PostOptions, postToDestination } from "./http_post.ts";
import { parseRetryAfter, retryDelayMs } from "./retry_schedule.ts";
import { signWebhook } from "../../shared/webhooks/signature.ts";

/** The Standard Webhooks guidance asks for 15–30 s. */
export const DEFAULT_TIMEOUT_MS = 15_000;

export interface AttemptOutcome {
  /** HTTP status, or null when no response came (refused destination, network error, timeout). */
  status: number | null;
  /** Why the attempt failed without a status; null when a status came back. */
  error: string | null;
  durationMs: number;
  /** Seconds from a `Retry-After` response header, when present. */
  retryAfterSeconds?: number;
}

export interface AttemptRequest {
  url: string;
  /** Current secret first; a rotated-out secret may follow during its grace period. */
  secrets: readonly string[];
  messageId: string;
  body: string;
  now: Date;
}

export async function attemptDelivery(
  request: AttemptRequest,
  options: DestinationPolicy & Partial<PostOptions> = {},
): Promise<AttemptOutcome> {
  const started = performance.now();
  try {
    const destination = await resolveDestination(request.url, options);
    const headers = await signWebhook(
      { id: request.messageId, timestamp: request.now, body: request.body },
      request.secrets,
    );
    const result = await postToDestination(destination, { headers: { ...headers }, body: request.body }, {
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      caCerts: options.caCerts,
    });
    return {
      status: result.status,
      error: null,
      durationMs: result.durationMs,
      retryAfterSeconds: parseRetryAfter(result.headers.get("retry-after"), request.now),
    };
  } catch (error) {
    if (error instanceof DeliveryError) {
      return { status: null, error: error.message, durationMs: error.durationMs };
    }
    if (error instanceof UnsafeDestinationError) {
      return { status: null, error: error.message, durationMs: Math.round(performance.now() - started) };
    }
    throw error;
  }
}

export type NextStep =
  | { kind: "delivered" }
  /** 410 Gone: the receiver asked to stop; the endpoint is disabled and its pending messages stop too. */
  | { kind: "disable-endpoint" }
  | { kind: "retry"; at: Date }
  | { kind: "give-up" };

/**
 * After attempt number `attempt` (1-based): 2xx delivered; 410 disables the endpoint; anything else — other
 * statuses including 3xx (redirects are never followed), timeouts, network errors, refused destinations — is
 * retried on the backoff schedule until it runs out.
 */
export function decideNext(outcome: AttemptOutcome, attempt: number, now: Date, random: number): NextStep {
  if (outcome.status !== null && outcome.status >= 200 && outcome.status < 300) return { kind: "delivered" };
  if (outcome.status === 410) return { kind: "disable-endpoint" };
  const delay = retryDelayMs(attempt, random, outcome.retryAfterSeconds);
  return delay === null ? { kind: "give-up" } : { kind: "retry", at: new Date(now.getTime() + delay) };
}
