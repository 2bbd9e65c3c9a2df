/**
 * Postgres change notifications (LISTEN; the triggers of migration
 * 20261209000000_change_notifications send them on commit): one connection per
 * process, one LISTEN per channel however many handlers it has, UNLISTEN when
 * the last one leaves. The connection comes back by itself after Postgres went
 * away; every handler is then called with RESYNC, since whatever was notified
 * meanwhile is lost (notifications are not stored).
 */
import pg from 'pg';

/** the payload a handler gets after a reconnect: anything may have changed */
export const RESYNC = '*';

/** how the listening connection names itself to Postgres (pg_stat_activity) */
export const LISTENER_APPLICATION_NAME = 'cpc-change-listener';

export type ChangeHandler = (payload: string) => void;

export interface Listening {
  /** stop calling the handler (UNLISTEN once the channel has no handler left) */
  stop(): void;
  /**
   * settles once Postgres listens to the channel: from then on no commit goes unnoticed. (While the
   * connection is down it settles at once: the reconnect calls every handler with RESYNC.)
   */
  ready: Promise<void>;
}

export const jobChannel = (jobId: string) => `cpc_job_${jobId}`;
export const experimentChannel = (experimentId: string) => `cpc_exp_${experimentId}`;

interface Logger {
  warn(obj: object, msg: string): void;
}

export class ChangeListener {
  private client: pg.Client | null = null;
  private readonly handlers = new Map<string, Set<ChangeHandler>>();
  /** the commands sent on the connection, one after another */
  private commands: Promise<void> = Promise.resolve();
  /** each channel's LISTEN, settled once Postgres listens */
  private readonly listening = new Map<string, Promise<void>>();
  private closed = false;
  private retryMs = 250;
  private reconnectTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly log: Logger,
  ) {}

  /** connect (settles once listening, or once the first try failed: it keeps trying) */
  async start(): Promise<void> {
    await this.connect();
  }

  /** channels listened to now (for /metrics) */
  get channels(): number {
    return this.handlers.size;
  }

  get connected(): boolean {
    return this.client !== null;
  }

  /** call `handler` with each notification on `channel` */
  listen(channel: string, handler: ChangeHandler): Listening {
    let set = this.handlers.get(channel);
    let ready = this.listening.get(channel) ?? Promise.resolve();
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      ready = this.command('LISTEN', channel);
      this.listening.set(channel, ready);
    }
    set.add(handler);
    return {
      ready,
      stop: () => {
        const current = this.handlers.get(channel);
        if (!current?.delete(handler) || current.size) return;
        this.handlers.delete(channel);
        this.listening.delete(channel);
        void this.command('UNLISTEN', channel);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private command(verb: 'LISTEN' | 'UNLISTEN', channel: string): Promise<void> {
    const client = this.client;
    // (not connected: the reconnect listens to every channel that has handlers then)
    if (!client) return Promise.resolve();
    // one query at a time on the connection (pg deprecates queueing them on one client)
    const run = this.commands.then(() =>
      client.query(`${verb} ${client.escapeIdentifier(channel)}`).then(
        () => undefined,
        (err: Error) => {
          this.log.warn({ err: err.message, channel }, `${verb} failed`);
          // (a failed LISTEN leaves the channel deaf: start over on a new connection, which resyncs)
          if (verb === 'LISTEN') this.drop(client);
        },
      ),
    );
    this.commands = run;
    return run;
  }

  private async connect(): Promise<void> {
    this.reconnectTimer = null;
    if (this.closed) return;
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
      application_name: LISTENER_APPLICATION_NAME,
    });
    client.on('error', (err) => {
      this.log.warn({ err: err.message }, 'change listener connection error');
      this.drop(client);
    });
    client.on('end', () => this.drop(client));
    client.on('notification', (n) => {
      for (const handler of this.handlers.get(n.channel) ?? []) handler(n.payload ?? '');
    });
    try {
      await client.connect();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'change listener could not connect; trying again');
      await client.end().catch(() => undefined);
      this.scheduleReconnect();
      return;
    }
    if (this.closed) return void (await client.end().catch(() => undefined));
    // (set first: a channel added from here on is listened to by listen() itself)
    this.client = client;
    try {
      // (one round trip for every channel: a reconnect may find hundreds)
      const channels = [...this.handlers.keys()];
      const batch = channels.length
        ? client.query(channels.map((c) => `LISTEN ${client.escapeIdentifier(c)};`).join('')).then(() => undefined)
        : Promise.resolve();
      // (the commands of this connection come after it)
      this.commands = batch.catch(() => undefined);
      await batch;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'change listener could not listen; trying again');
      this.drop(client);
      return;
    }
    this.retryMs = 250;
    // whatever changed while no one listened
    for (const set of this.handlers.values()) for (const handler of set) handler(RESYNC);
  }

  private drop(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => void this.connect(), this.retryMs);
    this.reconnectTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, 5000);
  }
}
