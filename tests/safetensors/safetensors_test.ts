import assert from "node:assert/strict";
import { join } from "node:path";
import { InputError } from "../../shared/errors.ts";
import { fromFloat32, toFloat32 } from "../../shared/safetensors/dtype.ts";
import { MAX_HEADER_BYTES } from "../../shared/safetensors/header.ts";
import { openSafetensors } from "../../shared/safetensors/reader.ts";
import { createSafetensorsWriter, layoutFor, writeSafetensorsFile } from "../../shared/safetensors/writer.ts";

const dir = await Deno.makeTempDir({ prefix: "profs-safetensors-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let counter = 0;

/** A file made of an 8-byte length, the header text as given and `data` bytes: malformed on purpose. */
async function rawFile(
  header: string | Uint8Array,
  data = new Uint8Array(0),
  length?: bigint,
): Promise<string> {
  const json = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, length ?? BigInt(json.byteLength), true);
  const path = join(dir, `raw-${counter++}.safetensors`);
  const bytes = new Uint8Array(8 + json.byteLength + data.byteLength);
  bytes.set(prefix);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.byteLength);
  await Deno.writeFile(path, bytes);
  return path;
}

async function rejects(path: string, pattern: RegExp) {
  await assert.rejects(openSafetensors(path), (error: Error) => {
    assert.ok(error instanceof InputError, `expected InputError, got ${error}`);
    assert.match(error.message, pattern);
    assert.match(error.message, /^Cannot read safetensors file '/);
    return true;
  });
}

const f32 = (n: number) => new Uint8Array(n * 4);

Deno.test("safetensors round-trips tensors, metadata and layout order", async () => {
  const path = join(dir, "round.safetensors");
  const a = new Float32Array([1, -2, 3.5, 4, 5, 6]);
  const b = new Float32Array([0.1, 0.2]);
  await writeSafetensorsFile(path, [
    { name: "z.first", dtype: "F32", shape: [2, 3], data: fromFloat32(a, "F32") },
    { name: "a.second", dtype: "F16", shape: [2], data: fromFloat32(b, "F16") },
    { name: "empty", dtype: "F32", shape: [0, 4], data: new Uint8Array(0) },
  ], { format: "pt" });
  const reader = await openSafetensors(path);
  try {
    assert.deepEqual(reader.header.metadata, { format: "pt" });
    assert.deepEqual(reader.header.tensors.map((t) => t.name), ["z.first", "a.second", "empty"]);
    assert.deepEqual(reader.entry("z.first")?.shape, [2, 3]);
    assert.deepEqual(await reader.readFloat32("z.first"), a);
    assert.deepEqual(await reader.readRowsFloat32("z.first", 1, 1), new Float32Array([4, 5, 6]));
    // F16 keeps ~3 decimal digits: 0.1 → 0.0999755859375.
    assert.deepEqual(await reader.readFloat32("a.second"), Float32Array.from(new Float16Array([0.1, 0.2])));
    assert.equal((await reader.readFloat32("empty")).length, 0);
    assert.equal(reader.header.dataStart % 8, 0, "header is padded to 8 bytes");
  } finally {
    await reader.close();
  }
});

Deno.test("F16 and BF16 convert to float32 and back to the same bits", () => {
  const halves = new Uint16Array([0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x3555]);
  const bytes = new Uint8Array(halves.buffer);
  assert.deepEqual(fromFloat32(toFloat32(bytes, "F16"), "F16"), bytes);
  assert.deepEqual(fromFloat32(toFloat32(bytes, "BF16"), "BF16"), bytes);
  assert.deepEqual(
    toFloat32(new Uint8Array(new Uint16Array([0x3f80, 0xc040]).buffer), "BF16"),
    new Float32Array([1, -3]),
  );
});

Deno.test("BF16 rounds float32 to nearest even", () => {
  // 1 + 2^-8 is exactly halfway between BF16 neighbours 1 and 1 + 2^-7: ties go to the even one (1).
  // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): goes up.
  const values = new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, NaN]);
  const out = new Uint16Array(fromFloat32(values, "BF16").buffer);
  assert.deepEqual([...out.slice(0, 3)], [0x3f80, 0x3f82, 0x3f81]);
  assert.ok(Number.isNaN(toFloat32(new Uint8Array(out.buffer), "BF16")[3]));
});

Deno.test("dtype conversion fills caller buffers (any byte offset) and refuses a buffer of the wrong size", () => {
  for (const dtype of ["F32", "F16", "BF16"] as const) {
    const values = new Float32Array([1, -2, 0.5, 3.25, -0.125]); // exact in all three dtypes
    const size = dtype === "F32" ? 20 : 10;
    const stored = new Uint8Array(size + 1).subarray(1); // odd byte offset, as a slice of a read buffer can be
    const bytes = fromFloat32(values, dtype, dtype === "F32" ? undefined : stored);
    if (dtype !== "F32") assert.equal(bytes.buffer, stored.buffer, `${dtype} bytes land in the given buffer`);
    stored.set(bytes);
    const out = new Float32Array(values.length);
    assert.equal(toFloat32(stored, dtype, out), out);
    assert.deepEqual(out, values, dtype);
    assert.throws(() => toFloat32(stored, dtype, new Float32Array(4)), /out holds 4 values; 5 are needed/);
  }
  assert.throws(() => fromFloat32(new Float32Array(3), "BF16", new Uint8Array(4)), /out holds 4 bytes; 6/);
});

Deno.test("safetensors: a file shorter than 8 bytes is rejected", async () => {
  const path = join(dir, "short.safetensors");
  await Deno.writeFile(path, new Uint8Array(5));
  await rejects(path, /must start with an 8-byte header length: the file has 5 bytes/);
});

Deno.test("safetensors: a header over the 100 MB cap is rejected", async () => {
  await rejects(
    await rawFile("{}", new Uint8Array(0), BigInt(MAX_HEADER_BYTES + 1)),
    /at most 100000000 bytes/,
  );
});

Deno.test("safetensors: a header length beyond the end of the file is rejected", async () => {
  await rejects(
    await rawFile("{}", new Uint8Array(0), 1000n),
    /header length must fit in the file: header length is 1000/,
  );
});

Deno.test("safetensors: a header that is not UTF-8 is rejected", async () => {
  await rejects(await rawFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /valid UTF-8/);
});

Deno.test("safetensors: a header that is not a JSON object is rejected", async () => {
  await rejects(await rawFile('["a"]'), /must be a JSON object: it starts with/);
  await rejects(await rawFile('{"a": '), /must be valid JSON/);
});

Deno.test("safetensors: a repeated key is rejected, even one JSON.parse would silently merge", async () => {
  const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
  await rejects(
    await rawFile(`{"w":${entry},"w":${entry}}`, f32(1)),
    /must not repeat a key: 'w' appears twice/,
  );
});

Deno.test("safetensors: __metadata__ must be an object of strings", async () => {
  await rejects(
    await rawFile('{"__metadata__":{"n":1}}'),
    /'__metadata__' values must be strings: 'n' is number 1/,
  );
  await rejects(await rawFile('{"__metadata__":"x"}'), /'__metadata__' must be an object of strings/);
});

Deno.test("safetensors: an unknown dtype is rejected", async () => {
  await rejects(
    await rawFile('{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', f32(1)),
    /dtype must be one of .*'w' has "F33"/,
  );
});

Deno.test("safetensors: malformed shape, offsets and extra fields are rejected", async () => {
  await rejects(
    await rawFile('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', f32(1)),
    /shape must be an array of non-negative integers/,
  );
  await rejects(
    await rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}', f32(1)),
    /data_offsets must be two non-negative integers/,
  );
  await rejects(
    await rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}', f32(1)),
    /only dtype, shape and data_offsets: 'w' has 'x'/,
  );
});

Deno.test("safetensors: a gap between tensors is rejected", async () => {
  const header =
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
  await rejects(
    await rawFile(header, f32(3)),
    /contiguous from 0 and leave no gap: 'b' begins at 8, expected 4/,
  );
});

Deno.test("safetensors: overlapping tensors are rejected", async () => {
  const header =
    '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
  await rejects(
    await rawFile(header, f32(2)),
    /contiguous from 0 and not overlap: 'b' begins at 4, expected 8/,
  );
});

Deno.test("safetensors: data_offsets that end before they begin are rejected", async () => {
  const header =
    '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}';
  await rejects(await rawFile(header, new Uint8Array(4)), /must not end before they begin: 'b' has \[4, 2\]/);
});

Deno.test("safetensors: a byte size that does not match shape × dtype is rejected", async () => {
  await rejects(
    await rawFile('{"w":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}', new Uint8Array(8)),
    /needs 6 bytes, data_offsets give 8/,
  );
});

Deno.test("safetensors: a shape whose byte size overflows is rejected", async () => {
  const huge = 2 ** 40;
  await rejects(
    await rawFile(`{"w":{"dtype":"F64","shape":[${huge},${huge}],"data_offsets":[0,8]}}`, new Uint8Array(8)),
    /must not overflow/,
  );
});

Deno.test("safetensors: a sub-byte dtype must fill whole bytes", async () => {
  await rejects(
    await rawFile('{"w":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}', new Uint8Array(2)),
    /fill whole bytes: .* has 12 bits/,
  );
});

Deno.test("safetensors: trailing bytes after the last tensor are rejected", async () => {
  await rejects(
    await rawFile('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(2)),
    /no trailing bytes .* tensors need 4 data bytes, the file has 8/,
  );
});

Deno.test("safetensors: a truncated data section is rejected", async () => {
  await rejects(
    await rawFile('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32(1)),
    /contain all tensor data: tensors need 8 data bytes, the file has 4/,
  );
});

Deno.test("safetensors writer streams chunks and refuses to close an incomplete file", async () => {
  const layout = layoutFor([{ name: "a", dtype: "U8", shape: [4] }, { name: "b", dtype: "U8", shape: [2] }]);
  const path = join(dir, "chunks.safetensors");
  const writer = await createSafetensorsWriter(path, layout);
  await writer.write("a", new Uint8Array([1, 2]));
  await writer.write("a", new Uint8Array([3, 4]));
  await assert.rejects(writer.write("a", new Uint8Array([5])), /expected data for 'b', got 'a'/);
  await writer.write("b", new Uint8Array([5]));
  await assert.rejects(writer.close(), /closed before tensor 'b' was complete/);
  await assert.rejects(openSafetensors(path), /contain all tensor data/);
});

Deno.test("safetensors writer refuses duplicate tensor names", () => {
  assert.throws(
    () => layoutFor([{ name: "a", dtype: "U8", shape: [1] }, { name: "a", dtype: "U8", shape: [1] }]),
    /names must be unique: 'a'/,
  );
});

Deno.test("readBytes can read into a reused buffer and refuses one that is too small", async () => {
  const path = join(dir, "buffer.safetensors");
  await writeSafetensorsFile(path, [{
    name: "w",
    dtype: "U8",
    shape: [6],
    data: new Uint8Array([1, 2, 3, 4, 5, 6]),
  }]);
  const reader = await openSafetensors(path);
  try {
    const buffer = new Uint8Array(4);
    const view = await reader.readBytes("w", { begin: 2, end: 5 }, buffer);
    assert.equal(view.buffer, buffer.buffer);
    assert.deepEqual(view, new Uint8Array([3, 4, 5]));
    await assert.rejects(reader.readBytes("w", undefined, buffer), /buffer of 4 bytes cannot hold 6/);
  } finally {
    await reader.close();
  }
});
