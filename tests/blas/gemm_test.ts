/**
 * The BLAS path (OpenBLAS through FFI) against the TypeScript twin on shapes that break naive products: odd sizes,
 * 1s, both transposes, offsets, padded leading dimensions, alpha and beta.
 */
import assert from "node:assert/strict";
import { type Gemm, type GemmArgs, openGemm, typescriptGemm } from "../../gpu-worker/blas/gemm.ts";
import { createLogger } from "../../shared/log.ts";
import { createRandom } from "../../gpu-worker/profs/random.ts";
import { assertClose } from "../helpers/assert_close.ts";
import { blasGemm, noBlas } from "../helpers/env.ts";

interface Case {
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  pad: number; // extra elements per stored row (ld = cols + pad)
  offset: number; // elements before each matrix
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 7, 3],
  [5, 1, 9],
  [3, 5, 1],
  [17, 13, 11],
  [
    33,
    65,
    129,
  ],
  [128, 96, 64],
  [7, 2304, 768],
]; // last: a GPT-2 QKV product on 7 tokens

function cases(): Case[] {
  const out: Case[] = [];
  SHAPES.forEach(([m, n, k], i) => {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        out.push({
          m,
          n,
          k,
          transA,
          transB,
          alpha: [1, -0.5, 2][i % 3],
          beta: [0, 1, 0.25][(i + 1) % 3],
          pad: i % 3,
          offset: (i * 5) % 7,
        });
      }
    }
  });
  return out;
}

function build<T extends Float32Array | Float64Array>(make: (n: number) => T, c: Case, seed: number) {
  const random = createRandom(seed);
  const fill = (n: number) => {
    const x = make(n);
    for (let i = 0; i < n; i++) x[i] = random.next() * 2 - 1;
    return x;
  };
  const [aRows, aCols] = c.transA ? [c.k, c.m] : [c.m, c.k];
  const [bRows, bCols] = c.transB ? [c.n, c.k] : [c.k, c.n];
  const lda = aCols + c.pad, ldb = bCols + c.pad, ldc = c.n + c.pad;
  const args: GemmArgs<T> = {
    transA: c.transA,
    transB: c.transB,
    m: c.m,
    n: c.n,
    k: c.k,
    alpha: c.alpha,
    beta: c.beta,
    a: fill(c.offset + aRows * lda),
    aOffset: c.offset,
    lda,
    b: fill(c.offset + bRows * ldb),
    bOffset: c.offset,
    ldb,
    c: fill(c.offset + c.m * ldc),
    cOffset: c.offset,
    ldc,
  };
  return args;
}

const label = (c: Case) =>
  `m=${c.m} n=${c.n} k=${c.k} ${c.transA ? "Aᵀ" : "A"}${
    c.transB ? "Bᵀ" : "B"
  } α=${c.alpha} β=${c.beta} pad=${c.pad} off=${c.offset}`;

function compare(blas: Gemm, precision: "s" | "d") {
  cases().forEach((c, i) => {
    let actual: Float32Array | Float64Array, expected: Float32Array | Float64Array;
    if (precision === "s") {
      const twin = build((n) => new Float32Array(n), c, 100 + i);
      const ffi = { ...twin, c: twin.c.slice() };
      typescriptGemm().sgemm(twin);
      blas.sgemm(ffi);
      [actual, expected] = [ffi.c, twin.c];
    } else {
      const twin = build((n) => new Float64Array(n), c, 100 + i);
      const ffi = { ...twin, c: twin.c.slice() };
      typescriptGemm().dgemm(twin);
      blas.dgemm(ffi);
      [actual, expected] = [ffi.c, twin.c];
    }
    // float32: BLAS accumulates k products of |x| ≤ 1 in float32 (the twin in float64): error ≲ k·2⁻²⁴·|α|,
    // under 2e-5 for k = 768 with blocked sums; float64: the same at 2⁻⁵³. Padding and the offset prefix must be
    // untouched, so the whole C array is compared.
    assertClose(actual, expected, {
      atol: precision === "s" ? 1e-4 : 1e-12,
      rtol: precision === "s" ? 1e-5 : 1e-12,
      label: `${precision}gemm ${label(c)}`,
    });
  });
}

Deno.test({
  name: "openGemm() loads OpenBLAS and names it with its thread count",
  ignore: noBlas(),
  fn() {
    assert.match(blasGemm.name, /^openblas .*libopenblas\S* \S+ \(\d+ threads\)$/);
  },
});

Deno.test({
  name:
    "sgemm on OpenBLAS equals the TypeScript twin on odd shapes, transposes, offsets, padding, alpha and beta",
  ignore: noBlas(),
  fn: () => compare(blasGemm, "s"),
});

Deno.test({
  name:
    "dgemm on OpenBLAS equals the TypeScript twin on odd shapes, transposes, offsets, padding, alpha and beta",
  ignore: noBlas(),
  fn: () => compare(blasGemm, "d"),
});

Deno.test({
  name: "beta = 0 overwrites C: NaN already in C does not survive, on both paths",
  fn() {
    for (const gemm of noBlas() ? [typescriptGemm()] : [typescriptGemm(), blasGemm]) {
      const c = new Float32Array([NaN, NaN, NaN, NaN]);
      gemm.sgemm({
        transA: false,
        transB: false,
        m: 2,
        n: 2,
        k: 1,
        a: new Float32Array([1, 2]),
        lda: 1,
        b: new Float32Array([3, 4]),
        ldb: 2,
        c,
        ldc: 2,
      });
      assert.deepEqual([...c], [3, 4, 6, 8], gemm.name);
    }
  },
});

Deno.test({
  name: "k = 0 leaves beta·C, and an empty product touches nothing, on both paths",
  fn() {
    for (const gemm of noBlas() ? [typescriptGemm()] : [typescriptGemm(), blasGemm]) {
      const c = new Float64Array([1, 2, 3, 4]);
      const empty = new Float64Array(0);
      gemm.dgemm({
        transA: false,
        transB: false,
        m: 2,
        n: 2,
        k: 0,
        a: empty,
        lda: 1,
        b: empty,
        ldb: 2,
        beta: 0.5,
        c,
        ldc: 2,
      });
      assert.deepEqual([...c], [0.5, 1, 1.5, 2], gemm.name);
      gemm.dgemm({
        transA: false,
        transB: false,
        m: 0,
        n: 2,
        k: 3,
        a: empty,
        lda: 3,
        b: new Float64Array(6),
        ldb: 2,
        c,
        ldc: 2,
      });
      assert.deepEqual([...c], [0.5, 1, 1.5, 2], gemm.name);
    }
  },
});

Deno.test("gemm refuses an array too short for the product instead of reading past it", () => {
  for (const gemm of [typescriptGemm(), blasGemm]) {
    assert.throws(
      () =>
        gemm.sgemm({
          transA: true,
          transB: false,
          m: 3,
          n: 2,
          k: 2,
          a: new Float32Array(5), // Aᵀ stored [k=2, lda=3] needs 6
          lda: 3,
          b: new Float32Array(4),
          ldb: 2,
          c: new Float32Array(6),
          ldc: 2,
        }),
      (e: Error) => e instanceof RangeError && e.message.includes("'a' must hold 6 elements"),
    );
    assert.throws(
      () =>
        gemm.sgemm({
          transA: false,
          transB: false,
          m: 1,
          n: 2,
          k: 3,
          a: new Float32Array(3),
          lda: 3,
          b: new Float32Array(6),
          ldb: 1, // rows of B hold n = 2
          c: new Float32Array(2),
          ldc: 2,
        }),
      (e: Error) => e instanceof RangeError && e.message.includes("'ldb' must be at least max(1, 2)"),
    );
  }
});

Deno.test("openGemm() falls back to the TypeScript twin with one log line naming what to install", () => {
  const lines: string[] = [];
  const gemm = openGemm({
    library: "/nonexistent/libopenblas.so.0",
    threads: 1,
    logger: createLogger({ write: (l) => lines.push(l) }),
  });
  assert.equal(gemm.name, "typescript");
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  assert.equal(line.level, "warn");
  assert.match(line.msg, /libopenblas0-pthread/);
  assert.match(line.msg, /PROFS_BLAS_LIB/);
});

Deno.test("PROFS_THREADS sizes the threads; anything but a positive integer is refused", async () => {
  const { blasThreads } = await import("../../gpu-worker/blas/gemm.ts");
  assert.equal(blasThreads((k) => (k === "PROFS_THREADS" ? "3" : undefined)), 3);
  assert.equal(blasThreads(() => undefined), Math.max(1, navigator.hardwareConcurrency));
  assert.throws(
    () => blasThreads(() => "0"),
    (e: Error) => e instanceof RangeError && e.message.includes("'PROFS_THREADS' must be a positive integer"),
  );
  assert.throws(
    () => blasThreads(() => "two"),
    (e: Error) => e instanceof RangeError && e.message.includes("current value is 'two'"),
  );
});

Deno.test({
  name: "openGemm({ threads }) sets OpenBLAS's thread count",
  ignore: noBlas(),
  fn() {
    const one = openGemm({ threads: 1 });
    assert.match(one.name, /\(1 threads\)$/);
    openGemm({ threads: Math.max(1, navigator.hardwareConcurrency) }); // restore for the other tests
  },
});

Deno.test({
  name: "openGemm() tells OpenBLAS's idle threads to sleep at once, unless the user chose a timeout",
  ignore: noBlas(),
  async fn() {
    const script = `import { openGemm } from ${
      JSON.stringify(new URL("../../gpu-worker/blas/gemm.ts", import.meta.url).href)
    };
openGemm(); console.log(Deno.env.get("OPENBLAS_THREAD_TIMEOUT"));`;
    const timeoutAfterOpen = async (given?: string) => {
      // A clean environment: this process's own OpenBLAS may have set the variable already.
      const keep = ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "PROFS_BLAS_LIB"];
      const env: Record<string, string> = { PROFS_LOG_LEVEL: "error" };
      for (const name of keep) if (Deno.env.get(name)) env[name] = Deno.env.get(name)!;
      if (given !== undefined) env.OPENBLAS_THREAD_TIMEOUT = given;
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", script],
        env,
        clearEnv: true,
      }).output();
      assert.ok(output.success, new TextDecoder().decode(output.stderr));
      return new TextDecoder().decode(output.stdout).trim();
    };
    assert.equal(await timeoutAfterOpen(), "4");
    assert.equal(await timeoutAfterOpen("12"), "12");
  },
});
