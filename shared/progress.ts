/**
 * Progress on a terminal: one bar per stage, redrawn in place on stderr, with rate and ETA; a finished stage
 * stays as one line. Off a terminal (pipes, CI, `--json`) nothing is drawn: logs carry the progress there.
 *
 *   embedding  [██████████░░░░░░░░░░]  96/192  12.3/s  ETA 8s
 */
export interface ProgressSink {
  /** `done` of `total` items (bytes when `unit` is "B") in `stage`; a new stage ends the previous bar. */
  update(stage: string, done: number, total: number, unit?: string): void;
  /** ends the current bar (kept on screen) */
  end(): void;
}

export const NO_PROGRESS: ProgressSink = { update() {}, end() {} };

export interface ProgressOptions {
  write?: (text: string) => void;
  now?: () => number;
  width?: number;
  /** draw at most this often (ms); the last update of a stage is always drawn */
  intervalMs?: number;
}

export function progressBars(options: ProgressOptions = {}): ProgressSink {
  const encoder = new TextEncoder();
  const write = options.write ?? ((text: string) => Deno.stderr.writeSync(encoder.encode(text)));
  const now = options.now ?? (() => performance.now());
  const width = options.width ?? 24;
  const interval = options.intervalMs ?? 100;
  let stage: string | null = null;
  let started = 0;
  let lastDraw = -Infinity;
  let line = "";

  function draw(done: number, total: number, unit: string) {
    const seconds = (now() - started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const share = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(share * width);
    const eta = rate > 0 && total > done ? ` ETA ${duration((total - done) / rate)}` : "";
    const count = unit === "B" ? `${bytes(done)}/${bytes(total)}` : `${done}/${total}`;
    const speed = unit === "B" ? `${bytes(rate)}/s` : `${rate.toFixed(rate < 10 ? 1 : 0)}/s`;
    line = `${stage!.padEnd(10)} [${"█".repeat(filled)}${
      "░".repeat(width - filled)
    }] ${count}  ${speed}${eta}`;
    write(`\r\x1b[2K${line}`);
    lastDraw = now();
  }

  return {
    update(next, done, total, unit = "") {
      if (next !== stage) {
        if (stage !== null) write("\n");
        stage = next;
        started = now();
        lastDraw = -Infinity;
      }
      if (done >= total || now() - lastDraw >= interval) draw(done, total, unit);
    },
    end() {
      if (stage !== null) write("\n");
      stage = null;
    },
  };
}

/** Bars when stderr is a terminal, nothing otherwise. */
export function terminalProgress(): ProgressSink {
  return Deno.stderr.isTerminal() ? progressBars() : NO_PROGRESS;
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s % 3600 / 60)).padStart(2, "0")}m`;
}
