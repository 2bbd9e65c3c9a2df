/** The threads that decode images and run the registered models (predict, embed). */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { InferencePool } from '../inference/pool.js';

declare module 'fastify' {
  interface FastifyInstance {
    inference: InferencePool;
  }
}

export default fp(
  async function inference(app: FastifyInstance) {
    const { INFERENCE_THREADS, INFERENCE_BACKEND, MODEL_CACHE_SIZE, INFERENCE_QUEUE } = app.config;
    const pool = new InferencePool({
      threads: INFERENCE_THREADS,
      backend: INFERENCE_BACKEND,
      modelCacheSize: MODEL_CACHE_SIZE,
      maxQueue: INFERENCE_QUEUE,
    });
    app.decorate('inference', pool);
    app.addHook('onClose', async () => pool.close());
  },
  { name: 'inference' },
);
