/**
 * Backend selection. `auto` takes tfjs-node-gpu where it loads and sees a GPU,
 * else tfjs-node, else wasm, else cpu; a backend asked for by name that cannot
 * load is an error, never a silent fallback. The native packages are optional
 * dependencies loaded dynamically, so the engine runs where they cannot install.
 *
 * A native package that fails half-way through loading can leave its
 * 'tensorflow' backend factory registered in this process, and tfjs then
 * keeps that one (a later tfjs-node would only warn "already registered").
 * So under `auto` the GPU package is first tried in a child process, and
 * loaded here only if it works there and sees a GPU.
 *
 * TensorFlow's thread pools are sized before the library loads (it reads
 * TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS once): `threads` (default:
 * the cores this process may use, cgroup limits included) intra-op threads,
 * one inter-op thread (a training step is a chain of large ops).
 */
import * as tf from './tf.js';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { readFileSync } from 'node:fs';

export type BackendChoice = 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';
export const BACKEND_CHOICES: BackendChoice[] = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'];

export interface BackendInfo {
  choice: BackendChoice;
  /** tfjs backend name actually active: tensorflow | wasm | cpu */
  name: string;
  package: string;
  version: string;
  /** the TensorFlow C library's version (native backends) */
  tensorflow?: string;
  /** what runs the ops: the CPU model, or "GPU (CUDA)" */
  device: string;
  gpu: boolean;
  /** TensorFlow's intra-op threads (native backends; 1 on wasm and cpu, per data-parallel worker) */
  threads: number;
}

export interface BackendOptions {
  /** TensorFlow intra-op threads on native backends (0 or absent: the cores this process may use) */
  threads?: number;
}

const require = createRequire(import.meta.url);
const NATIVE_PACKAGES = { 'node-gpu': '@tensorflow/tfjs-node-gpu', node: '@tensorflow/tfjs-node' } as const;

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** cores this process may use: its CPU affinity, capped by a cgroup (v2 or v1) CPU quota */
export function availableCores(): number {
  let cores = availableParallelism();
  const quota = (text: string, period?: string): number | null => {
    const [q, p] = period === undefined ? text.trim().split(/\s+/) : [text.trim(), period.trim()];
    const qn = Number(q);
    const pn = Number(p);
    return q === 'max' || !(qn > 0) || !(pn > 0) ? null : Math.max(1, Math.ceil(qn / pn));
  };
  try {
    const limit = quota(readFileSync('/sys/fs/cgroup/cpu.max', 'utf8'));
    if (limit) cores = Math.min(cores, limit);
  } catch {
    try {
      const limit = quota(
        readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', 'utf8'),
        readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_period_us', 'utf8'),
      );
      if (limit) cores = Math.min(cores, limit);
    } catch {
      // no cgroup limit readable: the affinity mask it is
    }
  }
  return cores;
}

function installed(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/** load a native package in a child process: null if it works (and sees a GPU when `needGpu`), else why not */
function probeInChild(pkg: string, needGpu: boolean): string | null {
  const script = `const tf = require(${JSON.stringify(pkg)}); process.stdout.write(JSON.stringify({ gpu: tf.backend().isUsingGpuDevice === true }));`;
  const r = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
    cwd: dirname(require.resolve(`${pkg}/package.json`)),
  });
  if (r.status !== 0) return (r.stderr.split('\n').find((l) => /Error/.test(l)) ?? `exit ${r.status}`).trim().slice(0, 200);
  if (needGpu && !(JSON.parse(r.stdout) as { gpu: boolean }).gpu) return 'it loads, but TensorFlow sees no GPU';
  return null;
}

async function loadNative(candidate: 'node-gpu' | 'node', threads: number, choice: BackendChoice): Promise<BackendInfo> {
  const pkg = NATIVE_PACKAGES[candidate];
  if (!installed(pkg)) throw new Error(`${pkg} is not installed`);
  if (choice === 'auto' && candidate === 'node-gpu') {
    const why = probeInChild(pkg, true);
    if (why) throw new Error(`${pkg}: ${why}`);
  }
  process.env.TF_NUM_INTRAOP_THREADS ??= String(threads);
  process.env.TF_NUM_INTEROP_THREADS ??= '1';
  try {
    await import(pkg);
  } catch (err) {
    throw new Error(`${pkg} failed to load: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded, but its 'tensorflow' backend did not initialise`);
  const backend = tf.backend() as unknown as { isUsingGpuDevice?: boolean; binding?: { TF_Version?: string } };
  const gpu = backend.isUsingGpuDevice === true;
  if (candidate === 'node-gpu' && !gpu)
    throw new Error(`${pkg} loaded, but TensorFlow sees no GPU (CUDA 11.2 / cuDNN 8.1 libraries and a driver are needed)`);
  return {
    choice,
    name: 'tensorflow',
    package: pkg,
    version: packageVersion(pkg),
    tensorflow: backend.binding?.TF_Version,
    device: gpu ? 'GPU (CUDA)' : cpuModel(),
    gpu,
    threads: Number(process.env.TF_NUM_INTRAOP_THREADS),
  };
}

function cpuModel(): string {
  return cpus()[0]?.model.trim() || 'CPU';
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

export async function initBackend(
  choice: BackendChoice = parseBackendChoice(process.env.CPC_BACKEND),
  options: BackendOptions = {},
): Promise<BackendInfo> {
  // production mode: no debug checks, and no "install tfjs-node" banner on stderr
  tf.enableProdMode();
  if (active && (choice === 'auto' || active.choice === choice)) {
    await tf.setBackend(active.name);
    return active;
  }
  const threads = options.threads && options.threads > 0 ? options.threads : availableCores();
  const attempts: BackendChoice[] = choice === 'auto' ? ['node-gpu', 'node', 'wasm', 'cpu'] : [choice];
  const failures: string[] = [];
  for (const candidate of attempts) {
    try {
      if (candidate === 'node-gpu' || candidate === 'node') {
        active = await loadNative(candidate, threads, choice);
      } else if (candidate === 'wasm') {
        await useWasm();
        active = {
          choice,
          name: 'wasm',
          package: '@tensorflow/tfjs-backend-wasm',
          version: packageVersion('@tensorflow/tfjs-backend-wasm'),
          device: cpuModel(),
          gpu: false,
          threads: 1,
        };
      } else {
        if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to initialise');
        active = {
          choice,
          name: 'cpu',
          package: '@tensorflow/tfjs-backend-cpu',
          version: packageVersion('@tensorflow/tfjs-backend-cpu'),
          device: cpuModel(),
          gpu: false,
          threads: 1,
        };
      }
      await tf.ready();
      return active;
    } catch (err) {
      failures.push(`${candidate}: ${(err as Error).message}`);
    }
  }
  throw new Error(
    choice === 'auto'
      ? `no usable TensorFlow.js backend (${failures.join('; ')})`
      : `the ${choice} backend cannot run here: ${failures.join('; ')}`,
  );
}

export function activeBackend(): BackendInfo {
  if (!active) throw new Error('initBackend() has not been called');
  return active;
}
