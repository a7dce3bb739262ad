/**
 * Progress of a long step on stderr — rows done, percent, rate — for the operator scripts. On a
 * terminal it redraws one line; otherwise (--progress with stderr redirected) it writes a line
 * every few seconds, so a log shows that the run is alive without flooding it. Disabled, it prints
 * nothing, so stdout (the summary, --json) never carries progress.
 */
export interface Progress {
  /**
   * A new step: its name, how many units there are to do (null when unknown) and their name
   * (default "rows"; null for a step that has no count to show).
   */
  step(label: string, total: number | null, unit?: string | null): void;
  /** `done` units of the current step are finished. */
  update(done: number): void;
  /** The current step is finished (its last line stays). */
  end(): void;
}

export interface ProgressOptions {
  enabled: boolean;
  stream?: NodeJS.WriteStream;
  /** ms between redraws on a terminal, and between lines otherwise. */
  terminalIntervalMs?: number;
  logIntervalMs?: number;
  now?: () => number;
}

const number = (n: number) => n.toLocaleString("en-US");

export function formatProgress(
  label: string,
  done: number,
  total: number | null,
  unit: string | null,
  elapsedMs: number,
  finished = false,
): string {
  // A step without a count: only whether it is running, and how long it took.
  if (unit === null) return finished ? `${label}: done in ${(elapsedMs / 1000).toFixed(1)} s` : `${label}…`;
  const rate = elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0;
  const count =
    total === null
      ? `${number(done)} ${unit}`
      : `${number(done)}/${number(total)} ${unit} (${total === 0 ? 100 : Math.floor((done * 100) / total)}%)`;
  return `${label}: ${count}, ${number(rate)} ${unit}/s`;
}

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  if (!options.enabled) return { step() {}, update() {}, end() {} };
  const terminal = stream.isTTY === true;
  const interval = terminal ? (options.terminalIntervalMs ?? 200) : (options.logIntervalMs ?? 2000);
  let label = "";
  let unit: string | null = "rows";
  let total: number | null = null;
  let done = 0;
  let startedAt = 0;
  let shownAt = 0;
  let open = false;
  const show = (finished = false) => {
    const line = formatProgress(label, done, total, unit, now() - startedAt, finished);
    stream.write(terminal ? `\r\u001b[K${line}` : `${line}\n`);
    shownAt = now();
  };
  return {
    step(nextLabel, nextTotal, nextUnit = "rows") {
      if (open) this.end();
      [label, total, unit, done, startedAt, open] = [nextLabel, nextTotal, nextUnit, 0, now(), true];
      show();
    },
    update(nextDone) {
      done = nextDone;
      if (open && now() - shownAt >= interval) show();
    },
    end() {
      if (!open) return;
      show(true);
      if (terminal) stream.write("\n");
      open = false;
    },
  };
}
