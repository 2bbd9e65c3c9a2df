/**
 * The live feeds of this API process (src/api/live): one Postgres LISTEN
 * connection, and the feeds by kind and key that the stream routes share.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { ChangeListener } from '../../store/change-listener.js';
import { Feeds, type FeedOptions } from '../live/feed.js';
import type { JobFeed } from '../live/job-feed.js';
import type { ExperimentFeed } from '../live/experiment-feed.js';
import type { JobLogLine, MetricPoint } from '../../generated/prisma/client.js';

export interface LiveFeeds {
  listener: ChangeListener;
  jobEvents: Feeds<JobFeed<MetricPoint>>;
  jobLogs: Feeds<JobFeed<JobLogLine>>;
  experiments: Feeds<ExperimentFeed>;
  /** for a job's feeds (a job's news comes from one worker: no gap between refreshes) */
  jobOptions: FeedOptions;
  /** for an experiment's (many jobs may step at once: at most a refresh a second) */
  experimentOptions: FeedOptions;
}

declare module 'fastify' {
  interface FastifyInstance {
    live: LiveFeeds;
  }
}

export default fp(
  async function liveFeeds(app: FastifyInstance) {
    const log = app.log.child({ part: 'live-feeds' });
    const listener = new ChangeListener(app.config.DATABASE_URL, log);
    // (not awaited: Postgres away or slow at start must not hold the API's start; the listener keeps
    // trying, and once it listens every feed made meanwhile reads again)
    void listener.start();
    const resyncMs = app.config.LIVE_FEED_RESYNC_MS;
    app.decorate('live', {
      listener,
      jobEvents: new Feeds<JobFeed<MetricPoint>>(),
      jobLogs: new Feeds<JobFeed<JobLogLine>>(),
      experiments: new Feeds<ExperimentFeed>(),
      jobOptions: { minGapMs: 0, resyncMs, log },
      experimentOptions: { minGapMs: 1000, resyncMs, log },
    });
    app.addHook('onClose', async () => listener.close());
  },
  { name: 'live-feeds', dependencies: ['database'] },
);
