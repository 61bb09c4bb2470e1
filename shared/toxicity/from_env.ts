/**
 * The scorer a process uses: the HTTP scorer when `PROFS_TOXICITY_URL` is set (timeout from
 * `PROFS_TOXICITY_TIMEOUT_MS`, default 10 s), else the built-in lexicon scorer.
 */
import { InputError } from "../errors.ts";
import { createHttpScorer, DEFAULT_HTTP_SCORER_TIMEOUT_MS } from "./http.ts";
import { createLexiconScorer } from "./lexicon.ts";
import type { ToxicityScorer } from "./scorer.ts";

export function scorerFromEnv(env: { get(name: string): string | undefined } = Deno.env): ToxicityScorer {
  const url = env.get("PROFS_TOXICITY_URL");
  if (!url) return createLexiconScorer();
  const rawTimeout = env.get("PROFS_TOXICITY_TIMEOUT_MS");
  const timeoutMs = rawTimeout ? Number(rawTimeout) : DEFAULT_HTTP_SCORER_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw new InputError(
      `Cannot configure the toxicity scorer as 'PROFS_TOXICITY_TIMEOUT_MS' must be a positive integer: current value is '${rawTimeout}'`,
    );
  }
  return createHttpScorer({ url, timeoutMs });
}
