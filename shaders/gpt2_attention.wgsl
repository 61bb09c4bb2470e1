// Causal multi-head attention with a padding mask, one workgroup per (row, head): row r's head h attends to
// keys 0..keyCount[r]-1 of sequence seq[r] in the KV cache (keys past the row's position or past the sequence's
// real tokens are never read), out[r, h·hd + i] = Σ_j softmax_j(q·k_j / sqrt(hd)) · v_j[i].
//   shape               uniform
//   qkv      [R, 3D]    f32 (queries in columns 0..D)
//   kCache   [S, C, D]  f32
//   vCache   [S, C, D]  f32
//   seq      [R]        u32
//   keyCount [R]        u32 (1 ≤ keyCount ≤ C ≤ MAX_KEYS)
//   out      [R, D]     f32
struct Shape { rows: u32, dim: u32, heads: u32, capacity: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> kCache: array<f32>;
@group(0) @binding(3) var<storage, read> vCache: array<f32>;
@group(0) @binding(4) var<storage, read> seq: array<u32>;
@group(0) @binding(5) var<storage, read> keyCount: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
const MAX_KEYS: u32 = 1024u; // GPT-2's longest context; the wrapper checks the cache capacity against it
const MAX_HEAD: u32 = 256u; // the wrapper checks D / heads against it

var<workgroup> scores: array<f32, MAX_KEYS>;
var<workgroup> query: array<f32, MAX_HEAD>;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wg.x;
  let h = wg.y;
  let t = lid.x;
  let hd = shape.dim / shape.heads;
  let n = keyCount[r];
  let base = seq[r] * shape.capacity * shape.dim + h * hd;
  let scale = 1.0 / sqrt(f32(hd));
  for (var i = t; i < hd; i += WG) { query[i] = qkv[r * 3u * shape.dim + h * hd + i]; }
  workgroupBarrier();

  var localMax = -3.4e38;
  for (var j = t; j < n; j += WG) {
    var s = 0.0;
    for (var i = 0u; i < hd; i++) { s += query[i] * kCache[base + j * shape.dim + i]; }
    scores[j] = s * scale;
    localMax = max(localMax, scores[j]);
  }
  partial[t] = localMax;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) { partial[t] = max(partial[t], partial[t + s]); }
    workgroupBarrier();
  }
  let rowMax = partial[0];
  workgroupBarrier();

  var localSum = 0.0;
  for (var j = t; j < n; j += WG) {
    scores[j] = exp(scores[j] - rowMax);
    localSum += scores[j];
  }
  partial[t] = localSum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  let total = partial[0];

  for (var i = t; i < hd; i += WG) {
    var acc = 0.0;
    for (var j = 0u; j < n; j++) { acc += scores[j] * vCache[base + j * shape.dim + i]; }
    out[r * shape.dim + h * hd + i] = acc / total;
  }
}
