import assert from "node:assert/strict";
import { startReceiver } from "./receiver.ts";

const script = new URL("./scripts/attempt_once.ts", import.meta.url).pathname;

async function attemptIn(
  flags: string[],
  url: string,
): Promise<{ status: number | null; error: string | null }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script, url],
    stderr: "piped",
  })
    .output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  return JSON.parse(new TextDecoder().decode(output.stdout));
}

Deno.test("a dispatcher process started with --deny-net refuses loopback even when the allowlist lets it through", async () => {
  const receiver = startReceiver();
  try {
    const allowed = await attemptIn(["--allow-all"], `${receiver.url}/hook`);
    assert.equal(allowed.status, 200, "control: without the flag the allow-listed receiver is reached");
    for (const host of ["127.0.0.1", "[::ffff:127.0.0.1]", "2130706433"]) {
      const denied = await attemptIn(
        ["--allow-all", "--deny-net=127.0.0.0/8,10.0.0.0/8,169.254.0.0/16,[::1]"],
        `http://${host}:${receiver.port}/hook`,
      );
      assert.equal(denied.status, null, host);
      assert.match(denied.error!, /Requires net access/, host);
    }
    assert.equal(receiver.requests.length, 1);
  } finally {
    await receiver.close();
  }
});
