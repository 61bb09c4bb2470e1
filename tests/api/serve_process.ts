/**
 * `profs serve` / `profs api` as a child process, for the tests that need a real process (a crash, a signal, a
 * client dying mid-upload): its bootstrap key, and a start that resolves once it prints the URL it listens on.
 */

export const MAIN = new URL("../../main.ts", import.meta.url).pathname;
export const BOOTSTRAP_KEY = "test-bootstrap-key-0123456789-abcdefghij";

/**
 * `profs <args>` with `env` (PROFS_BOOTSTRAP_KEY is the test key), stdout read until the process says where it
 * listens; stderr is dropped. Resolves with the child and that URL.
 */
export async function spawnProfs(
  args: string[],
  env: Record<string, string>,
): Promise<{ child: Deno.ChildProcess; url: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, ...args],
    env: { PROFS_BOOTSTRAP_KEY: BOOTSTRAP_KEY, ...env },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/listening on (\S+)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited before listening: ${out}`);
    out += value;
  }
  reader.releaseLock();
  return { child, url: /listening on (\S+)/.exec(out)![1] };
}
