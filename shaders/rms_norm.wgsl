// rms_norm: RMSNorm over each row, one workgroup of 64 threads per row:
//   out[r, c] = x[r, c] / sqrt(mean_c(x[r, c]²) + eps) · (weight[c] + weight_offset)
// weight_offset is 0 for Llama/Mistral/Qwen (and Qwen3's per-head q/k norm, run with rows = R·heads and
// cols = head size), 1 for models storing weight − 1.
//   shape          uniform { rows, cols, eps, weight_offset }
//   x      [R, C]  f32
//   weight [C]     f32
//   out    [R, C]  f32 (a different buffer from x)
struct Shape { rows: u32, cols: u32, eps: f32, weight_offset: f32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let r = wg.y * groups.x + wg.x;
  if (r >= shape.rows) { return; } // uniform per workgroup: the barriers below stay in uniform control flow
  let t = lid.x;
  let base = r * shape.cols;
  var sq = 0.0;
  for (var c = t; c < shape.cols; c += WG) { sq += x[base + c] * x[base + c]; }
  partial[t] = sq;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  let inv = 1.0 / sqrt(partial[0] / f32(shape.cols) + shape.eps);
  for (var c = t; c < shape.cols; c += WG) {
    out[base + c] = x[base + c] * inv * (weight[c] + shape.weight_offset);
  }
}
