/**
 * The CPU ProFS backend: plain TypeScript, float64 accumulation. Always available; the oracle for `webgpu`.
 * Layers' subspaces run side by side in a small pool of threads (the pipeline keeps `concurrency` in flight).
 */
import type { LayerSubspace, Matrix, ProfsBackend, SubspaceParams } from "./backend.ts";
import { InputError } from "../errors.ts";
import { projectOut } from "./projection.ts";
import { checkSubspaceInputs, toxicSubspaceCpu } from "./subspace.ts";
import type { SubspaceRequest, SubspaceResponse } from "./subspace_thread.ts";

/** More threads than this gain little: the pipeline also reads embeddings and writes tensors meanwhile. */
const MAX_THREADS = 4;

/**
 * Layers with fewer embedding values (N·D) than this are computed on the calling thread: they take less time than
 * starting a thread (~30 ms, and over a second under `deno test`, which type-checks every thread's modules).
 */
export const MIN_THREADED_VALUES = 1 << 16;

export interface CpuBackendOptions {
  /** Threads computing subspaces; 1 computes on the calling thread. Default: the cores, at most 4. */
  threads?: number;
}

export function createCpuBackend(options: CpuBackendOptions = {}): ProfsBackend {
  const threads = options.threads ?? Math.min(navigator.hardwareConcurrency ?? 1, MAX_THREADS);
  const pool = threads > 1 ? createSubspacePool(threads) : null;
  return {
    name: "cpu",
    concurrency: threads,
    toxicSubspace: async (preferred, rejected, params) =>
      pool && preferred.data.length >= MIN_THREADED_VALUES
        ? await pool.run(preferred, rejected, params)
        : await toxicSubspaceCpu(preferred, rejected, params),
    project: async (weight, basis, orientation) => await projectOut(weight, basis, orientation),
    dispose: () => pool?.terminate(),
  };
}

interface Pending {
  request: SubspaceRequest;
  /** The buffers of the request's copies of the matrices. */
  transfer: ArrayBuffer[];
  resolve: (subspace: LayerSubspace) => void;
  reject: (error: Error) => void;
}

/**
 * Up to `size` threads, started on demand and all terminated as soon as no request is in flight, so a pool whose
 * owner forgets `dispose()` never keeps the process alive.
 */
function createSubspacePool(size: number) {
  const idle: Worker[] = [];
  const busy = new Map<Worker, Pending>();
  const queue: Pending[] = [];

  function start(): Worker {
    const worker = new Worker(new URL("./subspace_thread.ts", import.meta.url).href, { type: "module" });
    worker.onmessage = ({ data }: MessageEvent<SubspaceResponse>) => finish(worker, data);
    worker.onerror = (event) => {
      event.preventDefault();
      const pending = busy.get(worker);
      busy.delete(worker);
      worker.terminate();
      pending?.reject(new Error(`subspace thread failed: ${event.message}`));
      dispatch();
    };
    return worker;
  }

  function dispatch(): void {
    while (queue.length > 0 && (idle.length > 0 || busy.size < size)) {
      const worker = idle.pop() ?? start();
      const pending = queue.shift()!;
      busy.set(worker, pending);
      worker.postMessage(pending.request, pending.transfer);
    }
    if (queue.length === 0 && busy.size === 0) terminate();
  }

  function finish(worker: Worker, response: SubspaceResponse): void {
    const pending = busy.get(worker)!;
    busy.delete(worker);
    idle.push(worker);
    dispatch(); // before settling, so the last result finds the threads already gone
    if ("subspace" in response) pending.resolve(response.subspace);
    else {pending.reject(
        response.errorName === "InputError" ? new InputError(response.message) : new Error(response.message),
      );}
  }

  function terminate(): void {
    for (const worker of [...idle, ...busy.keys()]) worker.terminate();
    idle.length = 0;
    for (const pending of busy.values()) pending.reject(new Error("The CPU backend was disposed"));
    busy.clear();
    for (const pending of queue.splice(0)) pending.reject(new Error("The CPU backend was disposed"));
  }

  return {
    run(preferred: Matrix, rejected: Matrix, params: SubspaceParams): Promise<LayerSubspace> {
      checkSubspaceInputs(preferred, rejected, params);
      // Copies: transferring would detach the caller's buffers (which may also be views into a larger one).
      const copies = [preferred.data.slice(), rejected.data.slice()];
      const request: SubspaceRequest = {
        preferred: { ...preferred, data: copies[0] },
        rejected: { ...rejected, data: copies[1] },
        params,
      };
      return new Promise((resolve, reject) => {
        queue.push({ request, transfer: copies.map((c) => c.buffer), resolve, reject });
        dispatch();
      });
    },
    terminate,
  };
}
