// kv_write: copies each new row of keys or values into its sequence's slot of the KV cache:
//   cache[seq[r], pos[r], :] = src[r, :]
//   shape              uniform { rows, width, capacity }
//   src   [R, W]       f32 (W = kv_heads · head_dim)
//   seq   [R]          u32
//   pos   [R]          u32 (< capacity; rows past it are skipped)
//   cache [S, C, W]    f32
struct Shape { rows: u32, width: u32, capacity: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> seq: array<u32>;
@group(0) @binding(3) var<storage, read> pos: array<u32>;
@group(0) @binding(4) var<storage, read_write> cache: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  for (var i = gid.x; i < shape.rows * shape.width; i += groups.x * 256u) {
    let r = i / shape.width;
    if (pos[r] < shape.capacity) {
      cache[(seq[r] * shape.capacity + pos[r]) * shape.width + i % shape.width] = src[i];
    }
  }
}
