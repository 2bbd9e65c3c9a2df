/**
 * The queue board: bull-board (its Fastify adapter) at /admin/queues, over every lane of every
 * job kind, for admin keys only (plugins/auth.ts). A browser sends the key as HTTP Basic
 * authentication (any user name, the key as the password): the board's page and the calls
 * it makes then carry it.
 */
import type { FastifyInstance } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { allQueues } from '../../queue/queues.js';

export const QUEUE_BOARD_PATH = '/admin/queues';

export default async function queueBoard(app: FastifyInstance): Promise<void> {
  if (!app.hasDecorator('queue')) return; // (an offline app has no queues)
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(QUEUE_BOARD_PATH);
  createBullBoard({
    queues: allQueues(app.queue.lanes).map((q) => new BullMQAdapter(q, { readOnlyMode: false })),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'cpc-service queues' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
}
