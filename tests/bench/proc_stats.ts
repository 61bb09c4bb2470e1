/**
 * What the benches read from Linux's /proc about a process (its own: "self"): its RSS, and the CPU seconds each
 * of its threads has used, by thread name — the main thread (`deno`), the edit's stream threads (`worker-N`),
 * Tokio's I/O threads, V8's helpers. Elsewhere: 0 and nothing.
 */
type Pid = number | "self";

/** VmRSS (now) or VmHWM (the peak) of process `pid`, in MiB. */
export function rssMb(pid: Pid, field: "VmRSS" | "VmHWM"): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(Deno.readTextFileSync(`/proc/${pid}/status`));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds and name of each thread of a process, by thread id. */
export type ThreadSeconds = Map<string, { name: string; s: number }>;

/**
 * Reads the CPU seconds each thread of process `pid` has used into `into`, keyed by thread id; threads that
 * ended between two readings keep their last one.
 */
export function threadSeconds(pid: Pid, into: ThreadSeconds = new Map()): ThreadSeconds {
  try {
    for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      into.set(task.name, { name, s: (Number(fields[11]) + Number(fields[12])) / 100 });
    }
  } catch {
    // a thread ended between the listing and the read, or no /proc
  }
  return into;
}

/** CPU seconds by thread name used between two readings (threads of one name summed), largest first. */
export function cpuByName(before: ThreadSeconds, after: ThreadSeconds): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const [tid, { name, s }] of after) byName[name] = (byName[name] ?? 0) + s - (before.get(tid)?.s ?? 0);
  return Object.fromEntries(
    Object.entries(byName).filter(([, s]) => s >= 0.01).sort((a, b) => b[1] - a[1])
      .map(([name, s]) => [name, Number(s.toFixed(2))]),
  );
}

/**
 * Samples the threads of process `pid` every 100 ms (a thread that ends keeps its last reading) until `stop()`,
 * which returns the CPU seconds by thread name since the start.
 */
export function sampleThreads(pid: Pid): { stop(): Record<string, number> } {
  const before = threadSeconds(pid);
  const seen: ThreadSeconds = new Map(before);
  const timer = setInterval(() => threadSeconds(pid, seen), 100);
  return {
    stop() {
      clearInterval(timer);
      return cpuByName(before, threadSeconds(pid, seen));
    },
  };
}
