/** The processes of a test harness: workers, their sandbox children, and checks that none outlive their parent. */
import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Harness } from './harness.js';
import { waitFor } from './harness.js';

/** pids of live processes started with this harness's environment (its workers and their sandbox children) */
export function harnessProcesses(h: Harness): number[] {
  const marker = `DATABASE_URL=${h.env.DATABASE_URL}\0`;
  return allPids().filter((pid) => {
    if (pid === process.pid) return false;
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker) && procStat(pid)?.state !== 'Z';
    } catch {
      return false; // exited meanwhile, or not ours to read
    }
  });
}

/** direct children of a process (from /proc: no dependency on procps) */
export function childrenOf(pid: number): number[] {
  return allPids().filter((p) => procStat(p)?.ppid === pid);
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** state, parent and CPU time (user + system, in clock ticks) of a process; null once it is gone */
function procStat(pid: number): { state: string; ppid: number; cpuTicks: number } | null {
  try {
    // the command name may contain spaces and parentheses: the fields start after the last ')'
    const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ').at(-1)!.split(' ');
    return { state: fields[0], ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

/** still running: an exited process waiting to be reaped (a zombie: its new parent, often PID 1, reaps when it gets to it) is not */
export function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== null && stat.state !== 'Z';
}

/** CPU seconds a process has used so far (Linux's USER_HZ is 100); null once it is gone */
export function cpuSeconds(pid: number): number | null {
  const stat = procStat(pid);
  return stat ? stat.cpuTicks / 100 : null;
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
