/**
 * WGSL sources live in `shaders/<name>.wgsl` at the repository root; wrappers load them by name. Reading is the
 * only I/O here, and each file is read once per process (the text never changes while running).
 */
const SHADER_DIR = new URL("../../shaders/", import.meta.url);
const cache = new Map<string, Promise<string>>();

export function loadShader(name: string): Promise<string> {
  if (!/^[a-z0-9_]+$/.test(name)) {
    throw new RangeError(`Cannot load shader as its name must match [a-z0-9_]+: current value is '${name}'`);
  }
  let text = cache.get(name);
  if (!text) {
    text = Deno.readTextFile(new URL(`${name}.wgsl`, SHADER_DIR));
    cache.set(name, text);
    text.catch(() => cache.delete(name));
  }
  return text;
}
