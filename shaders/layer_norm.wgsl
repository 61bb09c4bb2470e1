// layer_norm: LayerNorm over each row (biased variance, two passes for accuracy), one workgroup of 64 threads
// per row:  out[r, c] = (x[r, c] − mean_r) / sqrt(var_r + eps) · gamma[c] + beta[c].
//   shape          uniform { rows, cols, eps }
//   x     [R, C]   f32
//   gamma [C]      f32
//   beta  [C]      f32
//   out   [R, C]   f32 (a different buffer from x)
struct Shape { rows: u32, cols: u32, eps: f32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

fn rowSum(t: u32, value: f32) -> f32 {
  partial[t] = value;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let r = wg.y * groups.x + wg.x;
  if (r >= shape.rows) { return; }
  let t = lid.x;
  let base = r * shape.cols;
  var sum = 0.0;
  for (var c = t; c < shape.cols; c += WG) { sum += x[base + c]; }
  let mean = rowSum(t, sum) / f32(shape.cols);
  var sq = 0.0;
  for (var c = t; c < shape.cols; c += WG) {
    let dev = x[base + c] - mean;
    sq += dev * dev;
  }
  let inv = 1.0 / sqrt(rowSum(t, sq) / f32(shape.cols) + shape.eps);
  for (var c = t; c < shape.cols; c += WG) {
    out[base + c] = (x[base + c] - mean) * inv * gamma[c] + beta[c];
  }
}
