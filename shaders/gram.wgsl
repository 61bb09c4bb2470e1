// gram: G [KA, KB] = Aᵀ · B for thin A [R, KA] and B [R, KB] with a long R (D or N): VᵀV_prev and EᵀE for
// the convergence test, ZᵀZ and QᵀQ for Rayleigh-Ritz. One workgroup of 256 threads per (row i of G,
// group of 4 columns): threads stride over R keeping a vec4 of sums, then a tree reduction.
struct Shape {
  r: u32,
  ka: u32,
  kb: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;

const THREADS: u32 = 256u;
var<workgroup> partial: array<vec4<f32>, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let i = group.x;
  let j0 = group.y * 4u;
  let width = min(4u, shape.kb - j0);
  var acc = vec4<f32>(0.0);
  for (var r = t; r < shape.r; r += THREADS) {
    var bv = vec4<f32>(0.0);
    for (var q = 0u; q < width; q++) { bv[q] = b[r * shape.kb + j0 + q]; }
    acc = fma(vec4<f32>(a[r * shape.ka + i]), bv, acc);
  }
  partial[t] = acc;
  workgroupBarrier();
  for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u) {
    for (var q = 0u; q < width; q++) { g[i * shape.kb + j0 + q] = partial[0][q]; }
  }
}
