// attention: causal, padding-masked attention with grouped-query heads, one workgroup of 64 threads per
// (row, query head). Row r's head h reads kv head h / (heads / kv_heads) and attends to keys
// 0..keyCount[r]−1 of sequence seq[r] (keyCount = position + 1: causal, and padding after a sequence's last
// real token is never reached):  out[r, h] = Σ_j softmax_j(scale · q·k_j) · v_j.
// Keys are walked in tiles of 64 with an online softmax (running max m, running sum l, output rescaled by
// exp(m_old − m_new)), so there is no cap on the number of keys. Prefill passes the projected k/v as a cache
// with capacity T; decode passes the KV cache (written by kv_write).
//   shape                             uniform { rows, heads, kv_heads, head_dim, capacity, scale }
//   q        [R, heads·head_dim]      f32
//   kCache   [S, capacity, kv_heads·head_dim] f32
//   vCache   [S, capacity, kv_heads·head_dim] f32
//   seq      [R]                      u32
//   keyCount [R]                      u32 (1 ≤ keyCount ≤ capacity)
//   out      [R, heads·head_dim]      f32
struct Shape { rows: u32, heads: u32, kv_heads: u32, head_dim: u32, capacity: u32, scale: f32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kCache: array<f32>;
@group(0) @binding(3) var<storage, read> vCache: array<f32>;
@group(0) @binding(4) var<storage, read> seq: array<u32>;
@group(0) @binding(5) var<storage, read> keyCount: array<u32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
const MAX_HEAD: u32 = 256u; // = WG · 4 output columns per thread; the wrapper checks head_dim against it
const LOWEST: f32 = -3.0e38;

var<workgroup> query: array<f32, MAX_HEAD>;
var<workgroup> probs: array<f32, WG>;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let item = wg.y * groups.x + wg.x;
  if (item >= shape.rows * shape.heads) { return; }
  let r = item / shape.heads;
  let h = item % shape.heads;
  let t = lid.x;
  let hd = shape.head_dim;
  let kvWidth = shape.kv_heads * hd;
  let base = seq[r] * shape.capacity * kvWidth + (h / (shape.heads / shape.kv_heads)) * hd;
  let n = min(keyCount[r], shape.capacity);
  for (var i = t; i < hd; i += WG) { query[i] = q[item * hd + i]; }
  workgroupBarrier();

  var m = LOWEST;
  var l = 0.0;
  var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
  for (var tile = 0u; tile < n; tile += WG) {
    let j = tile + t;
    var s = LOWEST;
    if (j < n) {
      var dot = 0.0;
      for (var i = 0u; i < hd; i++) { dot += query[i] * kCache[base + j * kvWidth + i]; }
      s = dot * shape.scale;
    }
    partial[t] = s;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
      if (t < stride) { partial[t] = max(partial[t], partial[t + stride]); }
      workgroupBarrier();
    }
    let newMax = max(m, partial[0]);
    let correction = exp(m - newMax);
    probs[t] = select(0.0, exp(s - newMax), j < n);
    workgroupBarrier();
    let count = min(WG, n - tile);
    var tileSum = 0.0;
    for (var jj = 0u; jj < count; jj++) { tileSum += probs[jj]; }
    l = l * correction + tileSum;
    for (var c = 0u; c < 4u; c++) {
      let i = t + c * WG;
      if (i < hd) {
        var a = acc[c] * correction;
        for (var jj = 0u; jj < count; jj++) { a += probs[jj] * vCache[base + (tile + jj) * kvWidth + i]; }
        acc[c] = a;
      }
    }
    m = newMax;
    workgroupBarrier();
  }
  for (var c = 0u; c < 4u; c++) {
    let i = t + c * WG;
    if (i < hd) { out[item * hd + i] = acc[c] / l; }
  }
}
