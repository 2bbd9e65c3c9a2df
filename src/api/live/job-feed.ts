/**
 * A job's live feeds: its events (status, progress, metric rows) and its log
 * (lines), each shared by every client streaming it from this process. Rows
 * are sent in id order with the last id as the event id; each client has its
 * own position (where its Last-Event-ID left it). Both end once the job is
 * final and every row is sent (its rows are all written before the status
 * turns final), or when the job is deleted.
 */
import type { QueueEvents } from 'bullmq';
import { Feed, type FeedOptions, type Subscriber } from './feed.js';
import { jobChannel, type ChangeListener } from '../../store/change-listener.js';
import { NotFound } from '../../store/errors.js';
import { isFinal } from '../../store/lifecycle.js';
import type { JobRow } from '../../store/jobs.js';

export interface RowsSubscriber extends Subscriber {
  /** the last row this client has */
  after: bigint;
}

/** what one kind of job feed reads and sends */
export interface JobFeedSpec<Row extends { id: bigint }> {
  /** the notifications (payloads on the job's channel) it refreshes on; `*` (a resync) always */
  payloads: readonly string[];
  /** the rows after `after`, oldest first, at most `take` */
  rowsAfter(jobId: string, after: bigint, take: number): Promise<Row[]>;
  /** the id of the job's newest row (0 when it has none) */
  newestId(jobId: string): Promise<bigint>;
  /** send rows to one client (the last row's id is the event id) */
  sendRows(sub: RowsSubscriber, rows: Row[]): void;
  /** the job's row now (throws NotFound once it is deleted) */
  reload(jobId: string): Promise<JobRow>;
  /** a client's first event, and each status change (none: the status is not sent) */
  sendStatus?(sub: RowsSubscriber, job: JobRow): void;
}

const ROWS_PER_READ = 500;

export class JobFeed<Row extends { id: bigint }> extends Feed<RowsSubscriber> {
  /**
   * the last row the refreshes have read: every live client has every row up to here. Only a
   * refresh moves it (a client's catch-up may read further, and the next refresh then skips those
   * rows for that client alone); it starts at the newest row once Postgres listens.
   */
  private after: bigint | null = null;
  private deleted = false;

  constructor(
    private job: JobRow,
    private readonly spec: JobFeedSpec<Row>,
    listener: ChangeListener,
    options: FeedOptions,
    progressFrom: QueueEvents[] = [],
  ) {
    super(options);
    const listening = listener.listen(jobChannel(job.id), (payload) => {
      if (payload === '*' || spec.payloads.includes(payload)) this.changed();
    });
    this.whileOpen(listening.stop);
    // (the row the route read may be older than the LISTEN: read it again once Postgres listens; any
    // row after the newest read here is notified)
    this.firstAwait(
      listening.ready
        .then(() => this.reload())
        .then(async () => {
          this.after = await spec.newestId(job.id);
        }),
    );
    // progress (step, loss, images/s) is not stored: it comes from BullMQ's events, as the worker reports it
    const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
      if (jobId === job.id) this.forEachLive((sub) => sub.stream.send('progress', data));
    };
    for (const events of progressFrom) {
      events.on('progress', onProgress);
      this.whileOpen(() => events.off('progress', onProgress));
    }
  }

  protected async catchUp(sub: RowsSubscriber): Promise<void> {
    if (this.deleted) {
      sub.stream.send('end', { status: 'deleted' });
      return sub.stream.close();
    }
    this.spec.sendStatus?.(sub, this.job);
    // (every row there is now: they may go past what the live clients have, which the next refresh then skips for this one)
    let read = 0;
    await this.readRows(sub.after, (rows) => {
      this.spec.sendRows(sub, rows);
      sub.after = rows[rows.length - 1].id;
      read += rows.length;
    });
    // a position past the newest row (a made-up Last-Event-ID) is taken as where the live clients
    // are: the client gets what the next refreshes read, like them
    if (!read && sub.after > 0n && sub.after > (await this.spec.newestId(this.job.id))) sub.after = this.after ?? 0n;
    // (the status was read before the rows: a final job's rows were all there)
    if (isFinal(this.job.status)) {
      sub.stream.send('end', { status: this.job.status });
      sub.stream.close();
    }
  }

  /** the job's row now; null (and the feed marked deleted) once it is gone */
  private async reload(): Promise<JobRow | null> {
    try {
      return (this.job = await this.spec.reload(this.job.id));
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
      this.deleted = true;
      return null;
    }
  }

  protected async refresh(): Promise<void> {
    // the status first: once it is final, the rows read after it are the last
    const before = this.job.status;
    const fresh = await this.reload();
    if (!fresh) return this.endAll('end', { status: 'deleted' });
    // (the start could not read the newest row: from the least any live client has, each still
    // getting only what it lacks)
    if (this.after === null) {
      let least: bigint | null = null;
      this.forEachLive((sub) => (least = least === null || sub.after < least ? sub.after : least));
      this.after = least;
    }
    if (this.after !== null) {
      await this.readRows(this.after, (rows) => {
        this.after = rows[rows.length - 1].id;
        this.forEachLive((sub) => {
          const unseen = rows.filter((r) => r.id > sub.after);
          if (!unseen.length) return;
          this.spec.sendRows(sub, unseen);
          sub.after = unseen[unseen.length - 1].id;
        });
      });
    }
    const statusChanged = fresh.status !== before;
    if (statusChanged && this.spec.sendStatus) this.forEachLive((sub) => this.spec.sendStatus!(sub, fresh));
    if (isFinal(fresh.status)) this.endAll('end', { status: fresh.status });
  }

  private async readRows(after: bigint, send: (rows: Row[]) => void): Promise<void> {
    for (;;) {
      const rows = await this.spec.rowsAfter(this.job.id, after, ROWS_PER_READ);
      if (!rows.length) return;
      send(rows);
      after = rows[rows.length - 1].id;
      if (rows.length < ROWS_PER_READ) return;
    }
  }
}
