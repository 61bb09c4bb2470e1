/** Runs `profs ARGS` against a served API, as a user would type it, capturing what it prints. */
import assert from "node:assert/strict";
import type { Served } from "../worker/harness.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `profs ARGS` against `s` with tenant A's key, capturing what it prints. A process of its own: the client
 * reads its service and key from the environment, which is one per process, and test files run side by side
 * in one process (`deno test --parallel`), so an in-process run could talk to another file's server.
 */
export async function profs(s: Served, args: string[], key = s.keyA.Authorization.slice(7)): Promise<Ran> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    env: { PROFS_URL: s.base, PROFS_API_KEY: key, PROFS_CONFIG: "/nonexistent/profs.json" },
    stdin: "null",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).replace(/\n$/, "");
  return { code: output.code, stdout: text(output.stdout), stderr: text(output.stderr) };
}

export async function ok(s: Served, args: string[], key?: string): Promise<Ran> {
  const ran = await profs(s, args, key);
  assert.equal(ran.code, 0, `profs ${args.join(" ")} failed:\n${ran.stderr}`);
  return ran;
}

export const jsonOf = (ran: Ran) => JSON.parse(ran.stdout);
