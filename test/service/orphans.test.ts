/**
 * No process outlives the one that started it (issue 8).
 * - Sandbox children, whatever their main thread is doing: a real BullMQ
 *   Worker in its own process forks a processor that spins, blocks or floods
 *   its dead channel; the test SIGKILLs the worker and measures how long the
 *   child survives it. The same processor forked with BullMQ's defaults is the
 *   control: there the child stays behind, which shows the test can fail.
 * - The API's helper processes (tsx's esbuild service, when run from source
 *   as the quickstart does): gone when the API is killed.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { startServices, waitFor } from './harness.js';
import { childrenOf } from './processes.js';
import { cpuSeconds, isAlive } from './processes.js';
import { redisConnection } from '../../src/queue/queues.js';
import type { MisbehaviourData } from '../fixtures/misbehaving-processor.js';

const root = join(import.meta.dirname, '..', '..');
const PREFIX = 'sandboxtest';
/** the bound: a killed worker's child is gone within 2 s */
const BOUND_MS = 2000;

let dir: string;
let urls: Record<string, string>;
let redisUrl: string;
let serial = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cpc-sandbox-'));
  urls = startServices(dir);
  redisUrl = urls.REDIS_URL;
});
afterAll(() => {
  spawnSync('bash', [join(root, 'scripts', 'services.sh'), 'stop'], { env: { ...process.env, CPC_LOCAL_DIR: dir } });
  rmSync(dir, { recursive: true, force: true });
});

type Mode = 'guarded' | 'channel-only' | 'unguarded';

/** start a worker (mode), give its child a job (behaviour), SIGKILL the worker; how long did the child live on? */
async function killWorkerUnder(
  mode: Mode,
  behaviour: MisbehaviourData['behaviour'],
): Promise<{ goneAfterMs: number | null; cpuAfterKill: number }> {
  const queueName = `sandbox-${mode}-${behaviour}-${serial++}`;
  const host = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'test', 'fixtures', 'sandbox-host.ts'), mode, redisUrl, queueName, PREFIX],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  host.stdout.on('data', (d) => (output += String(d)));
  host.stderr.on('data', (d) => (output += String(d)));
  const queue = new Queue(queueName, { connection: redisConnection(redisUrl), prefix: PREFIX });
  let pid = 0;
  try {
    await waitFor(`the ${mode} worker to be ready`, async () => output.includes('sandbox-host ready') || host.exitCode !== null, 30_000);
    expect(host.exitCode, output).toBeNull();
    const pidFile = join(dir, `${queueName}.pid`);
    await queue.add(behaviour, { behaviour, pidFile } satisfies MisbehaviourData);
    pid = await waitFor(
      'the sandbox child to start the job',
      async () => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8')),
      30_000,
    );
    // let the storm's writes and progress reports run for a while before the worker dies
    await new Promise((r) => setTimeout(r, 300));
    const cpuAtKill = cpuSeconds(pid) ?? 0;
    host.kill('SIGKILL');
    const killedAt = Date.now();
    while (isAlive(pid) && Date.now() - killedAt < BOUND_MS) await new Promise((r) => setTimeout(r, 20));
    const goneAfterMs = isAlive(pid) ? null : Date.now() - killedAt;
    return { goneAfterMs, cpuAfterKill: (cpuSeconds(pid) ?? cpuAtKill) - cpuAtKill };
  } finally {
    if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
    host.kill('SIGKILL');
    await queue.close();
  }
}

describe('sandbox children and their worker', () => {
  it.each(['spin', 'block', 'storm'] as const)(
    'a child whose main thread is busy (%s) is gone within 2 s of its worker’s SIGKILL',
    async (behaviour) => {
      const { goneAfterMs } = await killWorkerUnder('guarded', behaviour);
      expect(goneAfterMs, 'the child outlived its worker by more than 2 s').not.toBeNull();
    },
  );

  it('the channel guard alone ends the EPIPE storm (no watchdog thread)', async () => {
    const { goneAfterMs } = await killWorkerUnder('channel-only', 'storm');
    expect(goneAfterMs, 'the child outlived its worker by more than 2 s').not.toBeNull();
  });

  it('control: with BullMQ’s defaults the same children outlive their worker, and the storm spins', async () => {
    const spin = await killWorkerUnder('unguarded', 'spin');
    expect(spin.goneAfterMs).toBeNull();
    const storm = await killWorkerUnder('unguarded', 'storm');
    expect(storm.goneAfterMs).toBeNull();
    // an orphan flooding its dead channel burns CPU (the issue saw ~62 % of a core per child)
    expect(storm.cpuAfterKill).toBeGreaterThan(0.2);
  });

  it('a child killed while it starts fails that attempt and the job is retried (BullMQ alone leaves it active for ever)', async () => {
    async function killDuringInit(mode: Mode): Promise<string> {
      const queueName = `sandbox-init-${mode}-${serial++}`;
      const pidFile = join(dir, `${queueName}.pid`);
      const host = spawn(
        process.execPath,
        ['--import', 'tsx', join(root, 'test', 'fixtures', 'sandbox-host.ts'), mode, redisUrl, queueName, PREFIX, 'slow-init'],
        {
          cwd: root,
          env: { ...process.env, CPC_TEST_INIT_PIDFILE: pidFile },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      host.stdout.on('data', (d) => (output += String(d)));
      host.stderr.on('data', (d) => (output += String(d)));
      const queue = new Queue(queueName, { connection: redisConnection(redisUrl), prefix: PREFIX });
      try {
        await waitFor('the worker to be ready', async () => output.includes('sandbox-host ready'), 30_000);
        const job = await queue.add('x', {}, { attempts: 2 });
        const pid = await waitFor(
          'the sandbox child to start loading',
          async () => existsSync(pidFile) && Number(readFileSync(pidFile, 'utf8')),
          30_000,
        );
        process.kill(pid, 'SIGKILL');
        // the processor loads in 3 s: a second attempt finishes well within 15 s
        const end = Date.now() + 15_000;
        let state = 'active';
        while (Date.now() < end && (state = await (await queue.getJob(job.id!))!.getState()) !== 'completed')
          await new Promise((r) => setTimeout(r, 200));
        return state;
      } finally {
        host.kill('SIGKILL');
        await queue.close();
      }
    }
    expect(await killDuringInit('guarded')).toBe('completed');
    expect(await killDuringInit('unguarded')).toBe('active');
  });

  it('the API run from source leaves no helper process behind when it is killed', async () => {
    const api = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'server.ts')], {
      cwd: root,
      // tsx starts its esbuild service only to compile what its cache lacks: no cache, so the helper exists
      env: { ...process.env, ...urls, PORT: '0', LOG_LEVEL: 'info', ARTIFACT_DIR: join(dir, 'artifacts'), TSX_DISABLE_CACHE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    api.stdout.on('data', (d) => (output += String(d)));
    api.stderr.on('data', (d) => (output += String(d)));
    try {
      await waitFor('the API to listen', async () => output.includes('Server listening') || api.exitCode !== null, 60_000);
      expect(api.exitCode, output).toBeNull();
      const helpers = childrenOf(api.pid!);
      // tsx compiles through an esbuild service process: the helper this test is about
      expect(helpers.length).toBeGreaterThan(0);
      api.kill('SIGKILL');
      await waitFor('the API’s helper processes to exit', async () => helpers.every((pid) => !isAlive(pid)), BOUND_MS);
    } finally {
      api.kill('SIGKILL');
    }
  });
});
