// Fused linear layer: out [M, N] = x [M, K] · w [K, N] + bias [N], then GELU (tanh form) when GELU = 1.
// GPT-2's Conv1D weights are stored [in, out], which is w's layout. Each thread computes a 4×4 block of out in
// registers, walking K in ascending order, so every output sums its K products in the same order whatever M is
// (batch composition cannot change a row's result). No workgroup memory or barriers: software adapters
// (lavapipe) run barrier-heavy tiles several times slower. Rows and columns past M and N are read clamped to
// the last valid one and never written, so any shape works (T = 1, N not a multiple of 4).
//   shape          uniform
//   x    [M, K]    f32
//   w    [K, N]    f32
//   bias [N]       f32
//   out  [M, N]    f32
struct Shape { m: u32, k: u32, n: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

override GELU: u32 = 0u;
// tanh's argument is clamped to ±15, where tanh is ±1 in f32: no exp overflow can turn into NaN.
const GELU_CLAMP: f32 = 15.0;

fn geluTanh(v: f32) -> f32 {
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  return 0.5 * v * (1.0 + tanh(clamp(u, -GELU_CLAMP, GELU_CLAMP)));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let col0 = gid.x * 4u;
  let row0 = gid.y * 4u;
  if (col0 >= shape.n || row0 >= shape.m) { return; }
  let lastRow = shape.m - 1u;
  let lastCol = shape.n - 1u;
  let x0 = row0 * shape.k;
  let x1 = min(row0 + 1u, lastRow) * shape.k;
  let x2 = min(row0 + 2u, lastRow) * shape.k;
  let x3 = min(row0 + 3u, lastRow) * shape.k;
  let c1 = min(col0 + 1u, lastCol);
  let c2 = min(col0 + 2u, lastCol);
  let c3 = min(col0 + 3u, lastCol);
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var p = 0u; p < shape.k; p++) {
    let wr = p * shape.n;
    let wv = vec4<f32>(w[wr + col0], w[wr + c1], w[wr + c2], w[wr + c3]);
    a0 += x[x0 + p] * wv;
    a1 += x[x1 + p] * wv;
    a2 += x[x2 + p] * wv;
    a3 += x[x3 + p] * wv;
  }
  let b = vec4<f32>(bias[col0], bias[c1], bias[c2], bias[c3]);
  let acc = array<vec4<f32>, 4>(a0 + b, a1 + b, a2 + b, a3 + b);
  let rows = min(4u, shape.m - row0);
  let cols = min(4u, shape.n - col0);
  for (var i = 0u; i < rows; i++) {
    for (var q = 0u; q < cols; q++) {
      let y = acc[i][q];
      out[(row0 + i) * shape.n + col0 + q] = select(y, geluTanh(y), GELU == 1u);
    }
  }
}
