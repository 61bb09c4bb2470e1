/**
 * When to try a failed webhook delivery again: exponential backoff (15 s × 3ⁿ, capped at 6 h) with ±25 % jitter,
 * so that endpoints that failed together do not get retried together. 11 attempts in all span about a day
 * (nominally 22.5 h; 17–28 h with jitter), as the Standard Webhooks guidance asks.
 */
export const MAX_ATTEMPTS = 11;
const BASE_SECONDS = 15;
const FACTOR = 3;
const CAP_SECONDS = 6 * 60 * 60;
const JITTER = 0.25;

/**
 * Milliseconds to wait after failed attempt number `attempt` (1-based), or null when that was the last one.
 * `random` is a uniform draw in [0, 1) (Math.random in production, fixed in tests). A `Retry-After` the receiver
 * sent (429, 503) stretches the wait up to the cap but never shortens it.
 */
export function retryDelayMs(attempt: number, random: number, retryAfterSeconds?: number): number | null {
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new RangeError(
      `Cannot schedule a retry as 'attempt' must be an integer ≥ 1: current value is ${attempt}`,
    );
  }
  if (attempt >= MAX_ATTEMPTS) return null;
  const nominal = Math.min(CAP_SECONDS, BASE_SECONDS * FACTOR ** (attempt - 1));
  const jittered = nominal * (1 - JITTER + 2 * JITTER * random);
  const seconds = retryAfterSeconds === undefined
    ? jittered
    : Math.max(jittered, Math.min(CAP_SECONDS, retryAfterSeconds));
  return Math.round(seconds * 1000);
}

/** Reads a `Retry-After` header (delay seconds or an HTTP date) relative to `now`; undefined if absent or bad. */
export function parseRetryAfter(value: string | null | undefined, now: Date): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now.getTime()) / 1000);
}
