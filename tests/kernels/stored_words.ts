/** Test weights stored the way safetensors stores them, for the kernels that read F32, F16 and BF16 as stored. */
import { type WeightDtype, weightWords } from "../../gpu-worker/kernels/linear.ts";

/** `values` stored as safetensors would store them in `dtype` (bf16 by truncation), as u32 words. */
export function storedWords(values: Float32Array, dtype: WeightDtype): Uint32Array {
  if (dtype === "F32") return new Uint32Array(values.slice().buffer);
  const halves = dtype === "F16"
    ? new Uint16Array(new Float16Array(values).buffer)
    : new Uint16Array(new Uint32Array(values.slice().buffer).map((bits) => bits >>> 16));
  return weightWords(new Uint8Array(halves.buffer));
}
