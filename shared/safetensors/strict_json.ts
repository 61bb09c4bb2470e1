/**
 * JSON.parse that rejects duplicate object keys. JSON.parse keeps the last of two equal keys silently, and a
 * safetensors header with two entries for one tensor name is exactly the ambiguity the format forbids.
 */

export class DuplicateKeyError extends Error {
  override name = "DuplicateKeyError";
  constructor(readonly key: string) {
    super(`duplicate key '${key}'`);
  }
}

/** Parses `text` as JSON (SyntaxError on malformed input, DuplicateKeyError on a repeated key). */
export function parseStrictJson(text: string): unknown {
  const value = JSON.parse(text); // syntax errors with the engine's own message
  assertNoDuplicateKeys(text);
  return value;
}

/** Walks the (already valid) JSON text and throws on the first object that repeats a key. */
function assertNoDuplicateKeys(text: string): void {
  const stack: (Set<string> | null)[] = []; // one entry per open container: keys seen (objects) or null (arrays)
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const end = endOfString(text, i);
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.has(key)) throw new DuplicateKeyError(key);
        top.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (c === "[") {
      stack.push(null);
    } else if (c === "}" || c === "]") {
      stack.pop();
    } else if (c === ",") {
      expectKey = stack[stack.length - 1] !== null && stack.length > 0;
    }
  }
}

function endOfString(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i;
  }
  return text.length - 1;
}
