/**
 * One error type for handlers and middleware, one place that turns errors into responses.
 *
 * Handlers `throw new ApiError(status, type, detail)`; `onError` renders every error as RFC 9457
 * `application/problem+json` carrying the request id. What else can reach it: hono's own HTTPExceptions
 * (malformed JSON, unsupported media type, body limit), zod errors from the request validators, `DiskSpaceError`s
 * (the server's disk is full → 507), `InputError`s from shared code (the user's fault → 422), and anything unexpected, which is logged with its stack and
 * answered with a 500 that reveals nothing but the request id.
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ZodError } from "zod";
import {
  type FieldError,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPES,
  type ProblemDetails,
  type ProblemType,
  problemTypeUri,
} from "../shared/contracts/problem.ts";
import { DiskSpaceError, InputError } from "../shared/errors.ts";
import type { Logger } from "../shared/log.ts";

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: ProblemType,
    readonly detail: string,
    readonly options: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
  }
}

export function notFound(what: string, id: string): ApiError {
  return new ApiError(404, "not-found", `No ${what} with id '${id}' exists for this API key's tenant`);
}

/** zod issues → field errors whose path reads like the request (`params.layers.to`, `query.limit`). */
export function fieldErrors(error: ZodError, prefix: string): FieldError[] {
  return error.issues.map((issue) => {
    const keys = issue.code === "unrecognized_keys" ? [issue.keys.join(",")] : [];
    const path = [prefix, ...issue.path.map(String), ...keys].filter(Boolean).join(".");
    return { path, message: issue.message };
  });
}

/** The `defaultHook` of every OpenAPIHono sub-app: a failed validation becomes a 422 naming each field. */
export function validationHook(
  result: { success: boolean; target: string; error?: ZodError },
): void {
  if (result.success || !result.error) return;
  const where = result.target === "json" ? "body" : result.target;
  const errors = fieldErrors(result.error, where === "body" ? "" : where);
  throw new ApiError(
    422,
    "validation-error",
    `The request ${where} is not valid: ${
      errors.map((e) => `${e.path || "(root)"}: ${e.message}`).join("; ")
    }`,
    { errors },
  );
}

export function problemResponse(
  c: Context,
  status: ContentfulStatusCode,
  type: ProblemType,
  detail: string,
  options: { errors?: FieldError[]; headers?: Record<string, string> } = {},
): Response {
  const requestId: string = c.get("requestId") ?? "";
  const body: ProblemDetails = {
    type: problemTypeUri(type),
    title: PROBLEM_TYPES[type],
    status,
    detail,
    instance: c.req.path,
    request_id: requestId,
    ...(options.errors?.length ? { errors: options.errors } : {}),
  };
  const headers = new Headers(options.headers);
  headers.set("Content-Type", PROBLEM_CONTENT_TYPE);
  if (requestId) headers.set("X-Request-Id", requestId);
  return new Response(JSON.stringify(body), { status, headers });
}

const HTTP_EXCEPTION_TYPES: Partial<Record<number, ProblemType>> = {
  400: "bad-request",
  401: "unauthorized",
  403: "forbidden",
  404: "not-found",
  405: "method-not-allowed",
  413: "payload-too-large",
  415: "unsupported-media-type",
};

export function errorHandler(logger: Logger): ErrorHandler {
  return function onError(error, c) {
    if (error instanceof ApiError) {
      return problemResponse(c, error.status, error.type, error.detail, error.options);
    }
    if (error instanceof DiskSpaceError) {
      // The machine's disk, not the tenant's input: logged for the operator, answered without server paths.
      logger.warn("disk full", { request_id: c.get("requestId"), path: c.req.path, error: error.message });
      return problemResponse(
        c,
        507,
        "insufficient-storage",
        "The server has no free storage for this request; nothing was stored. Retry later",
      );
    }
    if (error instanceof InputError) return problemResponse(c, 422, "validation-error", error.message);
    if (error instanceof HTTPException) {
      const malformed = error.status === 400 && /malformed json/i.test(error.message);
      const type = malformed ? "malformed-json" : HTTP_EXCEPTION_TYPES[error.status] ?? "bad-request";
      const detail = malformed
        ? "The request body is not valid JSON"
        : error.status === 413
        ? "The request body is larger than this route accepts"
        : error.message || PROBLEM_TYPES[type];
      return problemResponse(c, error.status, type, detail);
    }
    logger.error("unhandled error", {
      request_id: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      error,
    });
    return problemResponse(
      c,
      500,
      "internal-error",
      "The server failed to handle this request; quote the request id when reporting it",
    );
  };
}

export const notFoundHandler: NotFoundHandler = function notFoundRoute(c) {
  return problemResponse(c, 404, "not-found", `No route matches ${c.req.method} ${c.req.path}`);
};
