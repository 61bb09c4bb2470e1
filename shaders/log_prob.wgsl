// log_prob: log-probability of each row's target token under its logits, one workgroup of 64 threads per row:
//   out[i] = logits[i, targets[i]] − max_v logits[i, v] − log Σ_v exp(logits[i, v] − max)
//   shape              uniform { rows, vocab }
//   logits  [N, V]     f32
//   targets [N]        u32 (< V)
//   out     [N]        f32
struct Shape { rows: u32, vocab: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u,
        @builtin(local_invocation_id) lid: vec3u) {
  let i = wg.y * groups.x + wg.x;
  if (i >= shape.rows) { return; }
  let t = lid.x;
  let base = i * shape.vocab;
  var localMax = -3.4e38;
  for (var v = t; v < shape.vocab; v += WG) { localMax = max(localMax, logits[base + v]); }
  partial[t] = localMax;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) { partial[t] = max(partial[t], partial[t + s]); }
    workgroupBarrier();
  }
  let rowMax = partial[0];
  workgroupBarrier();
  var localSum = 0.0;
  for (var v = t; v < shape.vocab; v += WG) { localSum += exp(logits[base + v] - rowMax); }
  partial[t] = localSum;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (t < s) { partial[t] += partial[t + s]; }
    workgroupBarrier();
  }
  if (t == 0u) { out[i] = logits[base + min(targets[i], shape.vocab - 1u)] - rowMax - log(partial[0]); }
}
