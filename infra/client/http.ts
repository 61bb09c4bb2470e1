/**
 * The client's one HTTP helper: Bearer auth, JSON in and out, and every non-2xx answer turned into one
 * `ClientError` carrying the problem's status, type and detail (an InputError: `profs` prints one line).
 */
import { InputError } from "../../shared/errors.ts";
import type { ClientConfig } from "./config.ts";

export class ClientError extends InputError {
  override name = "ClientError";
  constructor(readonly status: number, readonly type: string, detail: string) {
    super(detail);
  }
}

export interface Http {
  readonly url: string;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** `fetch` + a 2xx check + JSON body (null for 204). */
  json<T>(path: string, init?: RequestInit & { body?: BodyInit | null; data?: unknown }): Promise<T>;
}

export function http(config: ClientConfig): Http {
  const base = config.url.endsWith("/") ? config.url : config.url + "/";
  async function call(path: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(path.replace(/^\//, ""), base);
    try {
      return await fetch(url, {
        ...init,
        headers: { Authorization: `Bearer ${config.key}`, ...(init.headers ?? {}) },
      });
    } catch (error) {
      if (error instanceof TypeError) {
        throw new InputError(`Cannot reach ${url.origin} as the service must be up: ${error.message}`);
      }
      throw error;
    }
  }
  return {
    url: config.url,
    fetch: call,
    async json<T>(path: string, init: RequestInit & { data?: unknown } = {}): Promise<T> {
      const { data, ...rest } = init;
      const response = await call(
        path,
        data === undefined ? rest : {
          ...rest,
          body: JSON.stringify(data),
          headers: { "content-type": "application/json", ...(rest.headers ?? {}) },
        },
      );
      await ensureOk(response, `${rest.method ?? "GET"} ${path}`);
      if (response.status === 204) return null as T;
      return await response.json() as T;
    },
  };
}

/** Throws a ClientError naming the request and the problem's detail when the answer is not 2xx. */
export async function ensureOk(response: Response, what: string): Promise<void> {
  if (response.ok) return;
  const text = await response.text();
  let type = "about:blank";
  let detail = text.slice(0, 500);
  try {
    const problem = JSON.parse(text);
    type = problem.type ?? type;
    detail = problem.detail ?? detail;
    if (Array.isArray(problem.errors) && problem.errors.length) {
      detail += " (" + problem.errors.slice(0, 5).map((e: { path: string; message: string }) =>
        `${e.path}: ${e.message}`
      ).join("; ") + ")";
    }
  } catch {
    // not problem+json: the raw body says what happened
  }
  throw new ClientError(response.status, type, `${what} failed with HTTP ${response.status}: ${detail}`);
}
