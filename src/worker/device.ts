/** Which lane a worker serves (queue/queues.ts), from WORKER_DEVICE and what its backend runs on. */
import type { BackendInfo } from '../cpc/backend.js';
import type { ServiceConfig } from '../config.js';
import type { WorkerDevice } from '../queue/queues.js';

export function workerDevice(
  config: Pick<ServiceConfig, 'WORKER_DEVICE' | 'GPU_WORKER_WITHOUT_GPU'>,
  backend: Pick<BackendInfo, 'name' | 'device' | 'gpu'>,
): WorkerDevice {
  if (config.WORKER_DEVICE === 'auto') return backend.gpu ? 'gpu' : 'cpu';
  if (config.WORKER_DEVICE === 'gpu' && !backend.gpu && !config.GPU_WORKER_WITHOUT_GPU) {
    throw new Error(
      `WORKER_DEVICE=gpu, but the training backend (${backend.name} on ${backend.device}) sees no GPU: set CPC_BACKEND=node-gpu on a machine with a GPU, or WORKER_DEVICE=cpu`,
    );
  }
  if (config.WORKER_DEVICE === 'cpu' && backend.gpu) {
    throw new Error('WORKER_DEVICE=cpu, but the training backend runs on a GPU: set CPC_BACKEND=node (or wasm) for a CPU worker');
  }
  return config.WORKER_DEVICE;
}
