// linear: y [M, N] = x [M, K] · op(W), the register-tiled product of matmul.wgsl with W read in its stored
// dtype and widened to f32 (accumulation in f32):
//   OUT_IN = true:  W stored [N, K] (Hugging Face nn.Linear [out, in]), y = x·Wᵀ
//   OUT_IN = false: W stored [K, N] (GPT-2's Conv1D [in, out]),         y = x·W
//   DTYPE 0: f32 words; 1: f16, 2: bf16, two per u32 word (element e in the low half when e is even), as
//   safetensors stores them, unpacked with unpack2x16float or a 16-bit shift (no shader-f16 needed).
// main (M > 8): each 16×16 workgroup computes a 64×64 tile of y, each thread a 4×4 register tile; K advances
// in slices of 16 staged in workgroup memory. Rows and columns past M, N, K read 0 and are never written.
// few_rows (M ≤ 8: decode steps, picked rows for the head): one workgroup of 64 threads per 4 columns of y,
// threads striding over K for all M rows, then a tree reduction, so no multiply-add is spent on padding rows.
//   shape          uniform { m, n, k, aligned_x, aligned_w } (aligned_*: the operand's stored width % 4 == 0)
//   x [M, K]       f32
//   w [N, K] or [K, N] in DTYPE, as u32 words
//   y [M, N]       f32, overwritten
override OUT_IN: bool = true;
override DTYPE: u32 = 0u;

struct Shape { m: u32, n: u32, k: u32, aligned_x: u32, aligned_w: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

const TILE: u32 = 64u;
const SLICE: u32 = 16u;

// x_tile[kk * 16 + i] = x[m0 + 4i .. 4i+3, k0 + kk]; w_tile[kk * 16 + j] = op(W)[k0 + kk, n0 + 4j .. 4j+3].
var<workgroup> x_tile: array<vec4<f32>, 256>;
var<workgroup> w_tile: array<vec4<f32>, 256>;

// Four consecutive elements (row, col .. col+3) of the row-major [rows, cols] x; 0 outside.
fn load_x(row: u32, col: u32, rows: u32, cols: u32) -> vec4<f32> {
  if (row >= rows) { return vec4<f32>(0.0); }
  let base = row * cols + col;
  if (shape.aligned_x != 0u) {
    if (col < cols) { return x[base >> 2u]; }
    return vec4<f32>(0.0);
  }
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (col + q < cols) { v[q] = x[(base + q) >> 2u][(base + q) & 3u]; }
  }
  return v;
}

// Element e of W widened to f32.
fn w_at(e: u32) -> f32 {
  if (DTYPE == 0u) { return bitcast<f32>(w[e]); }
  let word = w[e >> 1u];
  let bits = select(word & 0xffffu, word >> 16u, (e & 1u) == 1u);
  if (DTYPE == 1u) { return unpack2x16float(bits).x; }
  return bitcast<f32>(bits << 16u);
}

// Four consecutive elements (row, col .. col+3) of the row-major [rows, cols] W; 0 outside.
fn load_w(row: u32, col: u32, rows: u32, cols: u32) -> vec4<f32> {
  if (row >= rows) { return vec4<f32>(0.0); }
  let base = row * cols + col;
  if (shape.aligned_w != 0u && col < cols) { // base % 4 == 0: four whole elements, two whole 16-bit words
    if (DTYPE == 0u) {
      return vec4<f32>(bitcast<f32>(w[base]), bitcast<f32>(w[base + 1u]), bitcast<f32>(w[base + 2u]),
                       bitcast<f32>(w[base + 3u]));
    }
    let lo = w[base >> 1u];
    let hi = w[(base >> 1u) + 1u];
    if (DTYPE == 1u) { return vec4<f32>(unpack2x16float(lo), unpack2x16float(hi)); }
    return vec4<f32>(bitcast<f32>(lo << 16u), bitcast<f32>(lo & 0xffff0000u), bitcast<f32>(hi << 16u),
                     bitcast<f32>(hi & 0xffff0000u));
  }
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (col + q < cols) { v[q] = w_at(base + q); }
  }
  return v;
}

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) group: vec3<u32>,
  @builtin(local_invocation_id) local: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
) {
  let m0 = group.y * TILE;
  let n0 = group.x * TILE;
  var acc: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < shape.k; k0 += SLICE) {
    // Stage x[m0 .. m0+63, k0 .. k0+15]: 256 threads, one vec4 each, transposed into x_tile.
    let r = t / 4u;
    let kq = (t % 4u) * 4u;
    let xv = load_x(m0 + r, k0 + kq, shape.m, shape.k);
    for (var q = 0u; q < 4u; q++) { x_tile[(kq + q) * 16u + r / 4u][r % 4u] = xv[q]; }
    // Stage op(W)[k0 .. k0+15, n0 .. n0+63].
    if (OUT_IN) {
      let wv = load_w(n0 + r, k0 + kq, shape.n, shape.k);
      for (var q = 0u; q < 4u; q++) { w_tile[(kq + q) * 16u + r / 4u][r % 4u] = wv[q]; }
    } else {
      let kk = t / 16u;
      let nq = (t % 16u) * 4u;
      w_tile[kk * 16u + nq / 4u] = load_w(k0 + kk, n0 + nq, shape.k, shape.n);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SLICE; kk++) {
      let av = x_tile[kk * 16u + local.y];
      let bv = w_tile[kk * 16u + local.x];
      acc[0] = fma(vec4<f32>(av.x), bv, acc[0]);
      acc[1] = fma(vec4<f32>(av.y), bv, acc[1]);
      acc[2] = fma(vec4<f32>(av.z), bv, acc[2]);
      acc[3] = fma(vec4<f32>(av.w), bv, acc[3]);
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let row = m0 + local.y * 4u + i;
    if (row >= shape.m) { break; }
    for (var j = 0u; j < 4u; j++) {
      let col = n0 + local.x * 4u + j;
      if (col < shape.n) { y[row * shape.n + col] = acc[i][j]; }
    }
  }
}

const FEW: u32 = 8u; // most rows few_rows takes (the wrapper chooses the entry point)
var<workgroup> partial: array<array<vec4<f32>, 8>, 64>;

@compute @workgroup_size(64)
fn few_rows(@builtin(workgroup_id) group: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
            @builtin(local_invocation_index) t: u32) {
  let n0 = (group.y * groups.x + group.x) * 4u;
  if (n0 >= shape.n) { return; } // uniform per workgroup
  var acc: array<vec4<f32>, 8>;
  for (var i = 0u; i < FEW; i++) { acc[i] = vec4<f32>(0.0); }
  for (var k = t; k < shape.k; k += 64u) {
    var wv = vec4<f32>(0.0); // op(W)[k, n0 .. n0+3]
    for (var q = 0u; q < 4u; q++) {
      if (n0 + q < shape.n) { wv[q] = w_at(select(k * shape.n + n0 + q, (n0 + q) * shape.k + k, OUT_IN)); }
    }
    for (var i = 0u; i < min(shape.m, FEW); i++) {
      let e = i * shape.k + k;
      acc[i] = fma(vec4<f32>(x[e >> 2u][e & 3u]), wv, acc[i]);
    }
  }
  for (var i = 0u; i < FEW; i++) { partial[t][i] = acc[i]; }
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride /= 2u) {
    if (t < stride) {
      for (var i = 0u; i < FEW; i++) { partial[t][i] += partial[t + stride][i]; }
    }
    workgroupBarrier();
  }
  if (t < min(shape.m, FEW)) {
    for (var q = 0u; q < 4u; q++) {
      if (n0 + q < shape.n) { y[t * shape.n + n0 + q] = partial[0][t][q]; }
    }
  }
}
