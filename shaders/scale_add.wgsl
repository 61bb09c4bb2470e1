// scale_add: z [L] = α·x [L] + β·y [L], elementwise (the preference matrix T = (X⁺ − X⁻) / 2).
// The element index spans grid x and y so L may exceed 65535 workgroups of 256.
struct Shape {
  length: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = id.y * groups.x * 256u + id.x;
  if (i < shape.length) { z[i] = shape.alpha * x[i] + shape.beta * y[i]; }
}
