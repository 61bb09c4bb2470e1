// activation: the MLP nonlinearities, element-wise over `length` values, one entry point each:
//   gelu_tanh: x ← 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))     (GPT-2, GPT-J: gelu_new)
//   relu:      x ← max(x, 0)                                       (OPT)
//   swiglu:    x ← silu(x)·up = x / (1 + e^−x) · up                (Llama, Mistral, Qwen: x = gate_proj output)
//   shape          uniform { length }
//   x  [length]    f32, in place
//   up [length]    f32 (swiglu only)
struct Shape { length: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;

// tanh's argument is clamped to ±15, where tanh is ±1 in f32, so exp inside tanh cannot overflow into NaN.
const TANH_CLAMP: f32 = 15.0;

@compute @workgroup_size(256)
fn gelu_tanh(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  for (var i = gid.x; i < shape.length; i += groups.x * 256u) {
    let v = x[i];
    let u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    x[i] = 0.5 * v * (1.0 + tanh(clamp(u, -TANH_CLAMP, TANH_CLAMP)));
  }
}

@compute @workgroup_size(256)
fn relu(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  for (var i = gid.x; i < shape.length; i += groups.x * 256u) { x[i] = max(x[i], 0.0); }
}

@compute @workgroup_size(256)
fn swiglu(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  for (var i = gid.x; i < shape.length; i += groups.x * 256u) {
    let g = x[i];
    // e^−g overflows to +inf for g < −88, giving g / inf = −0: the limit of silu, no NaN.
    x[i] = g / (1.0 + exp(-g)) * up[i];
  }
}
