/**
 * Every kernel has its three parts in their homes (docs/ARCHITECTURE.md, "Kernels"): `shaders/<name>.wgsl`, and
 * `gpu-worker/kernels/<name>.ts` holding the wrapper and the plain-TypeScript twin (an exported `…Cpu` function),
 * the test oracle. Shared helpers of the wrappers (not kernels) are listed here by name.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** Files in gpu-worker/kernels/ that are helpers of the wrappers, not kernels. */
const HELPERS = new Set(["dims"]);

/** What breaks the pairing: a shader without a wrapper, a wrapper without a shader or without a twin. */
export function kernelPairProblems(shaders: string[], wrappers: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const name of shaders) {
    if (!wrappers.has(name)) problems.push(`shaders/${name}.wgsl has no gpu-worker/kernels/${name}.ts`);
  }
  for (const [name, source] of wrappers) {
    if (HELPERS.has(name)) continue;
    if (!shaders.includes(name)) problems.push(`gpu-worker/kernels/${name}.ts has no shaders/${name}.wgsl`);
    if (!/^export function \w+Cpu\b/m.test(source)) {
      problems.push(`gpu-worker/kernels/${name}.ts exports no CPU twin (a function named …Cpu)`);
    }
  }
  return problems;
}

function names(dir: string, ext: string): string[] {
  return [...Deno.readDirSync(`${ROOT}/${dir}`)]
    .filter((e) => e.isFile && e.name.endsWith(ext))
    .map((e) => e.name.slice(0, -ext.length))
    .sort();
}

Deno.test("every shaders/<name>.wgsl pairs with gpu-worker/kernels/<name>.ts, which exports its CPU twin", () => {
  const shaders = names("shaders", ".wgsl");
  const wrappers = new Map(
    names("gpu-worker/kernels", ".ts").map((
      n,
    ) => [n, Deno.readTextFileSync(`${ROOT}/gpu-worker/kernels/${n}.ts`)]),
  );
  assert.ok(shaders.length > 10, `found only ${shaders.length} shaders`);
  assert.deepEqual(kernelPairProblems(shaders, wrappers), []);
});

Deno.test("kernelPairProblems names a lone shader, a lone wrapper and a wrapper without a twin", () => {
  const problems = kernelPairProblems(
    ["gram", "orphan"],
    new Map([
      ["gram", "export function encodeGram() {}\nexport function gramCpu() {}\n"],
      ["lonely", "export function lonelyCpu() {}\n"],
      ["rows_dot", "export function encodeRowsDot() {}\n"],
      ["dims", "export function checkDims() {}\n"],
    ]),
  );
  assert.deepEqual(problems, [
    "shaders/orphan.wgsl has no gpu-worker/kernels/orphan.ts",
    "gpu-worker/kernels/lonely.ts has no shaders/lonely.wgsl",
    "gpu-worker/kernels/rows_dot.ts has no shaders/rows_dot.wgsl",
    "gpu-worker/kernels/rows_dot.ts exports no CPU twin (a function named …Cpu)",
  ]);
});
