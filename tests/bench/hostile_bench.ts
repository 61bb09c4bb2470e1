/**
 * `deno task bench hostile`: the worst inputs one tenant can send, against the real app in its own process
 * (hostile_server.ts), each measured for the server's RSS (before → peak → after, from /proc), its CPU seconds,
 * the wall time, and what another tenant sees meanwhile: the latency of its polls (`GET /v1/edits/{id}`, one
 * every 20 ms, sequential) — p50 / p99 / max over the scenario.
 *
 * Scenarios: idle (the baseline); a safetensors upload whose 8-byte length claims a 100,000,000-byte header;
 * 16 JSONL lines each just under the line cap (PROFS_MAX_LINE_BYTES), then one just over it; 3,000 requests
 * with made-up HTTP methods (and /metrics' size before and after); 25 racing PUTs of one 1 MiB model file; 300
 * Server-Sent Event streams opened at once by one tenant and held for 5 s (the cap PROFS_MAX_STREAMS_PER_TENANT
 * answers the rest with 429), then the same on a second server whose cap is 1000, for comparison.
 */
import { DEFAULT_CONFIG } from "../../api/deps.ts";

const SERVER = new URL("./hostile_server.ts", import.meta.url).pathname;

interface Server {
  child: Deno.ChildProcess;
  url: string;
  authA: Record<string, string>;
  authB: Record<string, string>;
  jobA: string;
  jobB: string;
  modelA: string;
}

async function startServer(env: Record<string, string> = {}): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", SERVER],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!out.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`hostile_server exited: ${out}`);
    out += value;
  }
  reader.releaseLock();
  const [, port, keyA, keyB, jobA, jobB, modelA] = out.trim().split(" ");
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    authA: { Authorization: `Bearer ${keyA}` },
    authB: { Authorization: `Bearer ${keyB}` },
    jobA,
    jobB,
    modelA,
  };
}

let server = await startServer();
let { url, authA, authB, jobA, jobB, modelA } = server;
let pid = server.child.pid;

function rssMb(): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

function cpuSeconds(): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, clock ticks of 1/100 s
}

/** Tenant B's polls use their own connection pool, so the load's connections never queue them here. */
const probeClient = Deno.createHttpClient({});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN;
}

interface Row {
  name: string;
  wall: number;
  cpu: number;
  rss: [number, number, number];
  polls: number[];
  note: string;
}
const rows: Row[] = [];

async function scenario(name: string, work: () => Promise<string>): Promise<void> {
  const rssBefore = rssMb();
  let peak = rssBefore;
  const sampler = setInterval(() => peak = Math.max(peak, rssMb()), 20);
  const polls: number[] = [];
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const t0 = performance.now();
      const r = await fetch(`${url}/v1/edits/${jobB}`, { headers: authB, client: probeClient });
      await r.body?.cancel();
      if (r.status !== 200) throw new Error(`tenant B's poll answered ${r.status}`);
      polls.push(performance.now() - t0);
      await sleep(20);
    }
  })();
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const note = await work();
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds() - cpu0;
  probing = false;
  await probe;
  clearInterval(sampler);
  await sleep(200);
  rows.push({ name, wall, cpu, rss: [rssBefore, peak, rssMb()], polls: polls.sort((a, b) => a - b), note });
  console.error(`  done: ${name}`);
}

async function status(response: Promise<Response>): Promise<number> {
  const r = await response;
  await r.body?.cancel();
  return r.status;
}

const count = (statuses: number[]) =>
  Object.entries(Object.groupBy(statuses, (s) => String(s))).map(([s, l]) => `${l!.length}× ${s}`).join(", ");

await scenario("idle (baseline)", async () => {
  await sleep(3000);
  return "";
});

await scenario("safetensors header claiming 100,000,000 bytes", async () => {
  const body = new Uint8Array(8 + 1024 ** 2).fill(0x20);
  new DataView(body.buffer).setBigUint64(0, 100_000_000n, true);
  const t0 = performance.now();
  const s = await status(fetch(`${url}/v1/models/${modelA}/files/model.safetensors`, {
    method: "PUT",
    headers: authA,
    body,
  }));
  return `answer ${s} in ${(performance.now() - t0).toFixed(0)} ms (cap ${DEFAULT_CONFIG.maxHeaderBytes} B)`;
});

await scenario("16 JSONL lines at the line cap, then one over it", async () => {
  const cap = DEFAULT_CONFIG.maxLineBytes;
  const line = (bytes: number) => {
    const shell = JSON.stringify({ preferred: "", rejected: "b" });
    return JSON.stringify({ preferred: "a".repeat(bytes - shell.length), rejected: "b" });
  };
  const atCap = Array.from({ length: 16 }, () => line(cap - 1)).join("\n") + "\n";
  const t0 = performance.now();
  const a = await status(
    fetch(`${url}/v1/datasets?name=long`, { method: "POST", headers: authA, body: atCap }),
  );
  const t1 = performance.now();
  const b = await status(
    fetch(`${url}/v1/datasets?name=over`, { method: "POST", headers: authA, body: line(cap + 1) }),
  );
  return `at the cap: ${a} in ${(t1 - t0).toFixed(0)} ms; over: ${b} in ${
    (performance.now() - t1).toFixed(0)
  } ms`;
});

await scenario("3,000 requests with random methods", async () => {
  const size = async () => (await (await fetch(`${url}/metrics`)).text()).length;
  const before = await size();
  for (let i = 0; i < 3000; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        status(
          fetch(`${url}/metrics`, { method: `X${crypto.randomUUID().slice(0, 8).toUpperCase()}${i + j}` }),
        )),
    );
  }
  return `/metrics ${before} → ${await size()} bytes`;
});

await scenario("25 racing PUTs of one 1 MiB model file", async () => {
  const bodies = Array.from({ length: 25 }, (_, i) => new Uint8Array(1024 ** 2).fill(i));
  const statuses = await Promise.all(
    bodies.map((body) =>
      status(fetch(`${url}/v1/models/${modelA}/files/weights.bin`, { method: "PUT", headers: authA, body }))
    ),
  );
  const model = await (await fetch(`${url}/v1/models/${modelA}`, { headers: authA })).json();
  const file = (model.files as { name: string; sha256: string }[]).find((f) => f.name === "weights.bin");
  const hashes = await Promise.all(
    bodies.map(async (b) =>
      Array.from(
        new Uint8Array(await crypto.subtle.digest("SHA-256", b)),
        (x) => x.toString(16).padStart(2, "0"),
      )
        .join("")
    ),
  );
  return `${count(statuses)}; recorded sha256 is one request's bytes: ${hashes.includes(file?.sha256 ?? "")}`;
});

/** Opens 300 event streams of tenant A at once (measured), holds them 3 s (measured apart), closes them. */
async function streams(cap: number): Promise<void> {
  const controllers = Array.from({ length: 300 }, () => new AbortController());
  let statuses: number[] = [];
  await scenario(`300 SSE streams of one tenant opened at once, cap ${cap}`, async () => {
    statuses = await Promise.all(controllers.map(async (controller) => {
      const r = await fetch(`${url}/v1/edits/${jobA}/events`, {
        headers: { ...authA, Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (r.status !== 200) await r.body?.cancel();
      return r.status;
    }));
    return count(statuses);
  });
  await scenario(`… the same streams held open 5 s, cap ${cap}`, async () => {
    await sleep(5000);
    return `${statuses.filter((s) => s === 200).length} open`;
  });
  for (const c of controllers) c.abort();
  await sleep(500);
}

await streams(DEFAULT_CONFIG.maxStreamsPerTenant);

// The same with the cap raised above 300, to show what it prevents.
server.child.kill("SIGTERM");
await server.child.status;
server = await startServer({ PROFS_MAX_STREAMS_PER_TENANT: "1000" });
({ url, authA, authB, jobA, jobB, modelA } = server);
pid = server.child.pid;
await scenario("idle (baseline, second server)", async () => {
  await sleep(3000);
  return "";
});
await streams(1000);

const f = (n: number, d = 1) => n.toFixed(d);
console.log(`load average at the end: ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
console.log(
  "| scenario | wall s | server CPU s | server RSS MB before → peak → after | tenant B poll p50 / p99 / max ms (n) | outcome |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of rows) {
  console.log(
    `| ${r.name} | ${f(r.wall, 2)} | ${f(r.cpu, 2)} | ${r.rss.map((x) => f(x, 0)).join(" → ")} | ` +
      `${f(percentile(r.polls, 0.5))} / ${f(percentile(r.polls, 0.99))} / ${
        f(r.polls.at(-1) ?? NaN)
      } (${r.polls.length}) | ${r.note} |`,
  );
}
server.child.kill("SIGTERM");
await server.child.status;
