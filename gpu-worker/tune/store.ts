/**
 * Where a tune records its trials as they finish, so a search stopped by a crash, a cancel or its budget resumes
 * without repeating one: an interface (the worker can back it by Postgres), an in-memory store, and the CLI's
 * JSONL file (one trial a line, appended and flushed as each finishes; a torn last line — the process died
 * while writing it — is ignored, so that trial runs again).
 */
import { InputError } from "../../shared/errors.ts";
import type { TrialRecord } from "./trial.ts";

export interface TrialStore {
  /** Every trial recorded so far (any order). */
  load(): Promise<TrialRecord[]>;
  /** Records one finished trial durably before the next starts. */
  append(trial: TrialRecord): Promise<void>;
}

export function memoryTrialStore(initial: TrialRecord[] = []): TrialStore & { trials: TrialRecord[] } {
  const trials = [...initial];
  return {
    trials,
    load: () => Promise.resolve([...trials]),
    append(trial) {
      trials.push(trial);
      return Promise.resolve();
    },
  };
}

export const TRIALS_FILE = "trials.jsonl";

export function jsonlTrialStore(path: string): TrialStore {
  return {
    async load() {
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        if (error instanceof Deno.errors.NotFound) return [];
        throw error;
      }
      if (text.length > 0 && !text.endsWith("\n")) {
        // A torn last line (the process died while appending it): cut it, so the next append starts a line.
        text = text.slice(0, text.lastIndexOf("\n") + 1);
        await Deno.truncate(path, new TextEncoder().encode(text).length);
      }
      return text.split("\n").filter((line) => line.trim() !== "").map((line, i) => {
        try {
          return JSON.parse(line) as TrialRecord;
        } catch {
          throw new InputError(`Cannot resume the search as '${path}' line ${i + 1} is not a trial record`);
        }
      });
    },
    async append(trial) {
      const file = await Deno.open(path, { append: true, create: true });
      try {
        const bytes = new TextEncoder().encode(JSON.stringify(trial) + "\n");
        let written = 0;
        while (written < bytes.length) written += await file.write(bytes.subarray(written));
        await file.sync();
      } finally {
        file.close();
      }
    },
  };
}
