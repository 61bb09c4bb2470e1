/** Pieces every resource sub-app uses: id parameters, problem responses for the OpenAPI document, body caps. */
import { z } from "@hono/zod-openapi";
import { pgText } from "../../shared/contracts/text.ts";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { PROBLEM_CONTENT_TYPE, ProblemDetails } from "../../shared/contracts/problem.ts";
import type { ApiDeps } from "../deps.ts";
import type { ApiEnv } from "../env.ts";
import { ApiError } from "../errors.ts";

export const IdParam = z.object({ id: pgText(z.string()).meta({ param: { name: "id", in: "path" } }) });

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: "malformed request (e.g. invalid JSON)",
  401: "missing or invalid API key",
  403: "the API key lacks the route's scope",
  404: "no such object for this tenant",
  409: "conflicts with the object's state or an earlier Idempotency-Key",
  411: "Content-Length required",
  413: "body over the route's limit",
  415: "unsupported Content-Type",
  416: "Range outside the artifact",
  422: "invalid input; `errors` names each field or line",
  429: "this tenant is at its cap on open streams; `Retry-After` says when to try again",
  507: "the server's storage is full; nothing was stored",
};

/** OpenAPI `responses` entries for the problem statuses a route can answer with. */
export function problems(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, {
    description: PROBLEM_DESCRIPTIONS[status] ?? "error",
    content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemDetails } },
  }])) as Record<
    number,
    { description: string; content: { [k: string]: { schema: typeof ProblemDetails } } }
  >;
}

/** Small JSON bodies only: over the cap is a 413 before the body is parsed. */
export function jsonLimit(deps: ApiDeps): MiddlewareHandler<ApiEnv> {
  return bodyLimit({
    maxSize: deps.config.maxJsonBytes,
    onError: () => {
      throw new ApiError(
        413,
        "payload-too-large",
        `The JSON body must be at most ${deps.config.maxJsonBytes} bytes`,
      );
    },
  });
}

/** The declared body size, or null when the client streams without Content-Length. */
export function declaredLength(request: Request): number | null {
  const header = request.headers.get("content-length");
  if (header === null || request.headers.has("transfer-encoding")) return null;
  const n = Number(header);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ApiError(400, "bad-request", "Content-Length must be a byte count");
  }
  return n;
}

export function iso(date: Date | null): string | null {
  return date ? date.toISOString() : null;
}

/** An edit takes pairs or embeddings; a `texts` dataset (a check's prompts) is a 422 naming `dataset_id`. */
export function refuseTextsForEdit(dataset: { id: string; kind: string }): void {
  if (dataset.kind !== "texts") return;
  const detail = `Cannot edit with dataset '${dataset.id}' as it must be pairs or embeddings: it is texts`;
  throw new ApiError(422, "validation-error", detail, { errors: [{ path: "dataset_id", message: detail }] });
}

/**
 * Refuses work that runs the model's forward pass (an edit from pairs, a check) on a model whose config the LM
 * engine cannot run, with the reason finalize recorded (the config field and its value). Models finalized before
 * `forward` was recorded pass, and the worker refuses them with the same message.
 */
export function refuseWithoutForward(
  model: { id: string; summary: unknown },
  what: string,
  path: string,
): void {
  const forward = (model.summary as { forward?: { supported: boolean; reason?: string } } | null)?.forward;
  if (!forward || forward.supported) return;
  const detail =
    `Cannot ${what} on model '${model.id}' as profs cannot run its forward pass: ${forward.reason}`;
  throw new ApiError(422, "validation-error", detail, { errors: [{ path, message: detail }] });
}

/** The 409 for deleting a model or dataset that a queued or running job still needs (shared/db/repositories/in_use.ts). */
export function inUseConflict(
  what: "model" | "dataset",
  id: string,
  busy: { id: string; kind: string },
): ApiError {
  return new ApiError(
    409,
    "conflict",
    `Cannot delete ${what} '${id}' as no queued or running job may use it: ${busy.kind} '${busy.id}' does (cancel it first)`,
  );
}
