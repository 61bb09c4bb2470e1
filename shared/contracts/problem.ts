/**
 * RFC 9457 problem details: the body of every error response (`application/problem+json`).
 *
 * `type` is a URI reference naming the kind of problem; ours are relative (`/docs#problem-<slug>`) so a client
 * can resolve it against the API's base URL and land on the docs entry that explains it (RFC 9457 §3.1.1 asks
 * that a type URI, when dereferenced, give human-readable documentation).
 */
import { z } from "zod";

export const FieldError = z.object({
  path: z.string().meta({
    description: "where the problem is: a JSON pointer-like path, or `line N` for uploads",
  }),
  message: z.string(),
}).meta({ id: "FieldError" });
export type FieldError = z.infer<typeof FieldError>;

export const ProblemDetails = z.object({
  type: z.string().meta({ example: "/docs#problem-validation-error" }),
  title: z.string().meta({ example: "Validation error" }),
  status: z.int().meta({ example: 422 }),
  detail: z.string(),
  instance: z.string().optional().meta({ description: "the request path" }),
  request_id: z.string().meta({
    description: "also in the X-Request-Id response header and the server's logs",
  }),
  errors: z.array(FieldError).optional(),
}).meta({ id: "ProblemDetails", description: "RFC 9457 problem details" });
export type ProblemDetails = z.infer<typeof ProblemDetails>;

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** The problem types this API returns, with the title each one carries. */
export const PROBLEM_TYPES = {
  "bad-request": "Bad request",
  "malformed-json": "Malformed JSON",
  "validation-error": "Validation error",
  unauthorized: "Unauthorized",
  forbidden: "Forbidden",
  "not-found": "Not found",
  "method-not-allowed": "Method not allowed",
  conflict: "Conflict",
  "idempotency-key-reused": "Idempotency-Key reused",
  "payload-too-large": "Payload too large",
  "unsupported-media-type": "Unsupported media type",
  "range-not-satisfiable": "Range not satisfiable",
  "invalid-model": "Invalid model",
  "invalid-dataset": "Invalid dataset",
  "invalid-upload": "Invalid upload",
  "too-many-requests": "Too many requests",
  "insufficient-storage": "Insufficient storage",
  "service-unavailable": "Service unavailable",
  "internal-error": "Internal server error",
} as const;
export type ProblemType = keyof typeof PROBLEM_TYPES;

export function problemTypeUri(type: ProblemType): string {
  return `/docs#problem-${type}`;
}
