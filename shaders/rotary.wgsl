// rotary: rotary position embedding applied in place to the first ROTARY_DIM of each head, one thread per
// (row, head, pair i < rotary_dim / 2). With c = table[pos[r], i] and s = table[pos[r], half + i]:
//   half-split (INTERLEAVED = false; Llama, Mistral, Qwen): pair (i, i + half)
//   interleaved (INTERLEAVED = true; GPT-J's rotate_every_two): pair (2i, 2i + 1)
//   (a, b) ← (a·c − b·s, b·c + a·s); columns past rotary_dim are left as they are.
// The cos/sin table is computed on the host in float64 from rope_theta and rope_scaling (rotaryTable), so
// frequency scalings need no shader change and large angles are not reduced in f32.
//   shape                        uniform { rows, heads, head_dim, rotary_dim, positions }
//   x     [R, heads·head_dim]    f32, rotated in place
//   pos   [R]                    u32 (< positions)
//   table [positions, rotary_dim] f32: cos in columns 0..half, sin in half..rotary_dim
override INTERLEAVED: bool = false;

struct Shape { rows: u32, heads: u32, head_dim: u32, rotary_dim: u32, positions: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) groups: vec3u) {
  let half = shape.rotary_dim / 2u;
  let total = shape.rows * shape.heads * half;
  for (var n = gid.x; n < total; n += groups.x * 256u) {
    let i = n % half;
    let rh = n / half; // r · heads + h
    let r = rh / shape.heads;
    let p = min(pos[r], shape.positions - 1u); // the wrapper's twin checks; never read past the table
    let c = table[p * shape.rotary_dim + i];
    let s = table[p * shape.rotary_dim + half + i];
    let base = rh * shape.head_dim;
    let ia = select(base + i, base + 2u * i, INTERLEAVED);
    let ib = select(base + i + half, base + 2u * i + 1u, INTERLEAVED);
    let a = x[ia];
    let b = x[ib];
    x[ia] = a * c - b * s;
    x[ib] = b * c + a * s;
  }
}
