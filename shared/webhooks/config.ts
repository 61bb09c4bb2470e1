/**
 * Webhook settings from the environment, read once where a process starts:
 * - PROFS_WEBHOOK_ALLOWLIST: hosts, addresses and CIDRs exempt from the public-address rule (tests, private
 *   deployments), e.g. `127.0.0.1/32,hooks.internal`.
 * - PROFS_PUBLIC_URL: the API's base URL as receivers reach it; payload links are made absolute with it.
 * - PROFS_WEBHOOK_TIMEOUT_MS: per-attempt timeout (default 15000).
 */
import { InputError } from "../errors.ts";
import { type Allowlist, parseAllowlist } from "./address_policy.ts";
import { DEFAULT_TIMEOUT_MS } from "../../gpu-worker/webhooks/attempt.ts";

export interface WebhookConfig {
  allowlist: Allowlist;
  publicUrl?: string;
  timeoutMs: number;
}

export function webhookConfigFromEnv(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): WebhookConfig {
  const timeoutText = env("PROFS_WEBHOOK_TIMEOUT_MS");
  const timeoutMs = timeoutText ? Number(timeoutText) : DEFAULT_TIMEOUT_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
    throw new InputError(
      `Cannot read PROFS_WEBHOOK_TIMEOUT_MS as it must be a positive whole number of milliseconds: current value is ${timeoutText}`,
    );
  }
  const publicUrl = env("PROFS_PUBLIC_URL") || undefined;
  if (publicUrl !== undefined && !URL.canParse(publicUrl)) {
    throw new InputError(
      `Cannot read PROFS_PUBLIC_URL as it must be an absolute URL: current value is ${publicUrl}`,
    );
  }
  return { allowlist: parseAllowlist(env("PROFS_WEBHOOK_ALLOWLIST")), publicUrl, timeoutMs };
}
