/** The retry decision's input: which failures are the user's (fail now) and which are worth another attempt. */
import assert from "node:assert/strict";
import { classifyJobError } from "../../gpu-worker/worker/jobs/job_error.ts";
import { createProgressReporter } from "../../gpu-worker/worker/jobs/progress.ts";
import { DeviceLostError, KernelError } from "../../gpu-worker/runtime/errors.ts";
import { CapacityError, DiskSpaceError, InputError } from "../../shared/errors.ts";
import { type JobErrorClass, type JobErrorCode } from "../../gpu-worker/worker/jobs/job_error.ts";
import { deserializeError, serializeError } from "../../gpu-worker/worker/jobs/thread_messages.ts";
import { ThreadLostError } from "../../gpu-worker/worker/jobs/thread_lost.ts";

Deno.test("classifyJobError: the user's input fails at once with their message", () => {
  const c = classifyJobError(new InputError("Cannot read dataset 'x' as line 2 must be JSON"));
  assert.deepEqual(c, {
    code: "bad_input",
    message: "Cannot read dataset 'x' as line 2 must be JSON",
    detail: "Cannot read dataset 'x' as line 2 must be JSON",
    retryable: false,
    class: "user_input",
    lost: false,
  });
});

Deno.test("classifyJobError: a lost GPU device is retried", () => {
  const c = classifyJobError(new DeviceLostError("matmul", "unknown", "driver reset"));
  assert.equal(c.code, "device_lost");
  assert.equal(c.retryable, true);
  assert.match(c.message, /device was lost/);
});

Deno.test("classifyJobError: each class of error gets its retry decision by type, also after a thread boundary", () => {
  const cases: [Error, JobErrorCode, JobErrorClass, boolean][] = [
    [new InputError("Cannot read dataset 'x' as line 2 must be JSON"), "bad_input", "user_input", false],
    [
      new InputError(
        "Cannot compute perplexity as the held-out texts must give at least one predicted token (a text of " +
          "two or more tokens): the 1 text gives none",
      ),
      "bad_input",
      "user_input",
      false,
    ],
    [
      new CapacityError("device_memory", "Cannot run batch(matmul) as the GPU ran out of memory"),
      "capacity",
      "capacity",
      false,
    ],
    [
      new CapacityError(
        "device_buffer",
        "Cannot allocate 9 bytes for 'x' as one GPU storage buffer must be at most 8 bytes",
      ),
      "capacity",
      "capacity",
      false,
    ],
    [
      new CapacityError(
        "worker_memory",
        "Cannot finish the edit task as its compute thread must stay within 64 MiB",
      ),
      "capacity",
      "capacity",
      false,
    ],
    [
      new DiskSpaceError("Cannot write as the filesystem must have 1 GiB free"),
      "no_disk_space",
      "capacity",
      true,
    ],
    [new DeviceLostError("matmul", "unknown", "driver reset"), "device_lost", "device", true],
    [new KernelError("gram", "binding failed"), "gpu_error", "device", true],
    [new ThreadLostError("edit", "exited (code 1)"), "thread_lost", "internal", true],
    [new Error("ECONNRESET"), "internal", "internal", true],
  ];
  for (const [error, code, kind, retryable] of cases) {
    // A ThreadLostError is made on the worker's side of the boundary (the thread is gone): it never crosses.
    const crossed = error instanceof ThreadLostError ? [] : [deserializeError(serializeError(error))];
    for (const e of [error, ...crossed]) {
      const c = classifyJobError(e);
      assert.deepEqual([c.code, c.class, c.retryable], [code, kind, retryable], `${e.name}: ${e.message}`);
      assert.equal(c.lost, e instanceof ThreadLostError, "only a dead thread is a lost attempt");
    }
  }
  const capacity = classifyJobError(cases[2][0]);
  assert.equal(capacity.message, cases[2][0].message, "a capacity error's advice reaches the user verbatim");
});

Deno.test("classifyJobError: out-of-memory words inside an InputError or a plain Error are not capacity (type, not text)", () => {
  const words =
    "dispatch failed: Out of memory; allocation failed; OutOfMemory; Array buffer allocation failed";
  assert.deepEqual(
    [
      new InputError(`Cannot read dataset 'x' as line 1 says '${words}'`),
      new RangeError(words),
      new KernelError("m", words),
    ]
      .flatMap((e) => [e, deserializeError(serializeError(e))])
      .map((e) => classifyJobError(e).code),
    ["bad_input", "bad_input", "internal", "internal", "gpu_error", "gpu_error"],
  );
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

Deno.test("classifyJobError: an unreachable Hub (an import) is retried with its message, by type", async () => {
  const { HubUnavailableError } = await import("../../shared/model/hub.ts");
  const c = classifyJobError(new HubUnavailableError("The Hub at http://hub.test answered 503 for org/name"));
  assert.equal(c.code, "hub_unavailable");
  assert.equal(c.retryable, true);
  assert.match(c.message, /answered 503 .* will be retried/);
  // The same words in a plain Error are not the Hub's: internal, worded, not shown.
  const plain = classifyJobError(new Error("The Hub at http://hub.test answered 503 for org/name"));
  assert.equal(plain.code, "internal");
});
