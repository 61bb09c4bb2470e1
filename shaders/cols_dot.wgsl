// cols_dot: C = Aᵀ · B for A [M, N] and a thin B [M, KB]: C [N, KB], or stored transposed as [KB, N] when
// shape.trans_c. Column reductions: one thread per (column of A, group of 4 columns of B) walks down the M rows
// (adjacent threads read adjacent columns, so loads coalesce) keeping a vec4 of sums.
// Used for Y = Tᵀ Z (subspace iteration) and removed = Vᵀ W (projection with D on the row axis).
struct Shape {
  m: u32,
  n: u32,
  kb: u32,
  trans_c: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let col = id.x;
  let j0 = id.y * 4u;
  if (col >= shape.n) { return; }
  let width = min(4u, shape.kb - j0);
  var acc = vec4<f32>(0.0);
  for (var r = 0u; r < shape.m; r++) {
    var bv = vec4<f32>(0.0);
    for (var q = 0u; q < width; q++) { bv[q] = b[r * shape.kb + j0 + q]; }
    acc = fma(vec4<f32>(a[r * shape.n + col]), bv, acc);
  }
  for (var q = 0u; q < width; q++) {
    if (shape.trans_c != 0u) {
      c[(j0 + q) * shape.n + col] = acc[q];
    } else {
      c[col * shape.kb + j0 + q] = acc[q];
    }
  }
}
