// row_sum_squares: s [M] = Σ_j X[i, j]² for X [M, N] (row reductions; ‖T‖_F² = Σ s for explained variance).
// One workgroup of 64 threads per row, tree reduction; the row index spans grid x and y.
struct Shape {
  m: u32,
  n: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> s: array<f32>;

const THREADS: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) group: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
) {
  let row = group.y * groups.x + group.x;
  var acc = 0.0;
  if (row < shape.m) {
    for (var j = t; j < shape.n; j += THREADS) {
      let v = x[row * shape.n + j];
      acc = fma(v, v, acc);
    }
  }
  partial[t] = acc;
  workgroupBarrier();
  for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u && row < shape.m) { s[row] = partial[0]; }
}
