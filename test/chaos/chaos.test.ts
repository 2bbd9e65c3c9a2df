/**
 * Chaos run (`npm run test:chaos`): the same CHAOS_JOBS small training jobs
 * run twice on two workers, once calm and once while a seeded chaos monkey
 * SIGKILLs worker processes, SIGKILLs sandbox children and SIGTERMs workers.
 * Every job is submitted twice with the same Idempotency-Key. Required: 0
 * jobs lost (all succeed), 0 duplicated (one row per key, one metric row per
 * step), 0 orphan processes, every artifact verifies, and each chaos job's
 * result equals its calm twin's to the last digit (resumes are exact).
 * Prints a JSON report (counts and the time the faults added).
 */
import { describe, it, expect, afterAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, api, waitFor, type Harness } from '../service/harness.js';
import { tinyConfig } from '../service/fixtures.js';
import { checkInvariants } from '../service/invariants.js';
import { childrenOf, harnessProcesses, isAlive, liveWorkers } from '../service/processes.js';

const JOBS = Number(process.env.CHAOS_JOBS ?? 20);
const SEED = Number(process.env.CHAOS_SEED ?? 1);
const WORKERS = 2;
const MIN_FAULTS = Number(process.env.CHAOS_FAULTS ?? 12);
const env = {
  JOB_LOCK_MS: '3000',
  HEARTBEAT_MS: '500',
  HEARTBEAT_TIMEOUT_MS: '6000',
  REAPER_INTERVAL_MS: '1000',
  ORPHAN_QUEUED_MS: '5000',
  CRASH_BUDGET: '10',
  JOB_ATTEMPTS: '10',
  METRICS_EVERY: '2',
};

const jobConfig = (seed: number) => tinyConfig({ stepsPerEpoch: 40, checkpointEvery: 4, seed });

/** mulberry32: the monkey's schedule is reproducible from CHAOS_SEED */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const harnesses: Harness[] = [];
afterAll(async () => {
  for (const h of harnesses) await h.stop();
});

async function runJobs(h: Harness, tag: string): Promise<{ ids: string[]; seconds: number }> {
  const started = Date.now();
  const ids: string[] = [];
  for (let i = 0; i < JOBS; i++) {
    const body = { kind: 'cpc', config: jobConfig(1000 + i) };
    const headers = { 'idempotency-key': `${tag}-${i}` };
    const [a, b] = await Promise.all([api(h, 'POST', '/v1/jobs', body, headers), api(h, 'POST', '/v1/jobs', body, headers)]);
    // the twin request is the same job, or told the first is still in flight
    expect([a.status, b.status].sort()).toSatisfy((s: number[]) => s[0] === 202 && (s[1] === 202 || s[1] === 409));
    ids.push(a.status === 202 ? a.json.id : b.json.id);
  }
  return { ids, seconds: (Date.now() - started) / 1000 };
}

/** the jobs, once all are final; null before */
async function finalJobs(h: Harness, ids: string[]): Promise<any[] | null> {
  const jobs = await Promise.all(ids.map(async (id) => (await api(h, 'GET', `/v1/jobs/${id}`)).json));
  return jobs.every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.status)) ? jobs : null;
}

async function waitAllFinal(h: Harness, ids: string[], timeoutMs: number): Promise<any[]> {
  return waitFor('all jobs to be final', () => finalJobs(h, ids), timeoutMs);
}

describe('chaos', () => {
  it(`${JOBS} jobs under random worker, child and parent kills: 0 lost, 0 duplicated, 0 orphans, same results as a calm run`, async () => {
    // calm run
    const calm = await startHarness({ env, workers: WORKERS });
    harnesses.push(calm);
    const calmRun = await runJobs(calm, 'calm');
    const calmJobs = await waitAllFinal(calm, calmRun.ids, 15 * 60_000);
    const calmSeconds = makespan(calmJobs);
    expect(calmJobs.map((j) => j.status)).toEqual(calmJobs.map(() => 'succeeded'));
    await calm.stop();
    harnesses.splice(harnesses.indexOf(calm), 1);

    // chaos run
    const h = await startHarness({ env, workers: WORKERS });
    harnesses.push(h);
    const random = rng(SEED);
    const actions = { killParent: 0, killChild: 0, termParent: 0, orphansSeen: 0 };
    let monkeyOn = true;
    const orphanChecks: Array<Promise<void>> = [];
    const orphans: string[] = [];
    const chaosStart = Date.now();
    const monkey = (async () => {
      while (monkeyOn) {
        await new Promise((r) => setTimeout(r, 1000 + random() * 1500));
        if (!monkeyOn) break;
        const live = liveWorkers(h);
        if (!live.length) continue;
        const target = live[Math.floor(random() * live.length)];
        const roll = random();
        if (roll < 0.4) {
          const children = childrenOf(target.pid!);
          target.kill('SIGKILL');
          actions.killParent++;
          h.addWorker();
          // a killed worker's sandbox children must be gone within 2 s (their watchdog looks every 200 ms)
          orphanChecks.push(
            new Promise((r) => setTimeout(r, 2000)).then(() => {
              const left = children.filter(isAlive);
              actions.orphansSeen += left.length;
              for (const pid of left) orphans.push(commandLine(pid));
            }),
          );
        } else if (roll < 0.75) {
          const children = childrenOf(target.pid!);
          if (!children.length) continue;
          process.kill(children[Math.floor(random() * children.length)], 'SIGKILL');
          actions.killChild++;
        } else {
          target.kill('SIGTERM');
          actions.termParent++;
          h.addWorker();
        }
      }
    })();
    const chaosRun = await runJobs(h, 'chaos');
    // faults while jobs remain (at least MIN_FAULTS of them), then the last jobs finish in peace
    await waitFor(
      'the chaos window',
      async () => actions.killParent + actions.killChild + actions.termParent >= MIN_FAULTS || (await finalJobs(h, chaosRun.ids)) !== null,
      15 * 60_000,
    );
    monkeyOn = false;
    await monkey;
    await Promise.all(orphanChecks);
    const chaosJobs = await waitAllFinal(h, chaosRun.ids, 15 * 60_000);
    const chaosSeconds = makespan(chaosJobs);

    // invariants
    const report = await checkInvariants(h);
    const lost = chaosJobs.filter((j) => j.status !== 'succeeded');
    const rows = await h.app.db.job.count();
    const sameResults = chaosJobs.filter((j, i) => JSON.stringify(j.result?.test) === JSON.stringify(calmJobs[i].result?.test)).length;
    for (const w of liveWorkers(h)) w.kill('SIGTERM');
    await waitFor('every worker process and sandbox child to exit', async () => harnessProcesses(h).length === 0, 60_000).catch((err) => {
      throw new Error(
        `${(err as Error).message}: ${harnessProcesses(h).map(commandLine).join('; ')}\n${h.workerLog
          .join('')
          .split('\n')
          .filter((l) => /closing|crashed|error/i.test(l))
          .slice(-10)
          .join('\n')}`,
      );
    });
    const summary = {
      date: new Date().toISOString(),
      jobs: JOBS,
      seed: SEED,
      workers: WORKERS,
      faults: actions,
      lost: lost.length,
      duplicatedJobRows: rows - JOBS,
      crashes: chaosJobs.reduce((n, j) => n + j.crashes, 0),
      attempts: chaosJobs.reduce((n, j) => n + j.attempts, 0),
      identicalResults: sameResults,
      artifactsVerified: report.artifactsVerified,
      violations: report.violations,
      calmSeconds: +calmSeconds.toFixed(1),
      chaosSeconds: +chaosSeconds.toFixed(1),
      addedSeconds: +(chaosSeconds - calmSeconds).toFixed(1),
    };
    console.log(`chaos report: ${JSON.stringify(summary)}`);
    if (process.env.CHAOS_DEBUG) {
      for (const j of chaosJobs)
        console.log(
          j.id,
          j.attempts,
          j.crashes,
          ((Date.parse(j.finishedAt) - chaosStart) / 1000).toFixed(1),
          ((Date.parse(j.startedAt) - chaosStart) / 1000).toFixed(1),
        );
      console.log(
        h.workerLog
          .join('')
          .split('\n')
          .filter((l) => /stall|fail|error|reaper|closing/i.test(l))
          .slice(-40)
          .join('\n'),
      );
    }
    if (process.env.CHAOS_REPORT) writeFileSync(join(process.env.CHAOS_REPORT), JSON.stringify(summary, null, 1) + '\n');
    expect(lost.map((j) => `${j.id} ${j.status} ${j.error}`)).toEqual([]);
    expect(summary.duplicatedJobRows).toBe(0);
    expect(report.violations).toEqual([]);
    expect(orphans).toEqual([]);
    expect(actions.orphansSeen).toBe(0);
    expect(actions.killParent + actions.killChild + actions.termParent).toBeGreaterThanOrEqual(MIN_FAULTS);
    expect(sameResults).toBe(JOBS);
  });
});

function commandLine(pid: number): string {
  try {
    return `${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'latin1').replace(/\0/g, ' ').slice(0, 200)}`;
  } catch {
    return `${pid}: (gone)`;
  }
}

/** first submission to last finish, from the job records */
function makespan(jobs: any[]): number {
  return (Math.max(...jobs.map((j) => Date.parse(j.finishedAt))) - Math.min(...jobs.map((j) => Date.parse(j.createdAt)))) / 1000;
}
