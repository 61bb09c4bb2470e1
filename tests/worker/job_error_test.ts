/** The retry decision's input: which failures are the user's (fail now) and which are worth another attempt. */
import assert from "node:assert/strict";
import { classifyJobError } from "../../gpu-worker/worker/jobs/job_error.ts";
import { createProgressReporter } from "../../gpu-worker/worker/jobs/progress.ts";
import { DeviceLostError, KernelError } from "../../gpu-worker/runtime/errors.ts";
import { InputError } from "../../shared/errors.ts";

Deno.test("classifyJobError: the user's input fails at once with their message", () => {
  const c = classifyJobError(new InputError("Cannot read dataset 'x' as line 2 must be JSON"));
  assert.deepEqual(c, {
    code: "bad_input",
    message: "Cannot read dataset 'x' as line 2 must be JSON",
    detail: "Cannot read dataset 'x' as line 2 must be JSON",
    retryable: false,
  });
});

Deno.test("classifyJobError: a lost GPU device is retried", () => {
  const c = classifyJobError(new DeviceLostError("matmul", "unknown", "driver reset"));
  assert.equal(c.code, "device_lost");
  assert.equal(c.retryable, true);
  assert.match(c.message, /device was lost/);
});

Deno.test("classifyJobError: out of memory (GPU or host) is not retried and says what to reduce", () => {
  for (
    const error of [
      new KernelError("batch(matmul)", "dispatch failed: Out of memory"),
      new RangeError("Array buffer allocation failed"),
    ]
  ) {
    const c = classifyJobError(error);
    assert.equal(c.code, "out_of_memory", error.message);
    assert.equal(c.retryable, false);
    assert.match(c.message, /max_pairs/);
  }
});

Deno.test("classifyJobError: other kernel errors and unknown errors are retried", () => {
  assert.deepEqual(
    [classifyJobError(new KernelError("gram", "binding failed")), classifyJobError(new Error("ECONNRESET"))]
      .map((c) => [c.code, c.retryable]),
    [["gpu_error", true], ["internal", true]],
  );
});

Deno.test("progress reporter: writes on stage change and stage end, throttles within a stage, keeps order", async () => {
  const writes: string[] = [];
  let clock = 0;
  let lost = 0;
  const reporter = createProgressReporter((p) => {
    writes.push(`${p.stage} ${p.done}/${p.total}`);
    return Promise.resolve(p.stage !== "writing");
  }, { intervalMs: 100, onLeaseLost: () => lost++, now: () => clock });
  reporter.report("embedding", 1, 4);
  clock = 50;
  reporter.report("embedding", 2, 4); // throttled: 50 ms after the last write
  clock = 150;
  reporter.report("embedding", 3, 4);
  clock = 160;
  reporter.report("embedding", 4, 4); // the end of a stage always goes out
  reporter.report("svd", 1, 2); // so does a new stage
  reporter.report("writing", 1, 1);
  await reporter.flush();
  assert.deepEqual(writes, ["embedding 1/4", "embedding 3/4", "embedding 4/4", "svd 1/2", "writing 1/1"]);
  assert.equal(lost, 1, "a write that matched no row means the lease is lost");
});

Deno.test("classifyJobError: a worker's full disk is retried (the machine's problem), also after a thread boundary", async () => {
  const { DiskSpaceError } = await import("../../shared/errors.ts");
  const { deserializeError, serializeError } = await import(
    "../../gpu-worker/worker/jobs/thread_messages.ts"
  );
  const error = new DiskSpaceError(
    "Cannot write the edited model as the output's filesystem must have 1.00 GiB free",
  );
  for (const e of [error, deserializeError(serializeError(error))]) {
    const c = classifyJobError(e);
    assert.equal(c.code, "no_disk_space");
    assert.equal(c.retryable, true);
    assert.match(c.message, /disk was too full .* must have 1\.00 GiB free/);
  }
});

Deno.test("classifyJobError: an internal error's message shows the tenant no SQL, lease token or server path", () => {
  const leaked = new Error(
    `Failed query: update "jobs" set "result" = $1 where ("jobs"."lease_token" = 'f3a9c1d2-lease') ` +
      `params: /var/lib/profs/blobs/jobs/123/out.safetensors`,
  );
  for (const error of [leaked, new KernelError("gram", leaked.message)]) {
    const c = classifyJobError(error);
    assert.doesNotMatch(c.message, /update|jobs"|lease|f3a9c1d2|\/var\/lib/, c.message);
    assert.match(c.detail, /f3a9c1d2/, "the worker's log keeps the whole message");
  }
});
