/** Runs `profs ARGS` in this process against a served API, as a user would type it, capturing what it prints. */
import assert from "node:assert/strict";
import { main } from "../../main.ts";
import type { Served } from "../worker/harness.ts";

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `profs ARGS` in this process against `s` with tenant A's key, capturing what it prints. */
export async function profs(s: Served, args: string[], key = s.keyA.Authorization.slice(7)): Promise<Ran> {
  const out: string[] = [], err: string[] = [];
  const { log, error } = console;
  const env = { PROFS_URL: s.base, PROFS_API_KEY: key, PROFS_CONFIG: "/nonexistent/profs.json" };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, Deno.env.get(k)]));
  for (const [k, v] of Object.entries(env)) Deno.env.set(k, v);
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    let code: number;
    try {
      code = await main(args);
    } catch (e) {
      err.push(String(e));
      code = 1;
    }
    return { code, stdout: out.join("\n"), stderr: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
    for (const [k, v] of Object.entries(saved)) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
}

export async function ok(s: Served, args: string[], key?: string): Promise<Ran> {
  const ran = await profs(s, args, key);
  assert.equal(ran.code, 0, `profs ${args.join(" ")} failed:\n${ran.stderr}`);
  return ran;
}

export const jsonOf = (ran: Ran) => JSON.parse(ran.stdout);
