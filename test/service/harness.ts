/**
 * Real services for integration tests: Redis and PostgreSQL started by
 * scripts/services.sh in a temporary directory on free ports, the API
 * in-process on a free port, and a worker as a separate process.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { loadConfig, type ServiceConfig } from '../../src/config.js';
import { migrate } from '../../src/store/migrate.js';
import { buildApp } from '../../src/api/app.js';
import { checkContract } from './contract.js';
import { createApiKey } from '../../src/store/api-keys.js';

const root = join(import.meta.dirname, '..', '..');

export interface Harness {
  baseUrl: string;
  /** the data directory of this run's Redis and PostgreSQL (for scripts/services.sh) */
  servicesDir: string;
  config: ServiceConfig;
  env: NodeJS.ProcessEnv;
  app: FastifyInstance;
  /** the first worker process (workers[0]) */
  worker: ChildProcess;
  workers: ChildProcess[];
  workerLog: string[];
  /** an admin API key, sent by api() unless the call brings its own Authorization or X-API-Key */
  adminKey: string;
  /** the owner the admin key belongs to (resources the tests create through api() are its) */
  owner: { id: string; name: string };
  /** start one more worker process with the harness environment (plus extra) */
  addWorker(extra?: Record<string, string>): ChildProcess;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** environment for the API and the workers, over the test defaults */
  env?: Record<string, string>;
  workers?: number;
}

export function startServices(dir: string): Record<string, string> {
  const r = spawnSync('bash', [join(root, 'scripts', 'services.sh'), 'start'], {
    env: { ...process.env, CPC_LOCAL_DIR: dir },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`services.sh start failed: ${r.stderr}`);
  return Object.fromEntries([...r.stdout.matchAll(/export (\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
}

export function startWorker(env: NodeJS.ProcessEnv, log: string[]): ChildProcess {
  const worker = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'worker.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  worker.stdout!.on('data', (d) => log.push(String(d)));
  worker.stderr!.on('data', (d) => log.push(String(d)));
  return worker;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'cpc-service-'));
  const urls = startServices(dir);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...urls,
    ARTIFACT_DIR: join(dir, 'artifacts'),
    LOG_LEVEL: 'warn',
    CPC_BACKEND: 'wasm',
    TRAIN_WORKERS: '1',
    // (several workers on one machine: a test that reads a worker's metrics gives it a port)
    WORKER_METRICS_PORT: '0',
    METRICS_EVERY: '2',
    QUEUE_PREFIX: 'cpctest',
    PORT: '0',
    // tests poll; the rate limit itself is tested with its own replicas (security.test.ts)
    RATE_LIMIT_PER_MIN: '100000',
    ...options.env,
  };
  const config = loadConfig(env);
  await migrate(config.DATABASE_URL);
  const app = await buildApp(config, { logger: false });
  const { key: adminKey, identity: adminIdentity } = await createApiKey(app.db, 'test-admin', ['admin']);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const workerLog: string[] = [];
  const workers = Array.from({ length: options.workers ?? 1 }, () => startWorker(env, workerLog));
  const harness: Harness = {
    baseUrl: `http://127.0.0.1:${port}`,
    servicesDir: dir,
    config,
    env,
    app,
    worker: workers[0],
    workers,
    workerLog,
    adminKey,
    owner: { id: adminIdentity.ownerId, name: 'test-admin' },
    addWorker(extra = {}) {
      const w = startWorker({ ...env, ...extra }, workerLog);
      workers.push(w);
      return w;
    },
    async stop() {
      for (const w of workers) w.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      for (const w of workers) w.kill('SIGKILL');
      await app.close();
      spawnSync('bash', [join(root, 'scripts', 'services.sh'), 'stop'], { env: { ...process.env, CPC_LOCAL_DIR: dir } });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** a loopback port free now (whoever is given it binds it a moment later) */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** the admin key's Authorization header */
export function authHeader(h: Harness): Record<string, string> {
  return { authorization: `Bearer ${h.adminKey}` };
}

/** `headers.authorization: ''` sends no key at all */
export async function api(h: Harness, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const auth = 'authorization' in headers || 'x-api-key' in headers ? {} : authHeader(h);
  const sent = Object.fromEntries(Object.entries({ ...auth, ...headers }).filter(([, v]) => v !== ''));
  const res = await fetch(h.baseUrl + path, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...sent },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  // every JSON response must match the committed contract
  if (res.headers.get('content-type')?.startsWith('application/json')) checkContract(method, path, res.status, json);
  return { status: res.status, json, text, headers: res.headers };
}

export async function waitFor<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** the cpc CLI against this service, with the admin key (asynchronously: the API runs in this process) */
export function cpcCli(
  h: Harness,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = join(root, 'bin', 'cpc.js');
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, CPC_URL: h.baseUrl, CPC_API_KEY: h.adminKey, ...env }, maxBuffer: 64 * 2 ** 20 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}
