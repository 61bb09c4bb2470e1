// Writes each row's key and value (columns D..2D and 2D..3D of qkv) into its sequence's KV-cache slot:
// kCache[seq[r], pos[r], :] = qkv[r, D:2D]; vCache[seq[r], pos[r], :] = qkv[r, 2D:3D].
//   shape               uniform
//   qkv    [R, 3D]      f32
//   seq    [R]          u32
//   pos    [R]          u32
//   kCache [S, C, D]    f32
//   vCache [S, C, D]    f32
struct Shape { rows: u32, dim: u32, capacity: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> seq: array<u32>;
@group(0) @binding(3) var<storage, read> pos: array<u32>;
@group(0) @binding(4) var<storage, read_write> kCache: array<f32>;
@group(0) @binding(5) var<storage, read_write> vCache: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let total = shape.rows * shape.dim;
  for (var i = gid.x; i < total; i += groups.x * 256u) {
    let r = i / shape.dim;
    let d = i % shape.dim;
    let dst = (seq[r] * shape.capacity + pos[r]) * shape.dim + d;
    kCache[dst] = qkv[r * 3u * shape.dim + shape.dim + d];
    vCache[dst] = qkv[r * 3u * shape.dim + 2u * shape.dim + d];
  }
}
