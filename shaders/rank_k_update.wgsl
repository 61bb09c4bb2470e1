// rank_k_update: C [M, N] ← β·C + α·A · op(B) with A [M, KA] and op(B) [KA, N]: B stored [KA, N], or Bᵀ of B
// stored [N, KA] when shape.trans_b. KA is small (a rank), so each thread owns one element of C and loops over
// KA; C is read and written in place (β = 0 never reads C, so stale or NaN contents cannot leak in).
// Used for the projection W ← W − (W V) Vᵀ (trans_b) and W ← W − V (Vᵀ W), the centering T ← T − (T μ) μᵀ,
// Q ← Q W (the rotation onto Ritz vectors), and E = V_prev − V (Vᵀ V_prev) in the convergence test.
struct Shape {
  m: u32,
  n: u32,
  ka: u32,
  trans_b: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let col = id.x;
  let row = id.y;
  if (row >= shape.m || col >= shape.n) { return; }
  var sum = 0.0;
  for (var p = 0u; p < shape.ka; p++) {
    var bv: f32;
    if (shape.trans_b != 0u) { bv = b[col * shape.ka + p]; } else { bv = b[p * shape.n + col]; }
    sum = fma(a[row * shape.ka + p], bv, sum);
  }
  let index = row * shape.n + col;
  if (shape.beta == 0.0) {
    c[index] = shape.alpha * sum;
  } else {
    c[index] = shape.beta * c[index] + shape.alpha * sum;
  }
}
