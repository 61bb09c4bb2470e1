// gram_schmidt: orthonormalises the columns of Q [R, K] in place, in order (column j against columns 0..j−1):
// modified Gram–Schmidt applied twice ("twice is enough" for orthogonality to rounding), each column first
// divided by its largest magnitude so that no sum of squares under- or overflows whatever the block's scale
// (a subspace step multiplies column j by σⱼ², from ~1e4 down to 0). A column that keeps at most 2⁻¹² of its
// length after the projections (it lies in the span of the earlier ones to half of f32's 24 bits: data whose
// rank is below K, or a zero column) is replaced by a hashed pseudo-random vector and orthonormalised again,
// so the result always has K orthonormal columns (K ≤ R). This is the deflation of the subspace iteration.
// One dispatch per column (shape.column; the wrapper records K of them in order), one workgroup of 256 threads:
// threads stride over the rows, every reduction is a tree in workgroup memory. Whole-block dispatches (all K
// columns in one) came back unfinished on lavapipe past ~5000 reductions, so each dispatch does one column's
// 2j + 3.
// Used once per subspace step, Q ← orth(Tᵀ T Q); the columns arrive ordered by Ritz value, so the small ones
// lose little to the large ones (unlike a Cholesky of QᵀQ, whose condition is the square of Q's).
struct Shape {
  rows: u32,
  k: u32,
  seed: u32,
  column: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read_write> q: array<f32>;

const THREADS: u32 = 256u;
// 2⁻¹²: keep a column when at least half of its bits survive the projections.
const KEEP: f32 = 2.44140625e-4;
var<workgroup> partial: array<f32, 256>;

// Σ v over the workgroup, the same (uniform) value in every invocation.
fn reduce_sum(t: u32, v: f32) -> f32 {
  partial[t] = v;
  workgroupBarrier();
  for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  let total = workgroupUniformLoad(&partial[0]);
  workgroupBarrier();
  return total;
}

fn reduce_max(t: u32, v: f32) -> f32 {
  partial[t] = v;
  workgroupBarrier();
  for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) { partial[t] = max(partial[t], partial[t + stride]); }
    workgroupBarrier();
  }
  let top = workgroupUniformLoad(&partial[0]);
  workgroupBarrier();
  return top;
}

// PCG hash (O'Neill): a well-mixed u32 from a u32.
fn pcg(x: u32) -> u32 {
  let s = x * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

// Replacement entry for (row, column, attempt) in [−1, 1).
fn noise(row: u32, col: u32, attempt: u32) -> f32 {
  let h = pcg(row ^ pcg(col ^ pcg(attempt ^ pcg(shape.seed))));
  return f32(h >> 8u) / 8388608.0 - 1.0;
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let rows = shape.rows;
  let k = shape.k;
  let j = shape.column;
  {
    for (var attempt = 0u; attempt < 4u; attempt++) {
      if (attempt > 0u) {
        for (var r = t; r < rows; r += THREADS) { q[r * k + j] = noise(r, j, attempt); }
      }
      var big = 0.0;
      for (var r = t; r < rows; r += THREADS) { big = max(big, abs(q[r * k + j])); }
      let top = reduce_max(t, big);
      if (!(top > 0.0) || top > 3.0e38) { continue; } // zero, NaN or infinite: replace
      var ss = 0.0;
      for (var r = t; r < rows; r += THREADS) {
        let v = q[r * k + j] / top;
        q[r * k + j] = v;
        ss = fma(v, v, ss);
      }
      let before = sqrt(reduce_sum(t, ss));
      for (var sweep = 0u; sweep < 2u; sweep++) {
        for (var i = 0u; i < j; i++) {
          var dot = 0.0;
          for (var r = t; r < rows; r += THREADS) { dot = fma(q[r * k + i], q[r * k + j], dot); }
          let c = reduce_sum(t, dot);
          for (var r = t; r < rows; r += THREADS) { q[r * k + j] = fma(-c, q[r * k + i], q[r * k + j]); }
        }
      }
      ss = 0.0;
      for (var r = t; r < rows; r += THREADS) { ss = fma(q[r * k + j], q[r * k + j], ss); }
      let norm = sqrt(reduce_sum(t, ss));
      if (norm > KEEP * before) {
        for (var r = t; r < rows; r += THREADS) { q[r * k + j] = q[r * k + j] / norm; }
        break;
      }
    }
  }
}
