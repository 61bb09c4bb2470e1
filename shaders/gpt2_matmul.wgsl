// Fused linear layer: out [M, N] = x [M, K] · w [K, N] + bias [N], then GELU (tanh form) when GELU = 1.
// GPT-2's Conv1D weights are stored [in, out], which is w's layout. 16×16 output tiles, K walked in 16-wide
// tiles in ascending order, so every output sums its K products in the same order whatever M is (batch
// composition cannot change a row's result).
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
const TILE: u32 = 16u;

var<workgroup> xTile: array<array<f32, 16>, 16>;
var<workgroup> wTile: array<array<f32, 16>, 16>;

fn geluTanh(v: f32) -> f32 {
  let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  return 0.5 * v * (1.0 + tanh(clamp(u, -GELU_CLAMP, GELU_CLAMP)));
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let row = wg.y * TILE + lid.y;
  let col = wg.x * TILE + lid.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < shape.k; k0 += TILE) {
    let xk = k0 + lid.x;
    var xv = 0.0;
    if (row < shape.m && xk < shape.k) { xv = x[row * shape.k + xk]; }
    xTile[lid.y][lid.x] = xv;
    let wk = k0 + lid.y;
    var wv = 0.0;
    if (wk < shape.k && col < shape.n) { wv = w[wk * shape.n + col]; }
    wTile[lid.y][lid.x] = wv;
    workgroupBarrier();
    for (var kk = 0u; kk < TILE; kk++) { acc += xTile[lid.y][kk] * wTile[kk][lid.x]; }
    workgroupBarrier();
  }
  if (row < shape.m && col < shape.n) {
    let y = acc + bias[col];
    out[row * shape.n + col] = select(y, geluTanh(y), GELU == 1u);
  }
}
