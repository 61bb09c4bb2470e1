// rows_dot: C [M, KB] = A [M, K] · B [K, KB] for a thin B (KB small: a basis V, a block Q).
// One workgroup of 64 threads per (row of A, group of 4 columns of B): the threads stride along the row (vec4
// loads when K is a multiple of 4), each keeps a vec4 of partial dot products, and a tree reduction in
// workgroup memory finishes them. The row index spans grid x and y so M may exceed 65535.
// Used for Z = T Q (subspace iteration) and removed = W V (projection with D on the column axis).
struct Shape {
  m: u32,
  k: u32,
  kb: u32,
  aligned: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const THREADS: u32 = 64u;
var<workgroup> partial: array<vec4<f32>, 64>;

// B[p, j0 .. j0+3], 0 past KB.
fn b_row(p: u32, j0: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  for (var q = 0u; q < 4u; q++) {
    if (j0 + q < shape.kb) { v[q] = b[p * shape.kb + j0 + q]; }
  }
  return v;
}

@compute @workgroup_size(64)
fn main(
  @builtin(workgroup_id) group: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
) {
  let row = group.y * groups.x + group.x;
  let j0 = group.z * 4u;
  var acc = vec4<f32>(0.0);
  if (row < shape.m) {
    let base = row * shape.k;
    if (shape.aligned != 0u) {
      for (var p = t * 4u; p < shape.k; p += THREADS * 4u) {
        let av = a[(base + p) >> 2u];
        acc = fma(vec4<f32>(av.x), b_row(p, j0), acc);
        acc = fma(vec4<f32>(av.y), b_row(p + 1u, j0), acc);
        acc = fma(vec4<f32>(av.z), b_row(p + 2u, j0), acc);
        acc = fma(vec4<f32>(av.w), b_row(p + 3u, j0), acc);
      }
    } else {
      for (var p = t; p < shape.k; p += THREADS) {
        let e = base + p;
        acc = fma(vec4<f32>(a[e >> 2u][e & 3u]), b_row(p, j0), acc);
      }
    }
  }
  partial[t] = acc;
  workgroupBarrier();
  for (var stride = THREADS / 2u; stride > 0u; stride /= 2u) {
    if (t < stride) { partial[t] += partial[t + stride]; }
    workgroupBarrier();
  }
  if (t == 0u && row < shape.m) {
    for (var q = 0u; q < 4u; q++) {
      if (j0 + q < shape.kb) { c[row * shape.kb + j0 + q] = partial[0][q]; }
    }
  }
}
