/** What every client command shares: its flags (`--json`, `--help`), the configured service, its usage. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { InputError } from "../../shared/errors.ts";
import { requireConfig } from "./config.ts";
import { type Http, http } from "./http.ts";

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  json: boolean;
}

/** Parses `args` with the command's options plus `--json` and `--help`; prints `usage` and returns null on help. */
export function parse(args: string[], options: ParseArgsConfig["options"], usage: string): Parsed | null {
  const { values, positionals } = parseArgs({
    args,
    options: { ...options, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) {
    console.log(usage);
    return null;
  }
  return { values: values as Parsed["values"], positionals, json: values.json === true };
}

export async function service(): Promise<Http> {
  return http(await requireConfig());
}

/** Picks the action (first positional) from `actions`, or throws naming them. */
export function action(
  what: string,
  positionals: string[],
  actions: readonly string[],
  usage: string,
): string {
  const [name] = positionals;
  if (!name) {
    console.error(usage);
    throw new InputError(
      `Cannot run 'profs ${what}' as an action must be given: one of ${actions.join(", ")}`,
    );
  }
  if (!actions.includes(name)) {
    throw new InputError(
      `Cannot run 'profs ${what}' as the action must be one of ${
        actions.join(", ")
      }: current value is '${name}'`,
    );
  }
  return name;
}

/** Exactly `n` positionals after the action, else an InputError naming what is expected. */
export function operands(positionals: string[], names: string[], what: string): string[] {
  const rest = positionals.slice(1);
  if (rest.length !== names.length) {
    throw new InputError(
      `Cannot ${what} as ${names.length ? names.join(" ") : "no argument"} must be given: current count is ` +
        `${rest.length}`,
    );
  }
  return rest;
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function intFlag(value: unknown, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new InputError(
      `Cannot use '${flag}' as it must be an integer from ${min} to ${max}: current value is '${value}'`,
    );
  }
  return n;
}
