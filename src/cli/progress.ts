/** Progress output: a bar on a terminal, JSON lines with --json, quiet otherwise. */
import cliProgress from 'cli-progress';

export interface Reporter {
  /** `from`: the step it starts at (a job watched mid-way; its ETA counts from there) */
  start(total: number, label: string, from?: number): void;
  update(value: number, fields: Record<string, unknown>): void;
  event(obj: Record<string, unknown>): void;
  /** a `warning` event with --json, else `warning: <message>` on stderr */
  warn(message: string, fields: Record<string, unknown>): void;
  stop(): void;
}

export function makeReporter(json: boolean): Reporter {
  if (json) {
    return {
      start: () => undefined,
      update: (value, fields) => process.stdout.write(JSON.stringify({ event: 'step', step: value, ...fields }) + '\n'),
      event: (obj) => process.stdout.write(JSON.stringify(obj) + '\n'),
      warn: (message, fields) => process.stdout.write(JSON.stringify({ event: 'warning', ...fields, message }) + '\n'),
      stop: () => undefined,
    };
  }
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(total, label, from = 0) {
      if (!process.stderr.isTTY) {
        process.stderr.write(`${label}: ${total} steps\n`);
        return;
      }
      bar = new cliProgress.SingleBar(
        {
          format: `${label} [{bar}] {value}/{total} | loss {loss} | acc {accuracy} (chance {chance}) | {imagesPerSec} img/s | eta {eta_formatted}`,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, from, { loss: '-', accuracy: '-', chance: '-', imagesPerSec: '-' });
    },
    update(value, fields) {
      if (bar) bar.update(value, fields);
      else if (value % 50 === 0) process.stderr.write(`step ${value} ${JSON.stringify(fields)}\n`);
    },
    event(obj) {
      const line = Object.entries(obj)
        .map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(4) : JSON.stringify(v)}`)
        .join(' ');
      if (bar) bar.stop();
      process.stderr.write(line + '\n');
      if (bar) bar = null;
    },
    warn(message) {
      bar?.stop();
      bar = null;
      process.stderr.write(`warning: ${message}\n`);
    },
    stop() {
      bar?.stop();
    },
  };
}
