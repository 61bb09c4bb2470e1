/**
 * The rows of one forward step. A step runs R token rows through the model; each row is one token of one
 * sequence at one position, and attends to the first `keyCount` positions of its sequence's KV cache. Prefill
 * lays B sequences out right-padded to T tokens (row b·T + t); a generation step has one row per unfinished
 * sequence. Because every row only reads its own sequence's real keys, batch composition and padding cannot
 * change a sequence's numbers.
 */
import { InputError } from "../../../shared/errors.ts";

export interface StepRows {
  ids: Int32Array; // [R] token ids; padding rows use 0
  seq: Uint32Array; // [R] KV-cache slot of each row's sequence
  pos: Uint32Array; // [R] position of each row
  keyCount: Uint32Array; // [R] keys 0..keyCount-1 of the row's sequence are attended (causal ∧ not padding)
}

/** Right-padded prefill of B sequences: rows b·T + t with T = the longest sequence. */
export interface PrefillRows extends StepRows {
  numSeqs: number; // B
  tokens: number; // T
  lengths: Uint32Array; // [B] real tokens of each sequence (≥ 1)
}

export function prefillRows(sequences: number[][], maxPositions: number): PrefillRows {
  const numSeqs = sequences.length;
  const tokens = Math.max(1, ...sequences.map((s) => s.length));
  if (tokens > maxPositions) {
    throw new InputError(
      `Cannot run GPT-2 on a sequence as its length must be at most n_positions (${maxPositions}): current value is ${tokens}`,
    );
  }
  const rows = numSeqs * tokens;
  const ids = new Int32Array(rows);
  const seq = new Uint32Array(rows);
  const pos = new Uint32Array(rows);
  const keyCount = new Uint32Array(rows);
  const lengths = new Uint32Array(numSeqs);
  sequences.forEach((s, b) => {
    if (s.length === 0) throw new InputError(`Cannot run GPT-2 on sequence ${b} as it has no tokens`);
    lengths[b] = s.length;
    for (let t = 0; t < tokens; t++) {
      const r = b * tokens + t;
      ids[r] = t < s.length ? s[t] : 0;
      seq[r] = b;
      pos[r] = t;
      keyCount[r] = Math.min(t + 1, s.length);
    }
  });
  return { ids, seq, pos, keyCount, numSeqs, tokens, lengths };
}

/** One generation step: `next[i]` is appended to sequence `slots[i]`, which currently has `lengths[i]` tokens. */
export function decodeRows(slots: number[], next: number[], lengths: number[]): StepRows {
  return {
    ids: Int32Array.from(next),
    seq: Uint32Array.from(slots),
    pos: Uint32Array.from(lengths),
    keyCount: Uint32Array.from(lengths, (n) => n + 1),
  };
}
