/**
 * Gives the kernel recently used free memory before a measured run. On this project's machine (a VM whose
 * balloon takes back memory the guest leaves free) the page cache of a fresh 1.4 GB output costs 3–4 s of
 * system time when it lands on memory free for a while and 0.3–0.5 s on memory freed a moment ago: without
 * this, a run's wall depends on what ran just before it (a job submitted after a server's start-up pays the
 * first case, a CLI run right after another the second). Writes `bytes` to a file in `dir` and deletes it.
 */
export async function warmPages(dir: string, bytes: number): Promise<void> {
  const path = `${dir}/warm-pages-${crypto.randomUUID().slice(0, 8)}`;
  const chunk = new Uint8Array(16 << 20).fill(1);
  try {
    using file = await Deno.open(path, { write: true, createNew: true });
    for (let written = 0; written < bytes; written += chunk.byteLength) await file.write(chunk);
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}
