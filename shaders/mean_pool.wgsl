// mean_pool: masked mean of one block's output over each text's real tokens (padding never counts), written
// into rows out_row .. out_row + B − 1 of a larger result (e.g. [L, N, D]: out_row = l·N + first text):
//   out[out_row + b, d] = Σ_{t < lengths[b]} x[b·T + t, d] / lengths[b]
//   shape                 uniform { seqs, tokens, dim, out_row }
//   x       [B·T, D]      f32
//   lengths [B]           u32 (1 ≤ lengths[b] ≤ T)
//   out     [≥ out_row + B, D] f32
struct Shape { seqs: u32, tokens: u32, dim: u32, out_row: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> lengths: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let total = shape.seqs * shape.dim;
  for (var i = gid.x; i < total; i += groups.x * 256u) {
    let b = i / shape.dim;
    let d = i % shape.dim;
    let n = min(lengths[b], shape.tokens);
    var sum = 0.0;
    for (var t = 0u; t < n; t++) { sum += x[(b * shape.tokens + t) * shape.dim + d]; }
    out[shape.out_row * shape.dim + i] = sum / f32(n);
  }
}
