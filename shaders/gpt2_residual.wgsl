// Residual add in place: x[i] += y[i].
//   shape      uniform
//   x   [n]    f32 (read_write)
//   y   [n]    f32
struct Shape { size: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  for (var i = gid.x; i < shape.size; i += groups.x * 256u) { x[i] += y[i]; }
}
