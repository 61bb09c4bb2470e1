// GPT-2 token + position embedding gather for the rows whose token falls in one slice of the vocabulary:
// out[r, d] = wte[ids[r] − vocabStart, d] + wpe[pos[r], d] when vocabStart ≤ ids[r] < vocabStart + vocabRows.
// The token embedding may exceed one storage binding, so it is bound slice by slice and the wrapper dispatches
// once per slice; every row's token lies in exactly one slice, so every row is written exactly once.
//   shape            uniform
//   ids   [R]        i32
//   pos   [R]        u32
//   wte   [vocabRows, D] f32 (one slice)
//   wpe   [P, D]     f32
//   out   [R, D]     f32
struct Shape { rows: u32, dim: u32, vocabStart: u32, vocabRows: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> wte: array<f32>;
@group(0) @binding(4) var<storage, read> wpe: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let total = shape.rows * shape.dim;
  for (var i = gid.x; i < total; i += groups.x * 256u) {
    let r = i / shape.dim;
    let d = i % shape.dim;
    let id = u32(ids[r]);
    if (id >= shape.vocabStart && id < shape.vocabStart + shape.vocabRows) {
      out[i] = wte[(id - shape.vocabStart) * shape.dim + d] + wpe[pos[r] * shape.dim + d];
    }
  }
}
