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

/** Little-endian bytes of `dtype` → float32 values (a fresh array, never a view of `bytes`). */
export function toFloat32(bytes: Uint8Array, dtype: FloatDType): Float32Array {
  const n = bytes.byteLength / bytesPerElement(dtype);
  if (dtype === "F32") {
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const halves = new Uint16Array(n);
  new Uint8Array(halves.buffer).set(bytes);
  if (dtype === "F16") return Float32Array.from(new Float16Array(halves.buffer));
  const words = new Uint32Array(n);
  for (let i = 0; i < n; i++) words[i] = halves[i] << 16;
  return new Float32Array(words.buffer);
}

/** float32 values → little-endian bytes of `dtype`, rounding to nearest even (NaN stays NaN). */
export function fromFloat32(values: Float32Array, dtype: FloatDType): Uint8Array {
  if (dtype === "F32") return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (dtype === "F16") {
    const halves = Float16Array.from(values);
    return new Uint8Array(halves.buffer);
  }
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const w = words[i];
    if ((w & 0x7fffffff) > 0x7f800000) {
      out[i] = (w >>> 16) | 0x40; // quiet NaN, keeps the sign
    } else {
      out[i] = (w + 0x7fff + ((w >>> 16) & 1)) >>> 16;
    }
  }
  return new Uint8Array(out.buffer);
}
