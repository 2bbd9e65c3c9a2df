/**
 * Backend selection: tfjs-node-gpu -> tfjs-node -> wasm -> cpu, unless one is
 * forced (argument or CPC_BACKEND). The native packages are optional
 * dependencies loaded dynamically, so the engine runs where they cannot install.
 */
import * as tf from './tf.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type BackendChoice = 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: BackendChoice[] = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'];

export interface BackendInfo {
  choice: BackendChoice;
  /** tfjs backend name actually active: tensorflow | wasm | cpu */
  name: string;
  package: string;
  version: string;
}

const require = createRequire(import.meta.url);

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function tryNative(pkg: string): Promise<boolean> {
  try {
    await import(pkg);
    return tf.findBackend('tensorflow') !== null || tf.engine().registryFactory['tensorflow'] !== undefined;
  } catch {
    return false;
  }
}

async function useWasm(): Promise<void> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  wasm.setWasmPaths(join(dist, 'dist') + '/');
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
}

let active: BackendInfo | null = null;

export function parseBackendChoice(value: string | undefined): BackendChoice {
  const v = (value ?? 'auto') as BackendChoice;
  if (!BACKEND_CHOICES.includes(v)) throw new Error(`unknown backend "${value}" (choose one of ${BACKEND_CHOICES.join(', ')})`);
  return v;
}

export async function initBackend(choice: BackendChoice = parseBackendChoice(process.env.CPC_BACKEND)): Promise<BackendInfo> {
  // production mode: no debug checks, and no "install tfjs-node" banner on stderr
  tf.enableProdMode();
  if (active && (choice === 'auto' || active.choice === choice)) return active;
  const attempts: BackendChoice[] = choice === 'auto' ? ['node-gpu', 'node', 'wasm', 'cpu'] : [choice];
  const failures: string[] = [];
  for (const candidate of attempts) {
    try {
      if (candidate === 'node-gpu' || candidate === 'node') {
        const pkg = candidate === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
        if (!(await tryNative(pkg)) || !(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} is not installed or failed to load`);
        active = { choice: candidate, name: 'tensorflow', package: pkg, version: packageVersion(pkg) };
      } else if (candidate === 'wasm') {
        await useWasm();
        active = { choice: candidate, name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', version: packageVersion('@tensorflow/tfjs-backend-wasm') };
      } else {
        if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to initialise');
        active = { choice: candidate, name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', version: packageVersion('@tensorflow/tfjs-backend-cpu') };
      }
      await tf.ready();
      return active;
    } catch (err) {
      failures.push(`${candidate}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no usable TensorFlow.js backend (${failures.join('; ')})`);
}

export function activeBackend(): BackendInfo {
  if (!active) throw new Error('initBackend() has not been called');
  return active;
}
