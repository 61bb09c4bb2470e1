/**
 * A toxicity scorer in front of a classifier service the user runs (e.g. Detoxify behind a few lines of Flask
 * or FastAPI). Protocol, one request per batch of texts:
 *
 *   POST <url>  {"texts": ["...", ...]}
 *   200         {"scores": [0.93, 0.01, ...]}          (one number in [0, 1] per text, in order)
 *           or  {"results": [{"score": 0.93}, ...]}    (the shape of profs's own POST /v1/toxicity)
 *
 * A slow service fails after `timeoutMs` instead of stalling a check job; every failure is a `ScorerError`
 * naming the URL and what went wrong.
 */
import { InputError } from "../errors.ts";
import { ScorerError, type ToxicityScore, type ToxicityScorer } from "./scorer.ts";

export interface HttpScorerOptions {
  url: string;
  /** Per request (default 10 s). */
  timeoutMs?: number;
  /** Texts per request (default 64). */
  batchSize?: number;
  /** Extra request headers, e.g. an Authorization for the user's service. */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

export const DEFAULT_HTTP_SCORER_TIMEOUT_MS = 10_000;

export function createHttpScorer(options: HttpScorerOptions): ToxicityScorer {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new InputError(
      `Cannot use the HTTP toxicity scorer as its URL must be an absolute http(s) URL: current value is '${options.url}'`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InputError(
      `Cannot use the HTTP toxicity scorer as its URL must be http or https: current value is '${options.url}'`,
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_SCORER_TIMEOUT_MS;
  const batchSize = options.batchSize ?? 64;
  const doFetch = options.fetch ?? fetch;

  async function scoreBatch(texts: string[], signal?: AbortSignal): Promise<ToxicityScore[]> {
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await doFetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...options.headers },
        body: JSON.stringify({ texts }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new ScorerError(
          `Cannot score toxicity with ${url} as it did not answer within ${timeoutMs} ms`,
        );
      }
      throw new ScorerError(
        `Cannot score toxicity with ${url} as the request failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    let body: unknown;
    try {
      const text = await response.text();
      if (!response.ok) {
        throw new ScorerError(
          `Cannot score toxicity with ${url} as it answered HTTP ${response.status}: ${text.slice(0, 200)}`,
        );
      }
      body = JSON.parse(text);
    } catch (error) {
      if (error instanceof ScorerError) throw error;
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new ScorerError(
          `Cannot score toxicity with ${url} as it did not answer within ${timeoutMs} ms`,
        );
      }
      throw new ScorerError(
        `Cannot score toxicity with ${url} as its reply must be JSON: ${(error as Error).message}`,
      );
    }
    const scores = scoresOf(body);
    if (!scores) {
      throw new ScorerError(
        `Cannot score toxicity with ${url} as its reply must be {"scores": [number, ...]} or {"results": [{"score": number}, ...]}: got ${
          JSON.stringify(body).slice(0, 200)
        }`,
      );
    }
    if (scores.length !== texts.length) {
      throw new ScorerError(
        `Cannot score toxicity with ${url} as it must return one score per text (${texts.length}): got ${scores.length}`,
      );
    }
    const bad = scores.findIndex((s) => !(s >= 0 && s <= 1));
    if (bad >= 0) {
      throw new ScorerError(
        `Cannot score toxicity with ${url} as every score must be a number in [0, 1]: score ${bad} is ${
          JSON.stringify(scores[bad])
        }`,
      );
    }
    return scores.map((score) => ({ score, terms: [] }));
  }

  return {
    name: "http",
    async score(texts, { signal } = {}) {
      const out: ToxicityScore[] = [];
      for (let start = 0; start < texts.length; start += batchSize) {
        out.push(...await scoreBatch(texts.slice(start, start + batchSize), signal));
      }
      return out;
    },
  };
}

function scoresOf(body: unknown): number[] | null {
  if (typeof body !== "object" || body === null) return null;
  const { scores, results } = body as { scores?: unknown; results?: unknown };
  if (Array.isArray(scores)) return scores as number[];
  if (Array.isArray(results)) {
    return results.map((r) =>
      (typeof r === "object" && r !== null ? (r as { score?: unknown }).score : r) as number
    );
  }
  return null;
}
