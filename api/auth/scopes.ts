/**
 * API key scopes: `<resource>:<read|write>`, or `*` for all of them. `write` does not imply `read`: a key for a
 * CI pipeline that only submits edits can be given exactly `edits:write`.
 *
 * `admin` is the operator's scope and sits outside `*`: it lets a key manage the keys of any tenant (create a
 * tenant by minting its first key). `*` alone stays within the key's own tenant, so a tenant's all-scopes key
 * can never reach another tenant. PROFS_BOOTSTRAP_KEY holds `*` and `admin`.
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
  "keys:read",
  "keys:write",
] as const;
export type Scope = typeof SCOPES[number];
export const ALL_SCOPES = "*";
export const ADMIN_SCOPE = "admin";

/** Operator keys: may manage any tenant's keys. Never implied by `*`. */
export function isAdmin(granted: readonly string[]): boolean {
  return granted.includes(ADMIN_SCOPE);
}

/**
 * The scopes of `granted` that a key holding them may hand on: a key cannot mint a key stronger than itself.
 * Returns the first requested scope it may not grant, or null when all are covered.
 */
export function ungrantable(granted: readonly string[], requested: readonly string[]): string | null {
  for (const scope of requested) {
    if (
      scope === ADMIN_SCOPE ? !isAdmin(granted) : !granted.includes(ALL_SCOPES) && !granted.includes(scope)
    ) {
      return scope;
    }
  }
  return null;
}

export function hasScope(granted: readonly string[], needed: Scope): boolean {
  return granted.includes(ALL_SCOPES) || granted.includes(needed);
}

/** Parses a comma-separated scope list as typed on the command line; unknown names are an InputError. */
export function parseScopes(text: string): string[] {
  return checkScopes(text.split(","), "--scopes", text);
}

/** The distinct scopes of a list (as sent in an API body); unknown names are an InputError naming the culprit. */
export function checkScopes(list: readonly string[], field = "scopes", text = list.join(",")): string[] {
  const scopes = [...new Set(list.map((s) => s.trim()).filter(Boolean))];
  if (scopes.length === 0) {
    throw new InputError(
      `Cannot create a key as '${field}' must name at least one scope: current value is '${text}'`,
    );
  }
  for (const scope of scopes) {
    if (scope !== ALL_SCOPES && scope !== ADMIN_SCOPE && !(SCOPES as readonly string[]).includes(scope)) {
      throw new InputError(
        `Cannot create a key as '${field}' must list '*', 'admin' or any of ${
          SCOPES.join(", ")
        }: current value is '${scope}'`,
      );
    }
  }
  return scopes;
}
