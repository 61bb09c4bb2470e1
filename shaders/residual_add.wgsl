// residual_add: adds a branch into the residual stream, in place: x[i] += y[i].
//   shape          uniform { length }
//   x [length]     f32, in place
//   y [length]     f32
struct Shape { length: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  for (var i = gid.x; i < shape.length; i += groups.x * 256u) { x[i] += y[i]; }
}
