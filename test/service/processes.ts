/** The processes of a test harness: workers, their sandbox children, and checks that none outlive their parent. */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync, type ChildProcess } from 'node:child_process';
import type { Harness } from './harness.js';
import { waitFor } from './harness.js';

/** pids of live processes started with this harness's environment (its workers and their sandbox children) */
export function harnessProcesses(h: Harness): number[] {
  const marker = `DATABASE_URL=${h.env.DATABASE_URL}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(marker)) {
        const state = readFileSync(`/proc/${entry}/stat`, 'latin1').split(') ')[1]?.[0];
        if (state !== 'Z') pids.push(Number(entry));
      }
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return pids;
}

/** direct children of a process */
export function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL a worker and wait until its sandbox children have exited too (they must not train on as orphans) */
export async function killWorker(w: ChildProcess, timeoutMs = 5000): Promise<void> {
  const children = childrenOf(w.pid!);
  w.kill('SIGKILL');
  await waitFor('the killed worker’s sandbox children to exit', async () => children.every((pid) => !isAlive(pid)), timeoutMs);
}

export function liveWorkers(h: Harness): ChildProcess[] {
  return h.workers.filter((w) => w.exitCode === null && w.signalCode === null);
}
