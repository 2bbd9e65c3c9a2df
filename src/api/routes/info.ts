/**
 * GET /v1/info: what the service runs on. The backend the API's inference
 * threads are configured with, and every live worker with the TensorFlow.js
 * backend, TensorFlow version, device and threads it trains on (from the
 * names the workers give their BullMQ connections), the device class it
 * serves (gpu or cpu) and the queues it consumes.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { createRequire } from 'node:module';
import { JOB_KINDS, LANES, laneLabel, parseWorkerName, type WorkerRuntime } from '../../queue/queues.js';
import { withTimeout } from '../timeout.js';
import { HttpError } from '../plugins/errors.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

const Backend = Type.Object({
  name: Type.String({ description: 'tensorflow | wasm | cpu' }),
  package: Type.String(),
  version: Type.String(),
  tensorflow: Type.Optional(Type.String({ description: "the TensorFlow C library's version (native backends)" })),
  device: Type.String(),
  gpu: Type.Boolean(),
  threads: Type.Integer(),
});
const WorkerInfo = Type.Object({
  host: Type.String(),
  pid: Type.Integer(),
  serves: Type.Union([Type.Literal('gpu'), Type.Literal('cpu')], {
    description: 'gpu: takes `device: gpu` jobs (and `any` ones when idle); cpu: takes `cpu` and `any` jobs',
  }),
  queues: Type.Array(Type.String({ description: 'the queues it consumes: cpc and probe (the shared lanes), or cpc-gpu and probe-gpu' })),
  backend: Backend,
});
const Info = Type.Object({
  version: Type.String(),
  inference: Type.Object({
    backend: Type.String({ description: 'INFERENCE_BACKEND: the backend of the inference threads' }),
    threads: Type.Integer(),
  }),
  workers: Type.Array(WorkerInfo),
});

const info: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/v1/info', { schema: { tags: ['health'], response: { 200: Info } } }, async () => {
    const byWorker = new Map<string, WorkerRuntime & { serves: 'gpu' | 'cpu'; queues: string[] }>();
    const lanes = JOB_KINDS.flatMap((kind) => LANES.map((lane) => ({ name: laneLabel(kind, lane), queue: app.queue.lanes[kind][lane] })));
    let lists;
    try {
      lists = await withTimeout(Promise.all(lanes.map(async ({ name, queue }) => ({ name, clients: await queue.getWorkers() }))), 2000);
    } catch {
      throw new HttpError(503, 'the queue (Redis) is unavailable; try again shortly', undefined, { code: 'queue_unavailable' });
    }
    for (const { name, clients } of lists) {
      for (const client of clients) {
        // (BullMQ reports the queue as `name`; the client's own name, `<prefix>:<queue>:w:<worker name>`, as `rawname`)
        const raw = (client as { rawname?: string }).rawname ?? '';
        const runtime = parseWorkerName(raw.includes(':w:') ? raw.slice(raw.indexOf(':w:') + 3) : undefined);
        if (!runtime) continue;
        const key = `${runtime.host}/${runtime.pid}`;
        const entry = byWorker.get(key) ?? {
          host: runtime.host,
          pid: runtime.pid,
          serves: runtime.serves ?? 'cpu',
          queues: [],
          backend: runtime.backend,
        };
        if (!entry.queues.includes(name)) entry.queues.push(name);
        byWorker.set(key, entry);
      }
    }
    return {
      version,
      inference: { backend: app.config.INFERENCE_BACKEND, threads: app.config.INFERENCE_THREADS },
      workers: [...byWorker.values()],
    };
  });
};

export default info;
