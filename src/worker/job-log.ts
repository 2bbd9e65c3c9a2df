/**
 * An attempt's log lines into Postgres (job_log_lines, GET /v1/jobs/:id/logs),
 * in batches a second apart. Bounded: the first `maxLines` of an attempt are
 * kept, then one line says how many more were dropped. Best effort and not
 * fenced: a log write never fails or slows the attempt (a batch that cannot be
 * written is kept for the next try while it fits under the bound), and a
 * stale attempt's lines are still its own, marked by their attempt number.
 */
import type { Db } from '../store/db.js';

export type LogLevel = 'info' | 'warn' | 'error';

/** one line's most characters (a stack trace, a long error) */
export const LOG_LINE_MAX_CHARS = 4000;

interface PendingLine {
  attempt: number;
  time: Date;
  level: LogLevel;
  message: string;
}

export class JobLogWriter {
  private pending: PendingLine[] = [];
  private kept = 0;
  private dropped = 0;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly jobId: string,
    private readonly attempt: number,
    private readonly options: { maxLines: number; flushMs?: number },
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 1000);
    this.timer.unref();
  }

  line(level: LogLevel, message: string): void {
    if (this.closed) return;
    if (this.kept >= this.options.maxLines) {
      this.dropped++;
      return;
    }
    this.kept++;
    const text = message.length > LOG_LINE_MAX_CHARS ? `${message.slice(0, LOG_LINE_MAX_CHARS)}… (${message.length} characters)` : message;
    this.pending.push({ attempt: this.attempt, time: new Date(), level, message: text });
  }

  /** write what is pending (batches go one at a time, in order) */
  flush(): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (!this.pending.length) return;
      const batch = this.pending;
      this.pending = [];
      try {
        await this.db.jobLogLine.createMany({ data: batch.map((l) => ({ jobId: this.jobId, ...l })) });
      } catch {
        // Postgres away, or the job deleted: the lines wait for the next flush (they were counted)
        this.pending = [...batch, ...this.pending];
      }
    });
    return this.writing;
  }

  /** the last flush, with a line for what was dropped (again: a no-op) */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.dropped) {
      this.pending.push({
        attempt: this.attempt,
        time: new Date(),
        level: 'warn',
        message: `${this.dropped} more line(s) of this attempt were not kept (at most ${this.options.maxLines} per attempt)`,
      });
    }
    await this.flush();
  }
}
