/**
 * One live feed per watched thing (a job's events, a job's log, an experiment)
 * per API process, shared by every client streaming it: a change notification
 * (Postgres LISTEN, src/store/change-listener.ts) makes the feed read what is
 * new once and send it to all of them, instead of each client polling.
 *
 * A feed's work runs one task at a time: a joining client's catch-up (what it
 * has not seen yet, from its own Last-Event-ID) and the refreshes. So a client
 * is live only once it has caught up, and no row reaches it twice or never.
 * Notifications that arrive during a refresh fold into one more refresh. A
 * slow resync timer covers notifications lost while Postgres was away.
 */
import type { EventStream } from '../event-stream.js';

export interface Subscriber {
  stream: EventStream;
  /** caught up: receives what the refreshes send */
  live?: boolean;
}

export interface FeedOptions {
  /** the least time between two refreshes (folds bursts of notifications) */
  minGapMs: number;
  /** a refresh at least this often, notified or not */
  resyncMs: number;
  log: { warn(obj: object, msg: string): void };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export abstract class Feed<S extends Subscriber> {
  private readonly joined = new Set<S>();
  private chain: Promise<void> = Promise.resolve();
  private refreshQueued = false;
  private readonly stops: Array<() => void> = [];
  private disposed = false;
  private readonly resync: NodeJS.Timeout;
  private onDisposed: () => void = () => undefined;

  constructor(protected readonly options: FeedOptions) {
    this.resync = setInterval(() => this.changed(), options.resyncMs);
    this.resync.unref();
  }

  /** what a new client has not seen yet (its stream is open; it becomes live afterwards) */
  protected abstract catchUp(sub: S): Promise<void>;
  /** read what changed and send it to the live clients */
  protected abstract refresh(): Promise<void>;

  /** the feed's first task waits for this (its LISTEN), so that nothing after its first read goes unnoticed */
  protected firstAwait(ready: Promise<unknown>): void {
    this.chain = this.chain
      .then(() => ready)
      .then(
        () => undefined,
        // (the clients still catch up: the resync timer covers what this first read missed)
        (err: unknown) => this.options.log.warn({ err }, 'live feed start failed'),
      );
  }

  /** a registration to undo when the feed ends (a LISTEN, an event listener) */
  protected whileOpen(stop: () => void): void {
    if (this.disposed) stop();
    else this.stops.push(stop);
  }

  /** called once, when the last client has left */
  whenDisposed(f: () => void): void {
    this.onDisposed = f;
  }

  join(sub: S): void {
    this.joined.add(sub);
    sub.stream.onClose(() => this.leave(sub));
    this.enqueue(async () => {
      if (sub.stream.closed) return;
      await this.catchUp(sub);
      sub.live = !sub.stream.closed;
    });
  }

  /** something may have changed: one refresh (folded with any already waiting) */
  changed(): void {
    if (this.refreshQueued || this.disposed) return;
    this.refreshQueued = true;
    this.enqueue(async () => {
      this.refreshQueued = false;
      await this.refresh();
      if (this.options.minGapMs > 0) await sleep(this.options.minGapMs);
    });
  }

  protected forEachLive(f: (sub: S) => void): void {
    for (const sub of this.joined) if (sub.live && !sub.stream.closed) f(sub);
  }

  /** end every live client's stream with this last event (one still to catch up ends after it has) */
  protected endAll(event: string, data: unknown): void {
    for (const sub of [...this.joined]) {
      if (!sub.live) continue;
      sub.stream.send(event, data);
      sub.stream.close();
    }
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain
      .then(() => (this.disposed ? undefined : task()))
      .catch((err: unknown) => this.options.log.warn({ err }, 'live feed update failed'));
  }

  private leave(sub: S): void {
    if (!this.joined.delete(sub) || this.joined.size || this.disposed) return;
    this.disposed = true;
    clearInterval(this.resync);
    for (const stop of this.stops.splice(0)) stop();
    this.onDisposed();
  }
}

/** the feeds of one kind, by key: a feed is made for the first client and dropped after the last */
export class Feeds<F extends Feed<Subscriber>> {
  private readonly feeds = new Map<string, F>();

  /** the key's feed (made by `create` when there is none) */
  of(key: string, create: () => F): F {
    let feed = this.feeds.get(key);
    if (!feed) {
      const made = create();
      made.whenDisposed(() => {
        if (this.feeds.get(key) === made) this.feeds.delete(key);
      });
      this.feeds.set(key, made);
      feed = made;
    }
    return feed;
  }

  get size(): number {
    return this.feeds.size;
  }
}
