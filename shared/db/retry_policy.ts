/**
 * Retry or fail: the one decision a failed or abandoned attempt needs, as a pure function of the attempt
 * counters and the clock, so it is tested without a database or a sleep.
 *
 * Backoff doubles from `baseMs` per attempt up to `capMs`, stretched by up to `jitter` (a fraction) so jobs
 * abandoned together (a worker host dying) do not all come back in the same instant.
 */
export interface RetryPolicy {
  baseMs: number;
  capMs: number;
  jitter: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 5_000, capMs: 10 * 60_000, jitter: 0.25 };

export type RetryDecision = { action: "retry"; runAfter: Date; delayMs: number } | { action: "fail" };

export interface RetryInput {
  /** The attempt that just ended (1-based). */
  attempt: number;
  maxAttempts: number;
  /** False when retrying cannot help (a bad model, a malformed dataset). */
  retryable: boolean;
  now: Date;
  /** A number in [0, 1) choosing the jitter; tests pass a fixed one. */
  random: number;
}

export function decideRetry(input: RetryInput, policy: RetryPolicy = DEFAULT_RETRY_POLICY): RetryDecision {
  if (!input.retryable || input.attempt >= input.maxAttempts) return { action: "fail" };
  const delayMs = backoffMs(input.attempt, input.random, policy);
  return { action: "retry", runAfter: new Date(input.now.getTime() + delayMs), delayMs };
}

/** Delay before the attempt after `attempt`: base·2^(attempt−1), capped, times 1 + jitter·random. */
export function backoffMs(
  attempt: number,
  random: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
): number {
  const exponential = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (1 + policy.jitter * random));
}
