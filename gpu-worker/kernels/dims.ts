/** Shape checks and grid helpers shared by the kernel wrappers and their twins. */

/** Throws unless every named dimension is a positive integer. */
export function checkDims(kernel: string, dims: Record<string, number>): void {
  for (const [name, value] of Object.entries(dims)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `Cannot run ${kernel} as '${name}' must be a positive integer: current value is ${value}`,
      );
    }
  }
}

/** Throws unless `array` holds exactly `expected` elements. */
export function checkLength(kernel: string, name: string, array: ArrayLike<number>, expected: number): void {
  if (array.length !== expected) {
    throw new RangeError(
      `Cannot run ${kernel} as '${name}' must have ${expected} elements: has ${array.length}`,
    );
  }
}

/** A 2-D grid of `count` workgroups (kernels recover the index as y·groups.x + x); WebGPU caps each axis. */
export function spreadGrid(count: number, maxPerDimension: number): [number, number] {
  if (count <= maxPerDimension) return [count, 1];
  const y = Math.ceil(count / maxPerDimension);
  return [Math.ceil(count / y), y];
}
