// cholesky_qr: from the Gram G = YᵀY [K, K] of a tall Y [R, K], the upper-triangular R⁻¹ [K, K] such that
// Q = Y R⁻¹ has orthonormal columns (one CholeskyQR pass; the caller runs two passes, CholeskyQR2).
// One invocation does the tiny factorisation so the subspace iteration never waits for a readback. When G is
// numerically singular (a pivot below 4ε·trace, e.g. columns converging onto one direction) it retries with the
// shift s = 11(R·K + K(K+1))·ε·trace(G) of shifted CholeskyQR (Fukaya et al. 2020), which always succeeds and
// leaves Q well enough conditioned for the second pass. G = 0 gives R⁻¹ = I (nothing to orthonormalise).
override K: u32 = 2u;

struct Shape {
  rows: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> rinv: array<f32>;

const EPS: f32 = 5.96e-8;
// l: the lower-triangular factor, G + s·I = L Lᵀ, row-major.
var<workgroup> l: array<f32, K * K>;

fn factor(shift: f32, floor: f32) -> bool {
  for (var i = 0u; i < K; i++) {
    for (var j = 0u; j <= i; j++) {
      var sum = g[i * K + j];
      if (i == j) { sum += shift; }
      for (var p = 0u; p < j; p++) { sum -= l[i * K + p] * l[j * K + p]; }
      if (i == j) {
        if (!(sum > floor)) { return false; }
        l[i * K + i] = sqrt(sum);
      } else {
        l[i * K + j] = sum / l[j * K + j];
      }
    }
    for (var j = i + 1u; j < K; j++) { l[i * K + j] = 0.0; }
  }
  return true;
}

@compute @workgroup_size(1)
fn main() {
  var trace = 0.0;
  for (var i = 0u; i < K; i++) { trace += g[i * K + i]; }
  var ok = trace > 0.0;
  if (ok && !factor(0.0, 4.0 * EPS * trace)) {
    let shift = 11.0 * f32(shape.rows * K + K * (K + 1u)) * EPS * trace;
    ok = factor(shift, 0.0);
  }
  for (var i = 0u; i < K * K; i++) { rinv[i] = 0.0; }
  if (!ok) {
    for (var i = 0u; i < K; i++) { rinv[i * K + i] = 1.0; }
    return;
  }
  // R = Lᵀ is upper triangular; back-substitute its inverse column by column: R⁻¹[i, j] for i ≤ j.
  for (var j = 0u; j < K; j++) {
    rinv[j * K + j] = 1.0 / l[j * K + j];
    for (var ii = 0u; ii < j; ii++) {
      let i = j - 1u - ii;
      var sum = 0.0;
      for (var p = i + 1u; p <= j; p++) { sum += l[p * K + i] * rinv[p * K + j]; }
      rinv[i * K + j] = -sum / l[i * K + i];
    }
  }
}
