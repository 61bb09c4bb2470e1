// embed_rows: gathers embedding rows stored in their dtype (token embeddings; learned positions with the
// family's offset already added to the index on the host, e.g. OPT's +2):
//   out[r, :] (= or += when accumulate) table[ids[r] − start, :]   for start ≤ ids[r] < start + table_rows
// A table larger than one storage binding is split into row slices, one dispatch each; rows whose id falls in
// another slice are left untouched.
//   shape                  uniform { rows, dim, start, table_rows, accumulate }
//   ids   [R]              u32
//   table [table_rows, D]  in DTYPE (0 f32, 1 f16, 2 bf16; 16-bit elements two per u32 word)
//   out   [R, D]           f32
override DTYPE: u32 = 0u;

struct Shape { rows: u32, dim: u32, start: u32, table_rows: u32, accumulate: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn table_at(e: u32) -> f32 {
  if (DTYPE == 0u) { return bitcast<f32>(table[e]); }
  let word = table[e >> 1u];
  let bits = select(word & 0xffffu, word >> 16u, (e & 1u) == 1u);
  if (DTYPE == 1u) { return unpack2x16float(bits).x; }
  return bitcast<f32>(bits << 16u);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  for (var i = gid.x; i < shape.rows * shape.dim; i += groups.x * 256u) {
    let id = ids[i / shape.dim];
    if (id < shape.start || id - shape.start >= shape.table_rows) { continue; }
    let v = table_at((id - shape.start) * shape.dim + i % shape.dim);
    out[i] = select(v, out[i] + v, shape.accumulate != 0u);
  }
}
