/**
 * Packs a kernel's shape struct for a uniform buffer. Fields are 4-byte scalars laid out in order, matching a
 * WGSL struct of u32/i32/f32 members (no vectors, so there is no alignment padding to reproduce).
 */
export type UniformField = ["u32" | "i32" | "f32", number];

export function packUniform(fields: UniformField[]): ArrayBuffer {
  const bytes = new ArrayBuffer(Math.max(16, Math.ceil(fields.length / 4) * 16));
  const view = new DataView(bytes);
  fields.forEach(([type, value], i) => {
    if (type === "f32") view.setFloat32(i * 4, value, true);
    else if (type === "i32") view.setInt32(i * 4, value, true);
    else {
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
        throw new RangeError(
          `Cannot pack uniform field ${i} as a u32 must be an integer in [0, 2³²): ${value}`,
        );
      }
      view.setUint32(i * 4, value, true);
    }
  });
  return bytes;
}
