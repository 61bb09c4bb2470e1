/** `profs worker`'s configuration: where blobs live, what it refuses to start without. */
import assert from "node:assert/strict";
import { run } from "../../gpu-worker/cli/worker.ts";
import { blobStoreConfigFromEnv } from "../../shared/blobs/from_env.ts";
import { InputError } from "../../shared/errors.ts";

Deno.test("the blob directory: PROFS_BLOB_DIR, else PROFS_DATA_DIR/blobs, else .data/blobs (as the API)", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.deepEqual(
    blobStoreConfigFromEnv(env({ PROFS_BLOB_DIR: "/shared/blobs", PROFS_DATA_DIR: "/d" })),
    { kind: "local", dir: "/shared/blobs" },
  );
  assert.deepEqual(blobStoreConfigFromEnv(env({ PROFS_DATA_DIR: "/d" })), { kind: "local", dir: "/d/blobs" });
  assert.deepEqual(blobStoreConfigFromEnv(env({})), { kind: "local", dir: ".data/blobs" });
});

Deno.test("profs worker rejects bad timings, and refuses to start without DATABASE_URL", async () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const database = env({ DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" });
  await assert.rejects(
    run(["--lease-ms", "soon"], database),
    (error: Error) =>
      error instanceof InputError && /'--lease-ms' must be a whole number/.test(error.message),
  );
  await assert.rejects(
    run(["--max-job-seconds", "0"], database),
    (error: Error) =>
      error instanceof InputError &&
      error.message ===
        "Cannot start a worker as '--max-job-seconds' must be a positive number of seconds: current value is '0'",
  );
  await assert.rejects(
    run([], env({})),
    (error: Error) => error instanceof InputError && /DATABASE_URL/.test(error.message),
  );
});
