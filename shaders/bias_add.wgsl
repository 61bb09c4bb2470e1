// bias_add: adds a bias row to every row of a linear layer's output, in place: x[r, c] += bias[c].
//   shape         uniform { rows, cols }
//   x    [R, C]   f32, in place
//   bias [C]      f32
struct Shape { rows: u32, cols: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  for (var i = gid.x; i < shape.rows * shape.cols; i += groups.x * 256u) { x[i] += bias[i % shape.cols]; }
}
