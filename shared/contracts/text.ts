/**
 * Text Postgres can store. Postgres `text` refuses NUL (U+0000), and an unpaired UTF-16 surrogate has no UTF-8
 * encoding, so either would reach the database as a 500 (or, in a job's result, as a retried internal error).
 * Every string a tenant supplies goes through `pgText` (request fields, path and query parameters) or
 * `pgTextProblem` (texts read from a dataset), so it is refused at the door as the tenant's error, naming
 * the field.
 */
import { z } from "zod";

/** Why `text` cannot be stored, or null when it can. */
export function pgTextProblem(text: string): string | null {
  if (text.includes("\u0000")) return "must not contain NUL (U+0000)";
  // A high surrogate not followed by a low one, or a low one not preceded by a high one.
  if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)) {
    return "must not contain an unpaired UTF-16 surrogate";
  }
  return null;
}

/** `schema` plus the rule: no NUL and no unpaired surrogate. */
export function pgText<T extends z.ZodString>(schema: T): T {
  return schema.superRefine((value, ctx) => {
    const problem = pgTextProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }) as T;
}
