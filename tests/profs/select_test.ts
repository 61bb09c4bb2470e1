/**
 * `--backend auto` picks webgpu only on a hardware adapter; a software adapter (lavapipe/llvmpipe, SwiftShader,
 * WARP) or none gives cpu. Fake adapters are injected through the probe: no globals are patched.
 */
import assert from "node:assert/strict";
import { decideBackend, openBackend } from "../../gpu-worker/profs/select.ts";
import { InputError } from "../../shared/errors.ts";

function fakeAdapter(
  info: { description: string; vendor?: string; isFallbackAdapter?: boolean },
): GPUAdapter {
  const limits = {
    maxBufferSize: 2 ** 30,
    maxStorageBufferBindingSize: 2 ** 30,
    maxComputeWorkgroupStorageSize: 32768,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupsPerDimension: 65535,
  };
  return {
    info: { vendor: "", architecture: "", device: "", isFallbackAdapter: false, ...info },
    limits,
  } as unknown as GPUAdapter;
}

const probe = (adapter: GPUAdapter | null) => ({ requestAdapter: () => Promise.resolve(adapter) });

for (
  const description of [
    "llvmpipe (LLVM 15.0.7, 256 bits)",
    "lavapipe",
    "SwiftShader Device (Subzero)",
    "Microsoft Basic Render Driver (WARP)",
  ]
) {
  Deno.test(`auto with only a software adapter (${description}) → cpu, and the reason says so`, async () => {
    const decision = await decideBackend("auto", probe(fakeAdapter({ description })));
    assert.equal(decision.name, "cpu");
    assert.match(decision.reason, /^auto: .*software/);
    assert.ok(decision.reason.includes(description), decision.reason);
  });
}

Deno.test("auto with an adapter that calls itself a fallback → cpu", async () => {
  const decision = await decideBackend(
    "auto",
    probe(fakeAdapter({ description: "Some GPU", isFallbackAdapter: true })),
  );
  assert.equal(decision.name, "cpu");
});

Deno.test("auto with a hardware adapter → webgpu on that adapter", async () => {
  const adapter = fakeAdapter({ description: "NVIDIA H100 80GB HBM3", vendor: "nvidia" });
  const decision = await decideBackend("auto", probe(adapter));
  assert.equal(decision.name, "webgpu");
  assert.equal(decision.adapter, adapter);
  assert.equal(decision.reason, "auto: hardware WebGPU adapter NVIDIA H100 80GB HBM3");
});

Deno.test("auto without any adapter → cpu; the reason names the CPU products' library", async () => {
  const decision = await decideBackend("auto", probe(null));
  assert.equal(decision.name, "cpu");
  assert.match(decision.reason, /^auto: no WebGPU adapter, CPU products on (openblas|typescript)/);
});

Deno.test("--backend cpu never asks for an adapter; --backend webgpu takes a software adapter but says so", async () => {
  const never = { requestAdapter: () => Promise.reject(new Error("asked for an adapter")) };
  assert.equal((await decideBackend("cpu", never)).name, "cpu");
  const soft = await decideBackend("webgpu", probe(fakeAdapter({ description: "llvmpipe (LLVM 15)" })));
  assert.equal(soft.name, "webgpu");
  assert.match(soft.reason, /software adapter llvmpipe/);
  await assert.rejects(decideBackend("webgpu", probe(null)), InputError);
});

Deno.test("openBackend on a software adapter opens the cpu backend", async () => {
  const { backend, decision } = await openBackend("auto", probe(fakeAdapter({ description: "llvmpipe" })));
  assert.equal(backend.name, "cpu");
  assert.equal(decision.name, "cpu");
  backend.dispose();
});
