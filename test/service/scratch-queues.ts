/**
 * Lane queues under a prefix no worker of a harness consumes, for tests that drive the reaper or
 * the claimer by hand. The job rows a test makes for them are deleted afterwards, and the queues
 * emptied: the invariant checker of later tests compares every row with the harness's queues.
 */
import type { Redis } from 'ioredis';
import type { Harness } from './harness.js';
import { allQueues, laneQueues, redisConnection, type LaneQueues } from '../../src/queue/queues.js';
import { createJob, type NewJob } from '../../src/store/jobs.js';

export interface ScratchQueues {
  queues: LaneQueues;
  connection: Redis;
  /** a job row that is deleted when the test ends */
  createJob(input: NewJob): ReturnType<typeof createJob>;
}

export async function withScratchQueues<T>(h: Harness, prefix: string, f: (scratch: ScratchQueues) => Promise<T>): Promise<T> {
  const db = h.app.db;
  const connection = redisConnection(h.config.REDIS_URL);
  const queues = laneQueues(connection, prefix);
  const ids: string[] = [];
  try {
    return await f({
      queues,
      connection,
      async createJob(input) {
        const created = await createJob(db, input);
        ids.push(created.job.id);
        return created;
      },
    });
  } finally {
    await db.job.deleteMany({ where: { id: { in: ids } } });
    for (const queue of allQueues(queues)) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
    connection.disconnect();
  }
}
