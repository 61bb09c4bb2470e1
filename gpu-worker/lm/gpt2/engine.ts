/**
 * What a GPT-2 backend (cpu_forward.ts, gpu_forward.ts) offers the runner: one forward step over a set of rows
 * (rows.ts) against per-sequence KV caches, returning only what the caller asked for.
 */
import type { Gpt2Config } from "./config.ts";
import type { StepRows } from "./rows.ts";

export interface KvCache {
  readonly slots: number; // S sequences
  readonly capacity: number; // C positions per sequence
  dispose(): void;
}

export interface StepRequest {
  /** Masked mean of every block's output over the prefill layout (row b·T + t, t < lengths[b]). */
  pool?: { numSeqs: number; tokens: number; lengths: Uint32Array };
  /** Rows whose next-token logits are returned, [N]. */
  logitRows?: Uint32Array;
  /** Rows whose log-probability of `targets` is returned (log-softmax computed on the device). */
  logProbs?: { rows: Uint32Array; targets: Int32Array }; // [N], [N]
}

export interface StepResult {
  pooled?: Float32Array[]; // L entries, each [B, D]
  logits?: Float32Array; // [N, V]
  logProbs?: Float32Array; // [N]
}

export interface Gpt2Engine {
  readonly backend: "cpu" | "webgpu";
  readonly config: Gpt2Config;
  /** Human-readable device, e.g. the WebGPU adapter's description. */
  readonly device: string;
  /** Most rows one step takes (every activation must fit one storage binding); the runner splits batches. */
  readonly maxRows: number;
  createCache(slots: number, capacity: number): KvCache;
  step(rows: StepRows, cache: KvCache, request: StepRequest): Promise<StepResult>;
  dispose(): void;
}
