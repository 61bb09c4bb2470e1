/**
 * safetensors dtypes: their sizes, and conversion of the float ones to and from float32 (ProFS computes in
 * float32 and writes a tensor back in the dtype it came in).
 */

/** Bits per element of every dtype the reference implementation knows. */
export const DTYPE_BITS = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  F64: 64,
  I64: 64,
  U64: 64,
} as const;

export type DType = keyof typeof DTYPE_BITS;

/** The dtypes profs can compute with (converted to float32 on read). */
export type FloatDType = "F32" | "F16" | "BF16";

export function isDType(value: unknown): value is DType {
  return typeof value === "string" && Object.hasOwn(DTYPE_BITS, value);
}

export function isFloatDType(dtype: DType): dtype is FloatDType {
  return dtype === "F32" || dtype === "F16" || dtype === "BF16";
}

export function bytesPerElement(dtype: FloatDType): number {
  return dtype === "F32" ? 4 : 2;
}

/**
 * Little-endian bytes of `dtype` → float32 values, in `out` when given (a reusable buffer of exactly the element
 * count), else in a fresh array; never a view of `bytes`.
 */
export function toFloat32(bytes: Uint8Array, dtype: FloatDType, out?: Float32Array): Float32Array {
  const n = bytes.byteLength / bytesPerElement(dtype);
  if (out && out.length !== n) throw new RangeError(`out holds ${out.length} values; ${n} are needed`);
  const values = out ?? new Float32Array(n);
  if (dtype === "F32") {
    new Uint8Array(values.buffer, values.byteOffset, values.byteLength).set(bytes);
  } else if (dtype === "F16") {
    // Float16Array needs 2-byte alignment, which `bytes` (any offset) may lack: element-wise through a DataView.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) values[i] = view.getFloat16(2 * i, true);
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const words = new Uint32Array(values.buffer, values.byteOffset, n);
    for (let i = 0; i < n; i++) words[i] = view.getUint16(2 * i, true) << 16;
  }
  return values;
}

/**
 * float32 values → little-endian bytes of `dtype`, rounding to nearest even (NaN stays NaN). F32 gives a view of
 * `values`; F16/BF16 are written to `out` when given (a reusable buffer of exactly the byte size), else fresh.
 */
export function fromFloat32(values: Float32Array, dtype: FloatDType, out?: Uint8Array): Uint8Array {
  if (dtype === "F32") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const size = values.length * 2;
  if (out && out.byteLength !== size) {
    throw new RangeError(`out holds ${out.byteLength} bytes; ${size} are needed`);
  }
  const bytes = out ?? new Uint8Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  if (dtype === "F16") {
    for (let i = 0; i < values.length; i++) view.setFloat16(2 * i, values[i], true);
    return bytes;
  }
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < values.length; i++) {
    const w = words[i];
    const half = (w & 0x7fffffff) > 0x7f800000
      ? (w >>> 16) | 0x40 // quiet NaN, keeps the sign
      : (w + 0x7fff + ((w >>> 16) & 1)) >>> 16;
    view.setUint16(2 * i, half, true);
  }
  return bytes;
}
