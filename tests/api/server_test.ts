import assert from "node:assert/strict";
import { join } from "node:path";
import { f32, safetensorsBytes } from "./fixtures.ts";
import { noPostgres, testDatabaseUrl } from "../helpers/env.ts";
import { waitFor } from "../helpers/wait_for.ts";
import { BOOTSTRAP_KEY as KEY, MAIN, spawnProfs } from "./serve_process.ts";

/** `profs <command> --port 0` in a child process, its data in a temporary directory; resolves with its URL. */
function startServe(dataDir: string, command = "serve", databaseUrl = "") {
  return spawnProfs([command, "--port", "0"], {
    PROFS_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    PROFS_LOG_LEVEL: "warn",
  });
}

Deno.test("profs serve: prints its URL, serves with the bootstrap key, survives a client dying mid-upload", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "profs-serve-" });
  const { child, url } = await startServe(dataDir);
  const auth = { Authorization: `Bearer ${KEY}` };
  try {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await (await fetch(`${url}/healthz`)).json()).status, "ok");
    const created = await fetch(`${url}/v1/models`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "m" }),
    });
    assert.equal(created.status, 201);
    const id = (await created.json()).id;

    // A raw connection that promises 100000 bytes, sends a valid start of a safetensors file, and hangs up.
    const file = safetensorsBytes([{
      name: "w",
      dtype: "F32",
      shape: [25000],
      data: f32(new Array(25000).fill(1)),
    }]);
    const port = Number(new URL(url).port);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const head =
      `PUT /v1/models/${id}/files/model.safetensors HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: ${file.byteLength}\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head));
    await conn.write(file.subarray(0, 5000));
    conn.close();

    const tmp = join(dataDir, "blobs", ".tmp");
    await waitFor(async () => (await Array.fromAsync(Deno.readDir(tmp))).length === 0, {
      message: "the temporary file of the broken upload being removed",
    });
    const model = await (await fetch(`${url}/v1/models/${id}`, { headers: auth })).json();
    assert.deepEqual(model.files, []);
    assert.equal(
      await Deno.stat(join(dataDir, "blobs", "models", id, "model.safetensors")).catch(() => null),
      null,
    );

    // The same upload, complete, over fetch: stored.
    const put = await fetch(`${url}/v1/models/${id}/files/model.safetensors`, {
      method: "PUT",
      headers: auth,
      body: file,
    });
    assert.equal(put.status, 201);
    assert.equal((await put.json()).size, file.byteLength);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  } finally {
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0, "a SIGTERM shuts down cleanly");
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("profs api refuses to start without DATABASE_URL, naming the fix; serve refuses a bad worker option", async () => {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "api", "--port", "0"],
    env: { DATABASE_URL: "" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(result.code, 1);
  assert.match(new TextDecoder().decode(result.stderr), /DATABASE_URL must name the Postgres server/);
  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", MAIN, "serve", "--port", "http"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(bad.code, 1);
  assert.match(new TextDecoder().decode(bad.stderr), /'--port' must be a whole number/);
  for (
    const [args, message] of [
      [["--backend", "cuda"], /'--backend' must be auto, cpu or webgpu: current value is 'cuda'/],
      [["--max-job-seconds", "0"], /--max-job-seconds/],
    ] as const
  ) {
    const refused = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", MAIN, "serve", "--port", "0", ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(refused.code, 1, `serve ${args.join(" ")}`);
    assert.match(new TextDecoder().decode(refused.stderr), message);
  }
});

Deno.test({
  name: "profs api on a Postgres server: ready, authenticates the bootstrap key, stops on SIGTERM",
  ignore: noPostgres(),
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "profs-api-" });
    const { child, url } = await startServe(dataDir, "api", testDatabaseUrl);
    try {
      assert.equal((await (await fetch(`${url}/readyz`)).json()).status, "ready");
      const list = await fetch(`${url}/v1/edits`, { headers: { Authorization: `Bearer ${KEY}` } });
      assert.equal(list.status, 200);
      await list.body?.cancel();
    } finally {
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 0);
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
