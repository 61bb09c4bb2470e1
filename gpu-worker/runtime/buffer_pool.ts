/**
 * Reuses GPU buffers of the same (size, usage) instead of allocating per call: the ProFS loop asks for the
 * same few shapes layer after layer. Sizes are rounded up to 16 bytes so any buffer can be bound as
 * `array<vec4<f32>>`. The pool never shares a buffer: `acquire` hands it out, `release` takes it back.
 */
export class BufferPool {
  readonly #free = new Map<string, GPUBuffer[]>();
  readonly #owned = new Set<GPUBuffer>();

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = "pooled"): GPUBuffer {
    const size = roundUp(Math.max(bytes, 16), 16);
    const list = this.#free.get(key(size, usage));
    const reused = list?.pop();
    if (reused) return reused;
    const buffer = this.device.createBuffer({ size, usage, label });
    this.#owned.add(buffer);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.#owned.has(buffer)) {
      throw new RangeError(`Cannot release buffer '${buffer.label}' as it was not acquired from this pool`);
    }
    const k = key(buffer.size, buffer.usage);
    const list = this.#free.get(k);
    if (list) list.push(buffer);
    else this.#free.set(k, [buffer]);
  }

  /** Destroys idle buffers (memory pressure, end of a job); buffers still handed out are untouched. */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const buffer of list) {
        this.#owned.delete(buffer);
        buffer.destroy();
      }
    }
    this.#free.clear();
  }

  /** Bytes of every buffer the pool owns, handed out or idle: the device memory it holds (tests and metrics). */
  get ownedBytes(): number {
    let bytes = 0;
    for (const buffer of this.#owned) bytes += buffer.size;
    return bytes;
  }

  /** Buffers idle in the pool (for tests and metrics). */
  get idleCount(): number {
    let n = 0;
    for (const list of this.#free.values()) n += list.length;
    return n;
  }

  destroyAll(): void {
    for (const buffer of this.#owned) buffer.destroy();
    this.#owned.clear();
    this.#free.clear();
  }
}

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

function key(size: number, usage: number): string {
  return `${size}:${usage}`;
}
