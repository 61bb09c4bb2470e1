/**
 * API key scopes: `<resource>:<read|write>`, or `*` for all. `write` does not imply `read`: a key for a CI
 * pipeline that only submits edits can be given exactly `edits:write`.
 */
import { InputError } from "../../shared/errors.ts";

export const SCOPES = [
  "models:read",
  "models:write",
  "datasets:read",
  "datasets:write",
  "edits:read",
  "edits:write",
  "checks:read",
  "checks:write",
  "webhooks:read",
  "webhooks:write",
  "triggers:read",
  "triggers:write",
] as const;
export type Scope = typeof SCOPES[number];
export const ALL_SCOPES = "*";

export function hasScope(granted: readonly string[], needed: Scope): boolean {
  return granted.includes(ALL_SCOPES) || granted.includes(needed);
}

/** Parses a comma-separated scope list as typed on the command line; unknown names are an InputError. */
export function parseScopes(text: string): string[] {
  const scopes = [...new Set(text.split(",").map((s) => s.trim()).filter(Boolean))];
  if (scopes.length === 0) {
    throw new InputError(
      `Cannot create a key as '--scopes' must name at least one scope: current value is '${text}'`,
    );
  }
  for (const scope of scopes) {
    if (scope !== ALL_SCOPES && !(SCOPES as readonly string[]).includes(scope)) {
      throw new InputError(
        `Cannot create a key as '--scopes' must list '*' or any of ${
          SCOPES.join(", ")
        }: current value is '${scope}'`,
      );
    }
  }
  return scopes;
}
