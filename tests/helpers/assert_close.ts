/**
 * assertClose: elementwise |a − e| ≤ atol + rtol·|e|, failing with the label, the first bad index, the largest
 * absolute and relative errors and a few sample pairs, so a kernel mismatch is diagnosable from the message.
 */
import { AssertionError } from "node:assert";

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  label?: string;
}

type Numeric = ArrayLike<number>;

export function assertClose(actual: Numeric, expected: Numeric, options: CloseOptions = {}): void {
  const { atol = 0, rtol = 0, label = "values" } = options;
  if (actual.length !== expected.length) {
    throw new AssertionError({
      message: `${label}: length ${actual.length} != expected ${expected.length}`,
    });
  }
  let firstBad = -1;
  let bad = 0;
  let maxAbs = 0;
  let maxRel = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const abs = Math.abs(a - e);
    const rel = abs / Math.max(Math.abs(e), Number.MIN_VALUE);
    if (!(abs <= atol + rtol * Math.abs(e))) { // written so NaN fails
      bad++;
      if (firstBad < 0) firstBad = i;
    }
    if (abs > maxAbs || Number.isNaN(abs)) maxAbs = abs;
    if (Math.abs(e) > 0 && rel > maxRel) maxRel = rel;
  }
  if (bad === 0) return;
  const samples = [];
  for (let i = firstBad; i < Math.min(actual.length, firstBad + 4); i++) {
    samples.push(`[${i}] ${actual[i]} vs ${expected[i]}`);
  }
  throw new AssertionError({
    message: `${label}: ${bad}/${actual.length} elements outside atol=${atol} rtol=${rtol}; ` +
      `first at ${firstBad}; max abs err ${maxAbs.toExponential(3)}, max rel err ${
        maxRel.toExponential(3)
      }; ` +
      samples.join(", "),
  });
}
