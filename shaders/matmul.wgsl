// matmul: C = op(A) · op(B), f32, tiled.
//   op(A) [M, K]: A stored [M, K] row-major, or Aᵀ with A stored [K, M] when TRANS_A.
//   op(B) [K, N]: B stored [K, N] row-major, or Bᵀ with B stored [N, K] when TRANS_B.
//   C [M, N] row-major, overwritten.
// Each 16×16 workgroup computes a 64×64 tile of C; each thread a 4×4 register tile. K advances in slices of 16
// staged in workgroup memory. Loads are vec4 along each operand's contiguous axis when that axis is a multiple
// of 4 (shape.aligned_a / aligned_b), else four guarded scalar loads; rows and columns past M, N, K read 0 and
// are never written, so any shape works, including 1×N, N×1 and K = 1.
override TRANS_A: bool = false;
override TRANS_B: bool = false;

struct Shape {
  m: u32,
  n: u32,
  k: u32,
  aligned_a: u32,
  aligned_b: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const SLICE: u32 = 16u;

// a_tile[kk * 16 + i] = op(A)[m0 + 4i .. 4i+3, k0 + kk]; b_tile[kk * 16 + j] = op(B)[k0 + kk, n0 + 4j .. 4j+3].
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

// Four consecutive elements (row, col .. col+3) of a row-major [rows, cols] matrix stored in `a`; 0 outside.
fn load_a(row: u32, col: u32, rows: u32, cols: u32, aligned: bool) -> vec4<f32> {
  if (row >= rows) { return vec4<f32>(0.0); }
  let base = row * cols + col;
  if (aligned) {
    if (col < cols) { return a[base >> 2u]; }
    return vec4<f32>(0.0);
  }
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (col + q < cols) { v[q] = a[(base + q) >> 2u][(base + q) & 3u]; }
  }
  return v;
}

fn load_b(row: u32, col: u32, rows: u32, cols: u32, aligned: bool) -> vec4<f32> {
  if (row >= rows) { return vec4<f32>(0.0); }
  let base = row * cols + col;
  if (aligned) {
    if (col < cols) { return b[base >> 2u]; }
    return vec4<f32>(0.0);
  }
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (col + q < cols) { v[q] = b[(base + q) >> 2u][(base + q) & 3u]; }
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
  let aligned_a = shape.aligned_a != 0u;
  let aligned_b = shape.aligned_b != 0u;
  var acc: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < shape.k; k0 += SLICE) {
    // Stage op(A)[m0 .. m0+63, k0 .. k0+15]: 256 threads, one vec4 each.
    if (TRANS_A) {
      let kk = t / 16u;
      let mq = (t % 16u) * 4u;
      a_tile[kk * 16u + mq / 4u] = load_a(k0 + kk, m0 + mq, shape.k, shape.m, aligned_a);
    } else {
      let r = t / 4u;
      let kq = (t % 4u) * 4u;
      let v = load_a(m0 + r, k0 + kq, shape.m, shape.k, aligned_a);
      for (var q = 0u; q < 4u; q++) { a_tile[(kq + q) * 16u + r / 4u][r % 4u] = v[q]; }
    }
    // Stage op(B)[k0 .. k0+15, n0 .. n0+63].
    if (TRANS_B) {
      let r = t / 4u;
      let kq = (t % 4u) * 4u;
      let v = load_b(n0 + r, k0 + kq, shape.n, shape.k, aligned_b);
      for (var q = 0u; q < 4u; q++) { b_tile[(kq + q) * 16u + r / 4u][r % 4u] = v[q]; }
    } else {
      let kk = t / 16u;
      let nq = (t % 16u) * 4u;
      b_tile[kk * 16u + nq / 4u] = load_b(k0 + kk, n0 + nq, shape.k, shape.n, aligned_b);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SLICE; kk++) {
      let av = a_tile[kk * 16u + local.y];
      let bv = b_tile[kk * 16u + local.x];
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
      if (col < shape.n) { c[row * shape.n + col] = acc[i][j]; }
    }
  }
}
