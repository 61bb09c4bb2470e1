/**
 * Seeded pseudo-random numbers (SplitMix32-style mixing + mulberry32), so sampling, random starts and generated
 * fixtures are reproducible from one integer seed. Not for anything secret.
 */

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

export function createRandom(seed: number): Random {
  let state = mix(seed >>> 0);
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    normal() {
      const u = 1 - next(); // (0, 1]: log(u) is finite
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    int: (n) => Math.floor(next() * n),
  };
}

/** A seed derived from a base seed and a label (e.g. a tensor name), stable across runs and platforms. */
export function deriveSeed(seed: number, label: string): number {
  let h = mix(seed >>> 0);
  for (let i = 0; i < label.length; i++) h = mix((h ^ label.charCodeAt(i)) >>> 0);
  return h;
}

function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}
