// Tied unembedding of selected rows against one slice of the vocabulary:
// logits[i, vocabStart + v] = x[rowIndex[i]] · wte[v] for v < vocabRows. The token embedding may exceed one
// storage binding, so the wrapper binds it slice by slice and dispatches once per slice into one logits buffer.
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

const TILE: u32 = 16u;
var<workgroup> xTile: array<array<f32, 16>, 16>;
var<workgroup> wTile: array<array<f32, 16>, 16>; // wTile[v][k]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = wg.y * TILE + lid.y;
  let v = wg.x * TILE + lid.x;
  let loadV = wg.x * TILE + lid.y;
  var acc = 0.0;
  for (var k0 = 0u; k0 < shape.dim; k0 += TILE) {
    let k = k0 + lid.x;
    var xv = 0.0;
    if (i < shape.rows && k < shape.dim) { xv = x[rowIndex[i] * shape.dim + k]; }
    xTile[lid.y][lid.x] = xv;
    var wv = 0.0;
    if (loadV < shape.vocabRows && k < shape.dim) { wv = wte[loadV * shape.dim + k]; }
    wTile[lid.y][lid.x] = wv;
    workgroupBarrier();
    for (var kk = 0u; kk < TILE; kk++) { acc += xTile[lid.y][kk] * wTile[lid.x][kk]; }
    workgroupBarrier();
  }
  if (i < shape.rows && v < shape.vocabRows) { logits[i * shape.vocab + shape.vocabStart + v] = acc; }
}
