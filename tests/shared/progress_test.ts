/** shared/progress.ts and the readable log format, with fake time and a captured terminal. */
import assert from "node:assert/strict";
import { bytes, duration, progressBars } from "../../shared/progress.ts";
import { createLogger } from "../../shared/log.ts";
import { ensureRuntimeDir, main, takeLogFormat } from "../../main.ts";

Deno.test("progressBars() draws one bar per stage with rate and ETA, and keeps finished stages as lines", () => {
  let t = 0;
  const out: string[] = [];
  const bars = progressBars({ write: (s) => out.push(s), now: () => t, width: 10, intervalMs: 100 });
  bars.update("embedding", 0, 100);
  t = 2000;
  bars.update("embedding", 50, 100);
  t = 2050;
  bars.update("embedding", 60, 100); // within the interval: not drawn
  t = 4000;
  bars.update("embedding", 100, 100);
  bars.update("svd", 1, 4);
  bars.end();
  const screen = out.join("");
  assert.match(screen, /embedding {2}\[█████░░░░░\] 50\/100 {2}25\/s ETA 2s/);
  assert.doesNotMatch(screen, /60\/100/);
  assert.match(screen, /embedding {2}\[██████████\] 100\/100 {2}25\/s\n/);
  assert.match(screen, /svd +\[███░░░░░░░\] 1\/4/);
  assert.ok(screen.endsWith("\n"));
});

Deno.test("bytes() and duration() read as people write them", () => {
  assert.equal(bytes(512), "512 B");
  assert.equal(bytes(3 * 1024 * 1024), "3.0 MiB");
  assert.equal(duration(42), "42s");
  assert.equal(duration(125), "2m05s");
  assert.equal(duration(3 * 3600 + 60), "3h01m");
});

Deno.test("a text logger writes one readable line; --log-format is taken from anywhere and checked", () => {
  const lines: string[] = [];
  createLogger({ write: (l) => lines.push(l), format: "text" }).info("job claimed", {
    job: "j1",
    note: "a b",
  });
  assert.match(lines[0], /^\d\d:\d\d:\d\d INFO {2}job claimed job=j1 note="a b"$/);
  const saved = Deno.env.get("PROFS_LOG_FORMAT");
  try {
    assert.deepEqual(takeLogFormat(["worker", "--log-format", "json", "--x"]), ["worker", "--x"]);
    assert.equal(Deno.env.get("PROFS_LOG_FORMAT"), "json");
    assert.throws(() => takeLogFormat(["--log-format=xml"]), /must be text or json: current value is 'xml'/);
  } finally {
    saved === undefined ? Deno.env.delete("PROFS_LOG_FORMAT") : Deno.env.set("PROFS_LOG_FORMAT", saved);
  }
});

Deno.test("profs --version prints the release; a missing XDG_RUNTIME_DIR is replaced by a private one", async () => {
  const printed: string[] = [];
  const { log } = console;
  console.log = (...a: unknown[]) => printed.push(a.join(" "));
  try {
    assert.equal(await main(["--version"]), 0);
  } finally {
    console.log = log;
  }
  assert.match(printed[0], /^profs \d+\.\d+\.\d+ \(deno /);

  const saved = Deno.env.get("XDG_RUNTIME_DIR");
  try {
    Deno.env.delete("XDG_RUNTIME_DIR");
    ensureRuntimeDir();
    const dir = Deno.env.get("XDG_RUNTIME_DIR")!;
    assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
    Deno.removeSync(dir);
  } finally {
    saved === undefined ? Deno.env.delete("XDG_RUNTIME_DIR") : Deno.env.set("XDG_RUNTIME_DIR", saved);
  }
});
