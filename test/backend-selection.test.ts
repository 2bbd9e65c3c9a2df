/**
 * Backend selection, each case in a fresh process (a backend, once loaded,
 * stays in its process): auto takes the best backend that works, a package
 * that fails to load does not spoil the next one, and a backend asked for by
 * name that cannot run is an error that says why.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { loadFailure } from './helpers.js';

const root = join(import.meta.dirname, '..');
const script = join(root, 'test', 'fixtures', 'print-backend.ts');

function pick(choice: string) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, choice], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CPC_BACKEND: '' },
  });
  return { code: r.status, info: r.status === 0 ? JSON.parse(r.stdout) : null, error: r.stderr };
}

const loads = (pkg: string) => loadFailure(pkg) === null;
const installed = (pkg: string) => {
  try {
    createRequire(join(root, 'package.json')).resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
};
const NODE_LOADS = loads('@tensorflow/tfjs-node');
const GPU_LOADS = loads('@tensorflow/tfjs-node-gpu');

describe('backend selection', () => {
  it(`auto picks ${NODE_LOADS ? 'tfjs-node (it loads here)' : 'wasm (tfjs-node does not load here)'}${installed('@tensorflow/tfjs-node-gpu') && !GPU_LOADS ? ', although tfjs-node-gpu is installed and fails first' : ''}`, () => {
    const r = pick('auto');
    expect(r.code, r.error).toBe(0);
    if (GPU_LOADS) return; // a machine with a GPU: nothing more to say here
    expect(r.info).toMatchObject(NODE_LOADS ? { name: 'tensorflow', package: '@tensorflow/tfjs-node', gpu: false } : { name: 'wasm' });
    expect(r.info.threads).toBeGreaterThanOrEqual(1);
    if (NODE_LOADS) expect(r.info.tensorflow).toMatch(/^\d+\.\d+/);
  });

  it('a backend asked for by name that cannot run is an error that says why, never a fallback', () => {
    if (!GPU_LOADS) {
      const r = pick('node-gpu');
      expect(r.code).toBe(3);
      expect(r.error).toMatch(
        /the node-gpu backend cannot run here: node-gpu: @tensorflow\/tfjs-node-gpu (is not installed|failed to load|loaded, but TensorFlow sees no GPU)/,
      );
    }
    if (!NODE_LOADS) {
      const r = pick('node');
      expect(r.code).toBe(3);
      expect(r.error).toMatch(/the node backend cannot run here/);
    }
    expect(pick('wasm').info).toMatchObject({ name: 'wasm', gpu: false });
  });
});
