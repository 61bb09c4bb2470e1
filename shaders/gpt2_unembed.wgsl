// Tied unembedding of selected rows against one slice of the vocabulary:
// logits[i, vocabStart + v] = x[rowIndex[i]] · wte[v] for v < vocabRows. The token embedding may exceed one
// storage binding, so the wrapper binds it slice by slice and dispatches once per slice into one logits buffer.
// Each thread computes 4 rows × 4 tokens in registers (no workgroup memory or barriers, which software adapters
// run slowly); out-of-range rows and tokens are read clamped and never written.
//   shape                 uniform
//   x        [R, D]       f32 (final-LayerNorm output)
//   rowIndex [N]          u32
//   wte      [vocabRows, D] f32 (one slice)
//   logits   [N, V]       f32
struct Shape { rows: u32, dim: u32, vocab: u32, vocabStart: u32, vocabRows: u32 }

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> rowIndex: array<u32>;
@group(0) @binding(3) var<storage, read> wte: array<f32>;
@group(0) @binding(4) var<storage, read_write> logits: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let v0 = gid.x * 4u;
  let i0 = gid.y * 4u;
  if (v0 >= shape.vocabRows || i0 >= shape.rows) { return; }
  let lastRow = shape.rows - 1u;
  let lastV = shape.vocabRows - 1u;
  let x0 = rowIndex[i0] * shape.dim;
  let x1 = rowIndex[min(i0 + 1u, lastRow)] * shape.dim;
  let x2 = rowIndex[min(i0 + 2u, lastRow)] * shape.dim;
  let x3 = rowIndex[min(i0 + 3u, lastRow)] * shape.dim;
  let w0 = v0 * shape.dim;
  let w1 = min(v0 + 1u, lastV) * shape.dim;
  let w2 = min(v0 + 2u, lastV) * shape.dim;
  let w3 = min(v0 + 3u, lastV) * shape.dim;
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var k = 0u; k < shape.dim; k++) {
    let wv = vec4<f32>(wte[w0 + k], wte[w1 + k], wte[w2 + k], wte[w3 + k]);
    a0 += x[x0 + k] * wv;
    a1 += x[x1 + k] * wv;
    a2 += x[x2 + k] * wv;
    a3 += x[x3 + k] * wv;
  }
  let acc = array<vec4<f32>, 4>(a0, a1, a2, a3);
  let rows = min(4u, shape.rows - i0);
  let cols = min(4u, shape.vocabRows - v0);
  for (var i = 0u; i < rows; i++) {
    for (var q = 0u; q < cols; q++) {
      logits[(i0 + i) * shape.vocab + shape.vocabStart + v0 + q] = acc[i][q];
    }
  }
}
