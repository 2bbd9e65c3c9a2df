/**
 * A data-parallel training worker (worker thread): one replica of the
 * network and optimizer on its own TensorFlow.js backend instance, training
 * on its shard of each shared batch, in lock-step with its peers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../backend.js';
import { trainStep, evalStep } from '../train-step.js';
import { networkFor } from '../stepper.js';
import { Adam } from '../adam.js';
import { captureCheckpoint, restoreCheckpoint } from '../checkpoint.js';
import { SharedCollective } from './collective.js';
import { Replica } from '../replica.js';
import { viewSharedBatch } from './shared-batch.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './protocol.js';
import * as tf from '../tf.js';

const init = workerData as WorkerInit;
const port = parentPort!;

async function start() {
  await initBackend(init.backend);
  const network = networkFor(init.config, init.networkSeed);
  const optimizer = new Adam({ learningRate: init.config.learningRate });
  const collective = new SharedCollective(init.rank, init.size, init.collective);
  const replica = new Replica(network, optimizer, collective);
  const batch = viewSharedBatch(init.batch);

  async function handle(req: WorkerRequest): Promise<unknown> {
    switch (req.type) {
      case 'train':
        return trainStep(replica, batch, init.config);
      case 'eval':
        return evalStep(network, batch, init.config);
      case 'lr':
        optimizer.learningRate = req.learningRate;
        return undefined;
      case 'tensors':
        return tf.memory().numTensors;
      case 'capture':
        return captureCheckpoint(network, optimizer, req.state);
      case 'restore':
        await restoreCheckpoint(req.checkpoint, network, optimizer);
        return undefined;
    }
  }

  // requests are handled strictly in order
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (req: WorkerRequest) => {
    queue = queue.then(async () => {
      let reply: WorkerReply;
      try {
        reply = { id: req.id, ok: true, result: await handle(req) };
      } catch (err) {
        // a training step that throws would leave its peers at the next barrier: stop them too
        if (req.type === 'train') collective.abort();
        reply = { id: req.id, ok: false, error: (err as Error).stack ?? String(err) };
      }
      port.postMessage(reply);
    });
  });
  port.postMessage({ id: 0, ok: true });
}

start().catch((err) => port.postMessage({ id: 0, ok: false, error: (err as Error).stack ?? String(err) }));
