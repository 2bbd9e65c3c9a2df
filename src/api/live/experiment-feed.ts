/**
 * An experiment's live feed: its detail (aggregate status, counts, progress,
 * jobs with their latest and best metrics), sent to a client when it joins and
 * to every client whenever it changes (a job added, started, stepped, ended).
 * It does not end with the experiment's jobs (a sweep may add more); it ends
 * when the experiment is deleted.
 */
import { Feed, type FeedOptions, type Subscriber } from './feed.js';
import { experimentChannel, type ChangeListener } from '../../store/change-listener.js';
import { NotFound } from '../../store/errors.js';

export class ExperimentFeed extends Feed<Subscriber> {
  private snapshot: { json: string; data: unknown } | null = null;
  private deleted = false;

  constructor(
    experimentId: string,
    /** the experiment's detail now (throws NotFound once it is deleted) */
    private readonly load: () => Promise<unknown>,
    listener: ChangeListener,
    options: FeedOptions,
  ) {
    super(options);
    const listening = listener.listen(experimentChannel(experimentId), () => this.changed());
    this.whileOpen(listening.stop);
    this.firstAwait(listening.ready);
  }

  protected async catchUp(sub: Subscriber): Promise<void> {
    if (!this.deleted) this.snapshot ??= await this.read();
    if (this.deleted || !this.snapshot) {
      sub.stream.send('end', { status: 'deleted' });
      return sub.stream.close();
    }
    sub.stream.send('experiment', this.snapshot.data);
  }

  protected async refresh(): Promise<void> {
    const next = await this.read();
    if (!next) return this.endAll('end', { status: 'deleted' });
    if (next.json === this.snapshot?.json) return;
    this.snapshot = next;
    this.forEachLive((sub) => sub.stream.send('experiment', next.data));
  }

  private async read(): Promise<{ json: string; data: unknown } | null> {
    try {
      const data = await this.load();
      return { json: JSON.stringify(data), data };
    } catch (err) {
      if (!(err instanceof NotFound)) throw err;
      this.deleted = true;
      return null;
    }
  }
}
