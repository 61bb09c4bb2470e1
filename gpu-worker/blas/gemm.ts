/**
 * Dense products on the CPU: C = alpha·op(A)·op(B) + beta·C in row-major storage, float32 (`sgemm`) and float64
 * (`dgemm`). `openGemm()` calls the system's OpenBLAS (`cblas_sgemm`/`cblas_dgemm`) through `Deno.dlopen`,
 * multi-threaded; `typescriptGemm()` is the plain-TypeScript twin — the test oracle and the fallback when no
 * BLAS library can be loaded.
 *
 * The FFI calls are blocking on purpose: they are compute, not I/O, and the worker already runs compute in a
 * thread of its own (gpu-worker/jobs/run_in_thread.ts); a nonblocking call would only add a hop and make every
 * caller async. Arrays cross as views (`subarray` for offsets), never copied.
 */
import { createLogger, type Logger } from "../../shared/log.ts";

export interface Gemm {
  readonly name: string; // e.g. "openblas libopenblas.so.0 SkylakeX (2 threads)" or "typescript"
  /** C[m,n] = alpha·op(A)·op(B) + beta·C, row-major, op(X) = Xᵀ when the flag is set. */
  sgemm(o: GemmArgs<Float32Array>): void;
  dgemm(o: GemmArgs<Float64Array>): void;
}

/**
 * op(A) is [m, k]: A is stored [m, lda ≥ k] or, transposed, [k, lda ≥ m]; op(B) is [k, n]: B is stored
 * [k, ldb ≥ n] or, transposed, [n, ldb ≥ k]; C is [m, ldc ≥ n]. Offsets count elements. With beta = 0 (the
 * default) C is only written, never read (BLAS semantics: NaN in C does not survive).
 */
export interface GemmArgs<T> {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha?: number; // default 1
  a: T;
  aOffset?: number;
  lda: number;
  b: T;
  bOffset?: number;
  ldb: number;
  beta?: number; // default 0
  c: T;
  cOffset?: number;
  ldc: number;
}

export interface OpenGemmOptions {
  /** Library to load; default `PROFS_BLAS_LIB`, else OpenBLAS found by its soname `libopenblas.so.0`. */
  library?: string;
  /** OpenBLAS threads; default `PROFS_THREADS`, else the cores. */
  threads?: number;
  /** Where the one "no BLAS, using TypeScript" line goes (default: JSON lines on stderr). */
  logger?: Logger;
}

type Float = Float32Array | Float64Array;

/** Checks shapes, leading dimensions and that every element the product touches lies inside its array. */
export function checkGemmArgs(o: GemmArgs<Float>): void {
  const dims = { m: o.m, n: o.n, k: o.k, lda: o.lda, ldb: o.ldb, ldc: o.ldc };
  for (const [key, value] of Object.entries(dims)) {
    if (!Number.isInteger(value) || value < 0) {
      throw new RangeError(
        `Cannot run gemm as '${key}' must be a non-negative integer: current value is ${value}`,
      );
    }
  }
  const check = (name: string, data: Float, offset: number, rows: number, cols: number, ld: number) => {
    if (!Number.isInteger(offset) || offset < 0) {
      throw new RangeError(
        `Cannot run gemm as '${name}Offset' must be a non-negative integer: current value is ${offset}`,
      );
    }
    if (ld < Math.max(1, cols)) {
      throw new RangeError(
        `Cannot run gemm as 'ld${name}' must be at least max(1, ${cols}) (the stored row length): current value is ${ld}`,
      );
    }
    const end = rows === 0 || cols === 0 ? offset : offset + (rows - 1) * ld + cols;
    if (end > data.length) {
      throw new RangeError(
        `Cannot run gemm as '${name}' must hold ${end} elements (offset ${offset}, ${rows} rows of ${cols} at stride ${ld}): current length is ${data.length}`,
      );
    }
  };
  check("a", o.a, o.aOffset ?? 0, o.transA ? o.k : o.m, o.transA ? o.m : o.k, o.lda);
  check("b", o.b, o.bOffset ?? 0, o.transB ? o.n : o.k, o.transB ? o.k : o.n, o.ldb);
  check("c", o.c, o.cOffset ?? 0, o.m, o.n, o.ldc);
}

/** C ← beta·C over the m×n window (the whole product when k = 0 or alpha = 0). */
function scaleC(o: GemmArgs<Float>): void {
  const beta = o.beta ?? 0;
  const c0 = o.cOffset ?? 0;
  for (let i = 0; i < o.m; i++) {
    const row = c0 + i * o.ldc;
    if (beta === 0) o.c.fill(0, row, row + o.n);
    else if (beta !== 1) { for (let j = 0; j < o.n; j++) o.c[row + j] *= beta; }
  }
}

/** The naive twin: every C element accumulated in float64 (JS numbers), then stored in C's precision. */
function gemmTs(o: GemmArgs<Float>): void {
  checkGemmArgs(o);
  const { m, n, k, transA, transB, lda, ldb, ldc, a, b, c } = o;
  const alpha = o.alpha ?? 1;
  const beta = o.beta ?? 0;
  const a0 = o.aOffset ?? 0, b0 = o.bOffset ?? 0, c0 = o.cOffset ?? 0;
  const acc = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    for (let p = 0; p < k; p++) {
      const aip = transA ? a[a0 + p * lda + i] : a[a0 + i * lda + p];
      if (transB) { for (let j = 0; j < n; j++) acc[j] += aip * b[b0 + j * ldb + p]; }
      else {
        const row = b0 + p * ldb;
        for (let j = 0; j < n; j++) acc[j] += aip * b[row + j];
      }
    }
    const row = c0 + i * ldc;
    for (let j = 0; j < n; j++) c[row + j] = alpha * acc[j] + (beta === 0 ? 0 : beta * c[row + j]);
  }
}

const TYPESCRIPT_GEMM: Gemm = {
  name: "typescript",
  sgemm: gemmTs,
  dgemm: gemmTs,
};

/** The plain-TypeScript twin (the oracle). */
export function typescriptGemm(): Gemm {
  return TYPESCRIPT_GEMM;
}

const ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;

/** cblas_?gemm(order, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc); alpha/beta in C's type. */
const gemmParams = <F extends "f32" | "f64">(float: F) =>
  [
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    float,
    "buffer",
    "i32",
    "buffer",
    "i32",
    float,
    "buffer",
    "i32",
  ] as const;

const SYMBOLS = {
  cblas_sgemm: { parameters: gemmParams("f32"), result: "void" },
  cblas_dgemm: { parameters: gemmParams("f64"), result: "void" },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
  openblas_get_num_threads: { parameters: [], result: "i32" },
  openblas_get_corename: { parameters: [], result: "pointer" },
} as const;

/** Where Debian/Ubuntu/Fedora/Arch/Homebrew put OpenBLAS, tried after the dynamic linker's own search. */
const CANDIDATES = [
  "libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  "/usr/lib64/libopenblas.so.0",
  "/usr/lib/libopenblas.so.0",
  "/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
  "/usr/local/opt/openblas/lib/libopenblas.dylib",
];

/** The cores, or PROFS_THREADS when set (a positive integer). */
export function blasThreads(env: (key: string) => string | undefined = Deno.env.get): number {
  const raw = env("PROFS_THREADS");
  if (raw === undefined || raw === "") return Math.max(1, navigator.hardwareConcurrency || 1);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(
      `Cannot size the CPU threads as 'PROFS_THREADS' must be a positive integer: current value is '${raw}'`,
    );
  }
  return n;
}

let shared: Gemm | undefined;

/**
 * OpenBLAS through `Deno.dlopen` when it loads, else the TypeScript twin and one log line naming what to
 * install. Without options the library is opened once per process and shared (OpenBLAS's thread count is
 * process-wide anyway).
 */
export function openGemm(opts?: OpenGemmOptions): Gemm {
  if (opts === undefined && shared) return shared;
  const logger = opts?.logger ?? createLogger();
  const threads = opts?.threads ?? blasThreads();
  const wanted = opts?.library ?? envOrUndefined("PROFS_BLAS_LIB");
  const failures: string[] = [];
  let gemm: Gemm | undefined;
  for (const path of wanted ? [wanted] : CANDIDATES) {
    try {
      gemm = openBlasAt(path, threads);
      break;
    } catch (error) {
      failures.push(`${path}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
    }
  }
  if (!gemm) {
    logger.warn(
      `No BLAS library could be loaded, so CPU products run in plain TypeScript (tens of times slower): install OpenBLAS (Debian/Ubuntu: apt-get install libopenblas0-pthread) or point PROFS_BLAS_LIB at libopenblas.so`,
      { tried: failures.slice(0, 3) },
    );
    gemm = TYPESCRIPT_GEMM;
  }
  if (opts === undefined) shared = gemm;
  return gemm;
}

function envOrUndefined(key: string): string | undefined {
  try {
    return Deno.env.get(key) || undefined;
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}

/**
 * The x86 CPU flags OpenBLAS's SkylakeX kernels need. Debian's OpenBLAS (0.3.21, DYNAMIC_ARCH) does not know
 * AMD Zen 4/5 and runs its AVX2 Haswell kernels there, about half the float32 speed measured on this project's
 * AVX-512 machine (sgemm [256, 768]·[768, 2304]: 100 → 180 GFLOP/s on 2 cores); OpenBLAS reads
 * OPENBLAS_CORETYPE when it loads, so it is set (unless the user set it) before the library is opened.
 */
const SKYLAKEX_FLAGS = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"];

function preferAvx512Kernels(): void {
  try {
    if (Deno.build.os !== "linux" || Deno.build.arch !== "x86_64" || Deno.env.get("OPENBLAS_CORETYPE")) {
      return;
    }
    const flags = /^flags\s*:(.*)$/m.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1].split(/\s+/) ?? [];
    if (SKYLAKEX_FLAGS.every((f) => flags.includes(f))) Deno.env.set("OPENBLAS_CORETYPE", "SkylakeX");
  } catch {
    // No /proc or no --allow-env/--allow-read: OpenBLAS picks its kernels itself.
  }
}

/**
 * OpenBLAS's idle threads spin (calling sched_yield) for 2^28 cycles after each product before they sleep. In an
 * edit the products alternate with other work — and the copy and hash threads want the other cores — so that
 * spinning is pure loss: an edit from embeddings of a 1.35 GB model with 2 BLAS threads on this project's 2-core
 * machine took 5.9 s of CPU and 3.1 s wall with it, 4.5 s and 2.7 s without, and the forward pass's throughput
 * did not move (`deno task bench lm`, all five families). OpenBLAS reads OPENBLAS_THREAD_TIMEOUT (log2 of the
 * cycles) when it loads; the smallest value, 4, is set unless the user set one.
 */
function sleepWhenIdle(): void {
  try {
    if (!Deno.env.get("OPENBLAS_THREAD_TIMEOUT")) Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
  } catch {
    // No --allow-env: OpenBLAS keeps its default.
  }
}

function openBlasAt(path: string, threads: number): Gemm {
  preferAvx512Kernels();
  sleepWhenIdle();
  const lib = Deno.dlopen(path, SYMBOLS);
  const s = lib.symbols;
  s.openblas_set_num_threads(threads);
  const core = s.openblas_get_corename();
  const coreName = core ? new Deno.UnsafePointerView(core).getCString().trim() : "unknown core";
  const name = `openblas ${path} ${coreName} (${s.openblas_get_num_threads()} threads)`;
  const view = <T extends Float>(data: T, offset: number | undefined): T =>
    (offset ? data.subarray(offset) : data) as T;
  const call = (o: GemmArgs<Float>, f: (...args: never[]) => void) => {
    checkGemmArgs(o);
    if (o.m === 0 || o.n === 0) return;
    if (o.k === 0 || (o.alpha ?? 1) === 0) return scaleC(o);
    (f as (...args: unknown[]) => void)(
      ROW_MAJOR,
      o.transA ? TRANS : NO_TRANS,
      o.transB ? TRANS : NO_TRANS,
      o.m,
      o.n,
      o.k,
      o.alpha ?? 1,
      view(o.a, o.aOffset),
      o.lda,
      view(o.b, o.bOffset),
      o.ldb,
      o.beta ?? 0,
      view(o.c, o.cOffset),
      o.ldc,
    );
  };
  return {
    name,
    sgemm: (o) => call(o, s.cblas_sgemm),
    dgemm: (o) => call(o, s.cblas_dgemm),
  };
}
