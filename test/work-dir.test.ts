/**
 * An attempt's scratch directory (worker/attempt.ts freshWorkDir) while a stale twin of the same
 * job still writes in its own: once, removing the whole job directory failed with ENOTEMPTY under
 * the twin's writes, the new attempt threw before recording anything, and BullMQ's retry counted a
 * crash that was none (the routing test "a second queue entry ... takes over once").
 */
import { describe, it, expect, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshWorkDir } from '../src/worker/attempt.js';

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** another process creating files in `dir` as fast as it can (a twin attempt's training run) */
function twinWriting(dir: string): ChildProcess {
  const script = `
    const { mkdirSync, writeFileSync } = require('node:fs');
    let i = 0;
    process.send('ready');
    for (;;) { try { mkdirSync(${JSON.stringify(dir)}, { recursive: true }); writeFileSync(${JSON.stringify(dir)} + '/f' + (i++ % 64), 'x'); } catch {} }`;
  const twin = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  cleanups.push(async () => {
    const exited = new Promise((resolve) => twin.once('exit', resolve));
    twin.kill('SIGKILL');
    await exited;
  });
  return twin;
}

describe('freshWorkDir', () => {
  it("gives each attempt an empty directory of its own, removing earlier attempts' files", () => {
    const root = mkdtempSync(join(tmpdir(), 'cpc-work-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    mkdirSync(join(root, 'job1', 'old-lease', 'checkpoint'), { recursive: true });
    writeFileSync(join(root, 'job1', 'old-lease', 'checkpoint', 'checkpoint.json'), '{}');
    const dir = freshWorkDir(root, { jobId: 'job1', leaseId: 'new-lease', attempts: 2, crashes: 1 }, () => undefined);
    expect(dir).toBe(join(root, 'job1', 'new-lease'));
    expect(readdirSync(join(root, 'job1'))).toEqual(['new-lease']);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('never fails while a stale twin of the job keeps writing in its own directory', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cpc-work-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const twin = twinWriting(join(root, 'job1', 'twin-lease'));
    await new Promise((resolve) => twin.once('message', resolve));
    const notes: string[] = [];
    // (removing the job directory whole failed about one call in six here)
    for (let i = 0; i < 60; i++) {
      const dir = freshWorkDir(root, { jobId: 'job1', leaseId: `lease-${i}`, attempts: i + 2, crashes: 1 }, (m) => notes.push(m));
      expect(existsSync(dir) && readdirSync(dir)).toEqual([]);
    }
    // each failed removal was said in the job's log, naming why
    for (const note of notes) expect(note).toMatch(/^left an earlier attempt's files in place \(\w+\)$/);
  });
});
