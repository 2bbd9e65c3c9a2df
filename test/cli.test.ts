import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../src/cpc/png.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { digitPixels } from '../src/cpc/images.js';
import { tempDir } from './helpers.js';
import { drawShape, greyToRgb, writeShapeFolders } from './fixtures/shapes.js';
import { Rng } from '../src/cpc/rng.js';

const bin = join(import.meta.dirname, '..', 'bin', 'cpc.js');

function cpc(args: string[], nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}, cwd?: string) {
  const r = spawnSync(process.execPath, [...nodeArgs, bin, ...args], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, CPC_BACKEND: 'wasm', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const withoutPrismaClient = ['--import', join(import.meta.dirname, 'fixtures', 'without-prisma-client.mjs')];

describe('cpc CLI', () => {
  it('rejects bad flags and bad files with one line and exit code 2', () => {
    for (const args of [
      ['train', '--epochs', 'x'],
      ['train', '--loss', 'nope'],
      ['bogus'],
      ['train', '--data', '/nonexistent', '--epochs', '1'],
      // cross-field mistakes, before any request (the URL answers nothing)
      ['train', '--loss', 'binary', '--similarity', 'cosine'],
      ['jobs', 'submit', '--loss', 'binary', '--similarity', 'cosine', '--url', 'http://127.0.0.1:1'],
      ['jobs', 'submit', '--lr', '0.001', '--min-learning-rate', '0.01', '--url', 'http://127.0.0.1:1'],
    ]) {
      const r = cpc(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    // a clash between a file's fields is named with the file, as its field errors are
    const clash = join(tempDir(), 'clash.json');
    writeFileSync(clash, JSON.stringify({ loss: 'binary', similarity: 'cosine' }));
    for (const command of [['train'], ['jobs', 'submit', '--url', 'http://127.0.0.1:1']]) {
      const r = cpc([...command, '--config', clash]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toMatch(new RegExp(`^[^\\n]*${clash}: similarity "cosine" is for loss "infonce"[^\\n]*$`));
    }
    // a file's relative data directory is relative to the file
    const relative = join(tempDir(), 'relative.json');
    writeFileSync(relative, JSON.stringify({ dataDir: 'mnist-here' }));
    const missing = cpc(['train', '--config', relative]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim()).toBe(`cpc: ${join(relative, '..', 'mnist-here')}: data directory does not exist`);
    const withFlags = cpc(['train', '--config', clash, '--seed', '3']);
    expect(withFlags.code).toBe(2);
    expect(withFlags.stderr).toContain(`${clash} with the flags: similarity "cosine"`);
  });

  it('trains, probes and predicts end to end (tiny config)', () => {
    const dir = tempDir();
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        imageSize: 28,
        color: 'grey',
        greySteps: 0,
        batchSize: 16,
        validationSteps: 2,
        model: { convLayers: 3, filters: 8, hidden: 32, codeSize: 16, contextSize: 32 },
      }),
    );
    const run = join(dir, 'run');
    // (run from another directory: the data-parallel worker threads must still find their loader)
    const train = cpc(['train', '--config', config, '--epochs', '1', '--steps-per-epoch', '12', '--out', run, '--json'], [], {}, dir);
    expect(train.code, train.stderr).toBe(0);
    const events = train.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.filter((e) => e.event === 'step')).toHaveLength(12);
    expect(events.at(-1)).toMatchObject({ event: 'done', steps: 12, completed: true });
    expect(existsSync(join(run, 'encoder', 'model.json'))).toBe(true);
    const manifest = JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ kind: 'cpc', config: { seed: 0, imageSize: 28 }, backend: { name: 'wasm' } });
    expect(manifest.result.test.chance).toBeGreaterThan(0);
    expect(events[0]).toMatchObject({ event: 'start', seed: 0, augment: 'none' });

    // resuming the finished run: the start line shows the run's own config (flags do not change a
    // resumed run), and the done line its last epoch
    const resumed = cpc(
      ['train', '--config', config, '--seed', '9', '--augment', 'affine', '--out', run, '--resume', '--json'],
      [],
      {},
      dir,
    );
    expect(resumed.code, resumed.stderr).toBe(0);
    const again = resumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(again[0]).toMatchObject({ event: 'start', resumedAtStep: 12, seed: 0, augment: 'none' });
    // the flags that differ from the checkpoint's config are named (the file's fields agree with it)
    expect(again[1]).toMatchObject({ event: 'warning', ignored: ['seed', 'augment'] });
    expect(again.filter((e) => e.event === 'warning')).toHaveLength(1);
    // where the data is, is the resuming machine's: data moved (here: the same files by another
    // path) are found with --data, which is not ignored; a model flag equal to the run's is not named
    expect(manifest.config.dataDir).toBeUndefined(); // the default data, wherever this checkout is
    const moved = join(dir, 'moved-data');
    symlinkSync(loadDataset().dir, moved);
    const human = cpc(['train', '--out', run, '--resume', '--data', moved, '--model-filters', '8', '--model-code-size', '32'], [], {}, dir);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toMatch(
      /^warning: a resumed run goes on with its checkpoint's recipe; ignored: model\.codeSize \(--model-code-size\) /m,
    );
    // both the manifest and the checkpoint say where the data is now
    expect(JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8')).config.dataDir).toBe(moved);
    expect(JSON.parse(readFileSync(join(run, 'checkpoint', 'checkpoint.json'), 'utf8')).config.dataDir).toBe(moved);
    // other data than the run's is refused (its classes and split sizes differ), before any write
    const shapes = join(dir, 'shapes');
    writeShapeFolders(shapes, { classes: ['square', 'ring'], perClass: 12 });
    const other = cpc(['train', '--out', run, '--resume', '--data', shapes], [], {}, dir);
    expect(other.code).toBe(2);
    expect(other.stderr.trim()).toBe(
      `cpc: ${shapes}: not the data set the run trained on (2 classes, 16/4/4 train/valid/test images; the run's: 10 classes, 50000/10000/10000 train/valid/test images)`,
    );
    expect(JSON.parse(readFileSync(join(run, 'manifest.json'), 'utf8')).config.dataDir).toBe(moved);
    // the recorded data moved away: the errors say how to point the run and the probe at it
    renameSync(moved, `${moved}-elsewhere`);
    const resumeGone = cpc(['train', '--out', run, '--resume'], [], {}, dir);
    const probeGone = cpc(['probe', '--run', run, '--no-baselines'], [], {}, dir);
    renameSync(`${moved}-elsewhere`, moved);
    expect([resumeGone.code, probeGone.code]).toEqual([2, 2]);
    expect(resumeGone.stderr.trim()).toBe(`cpc: ${moved}: data directory does not exist; --data DIR points a resumed run at its data`);
    expect(probeGone.stderr.trim()).toBe(`cpc: ${moved}: data directory does not exist; --data DIR points the probe at the run's data`);
    expect(again.at(-1)).toMatchObject({ event: 'done', steps: 12, final: { step: 12 } });
    // a history line cut short (a crash mid-append) is passed over
    appendFileSync(join(run, 'history.jsonl'), '{"epoch":2,"st');
    const cut = cpc(['train', '--out', run, '--resume', '--json'], [], {}, dir);
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stdout).not.toContain('"warning"'); // no flags, nothing ignored
    expect(JSON.parse(cut.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'done', final: { step: 12 } });

    const probe = cpc(['probe', '--run', run, '--train-images', '300', '--test-images', '200', '--epochs', '2', '--json']);
    expect(probe.code, probe.stderr).toBe(0);
    const report = JSON.parse(probe.stdout);
    // every score is an accuracy over the 200 test images asked for (k / 200); a 12-step encoder
    // need not beat chance, so only raw pixels are held to a level: they learn from 300 images
    for (const key of ['cpc', 'randomEncoder', 'rawPixels'])
      for (const head of ['linear', 'mlp']) {
        const score = report[key][head];
        expect(Number.isInteger(Math.round(score * 200 * 1e6) / 1e6), `${key} ${head} = ${score}`).toBe(true);
        expect(score).toBeGreaterThanOrEqual(0);
        expect(score).toBeLessThanOrEqual(1);
      }
    expect(report.rawPixels.mlp).toBeGreaterThan(0.2);
    expect(report).toMatchObject({ trainImages: 300, testImages: 200 });
    // raw pixels of grey digits are linearly separable well above chance even with 300 images
    expect(report.rawPixels.linear).toBeGreaterThan(0.5);

    const png = join(dir, 'digit.png');
    const pixels = digitPixels(loadDataset().splits.test, 0);
    writeFileSync(png, encodePng(28, 28, Uint8Array.from(Array.from(pixels).flatMap((v) => [v, v, v]))));
    const predict = cpc(['predict', '--run', run, '--embedding', png]);
    expect(predict.code, predict.stderr).toBe(0);
    const p = JSON.parse(predict.stdout);
    expect(p.probabilities).toHaveLength(10);
    expect(p.embedding).toHaveLength(16);
    expect(p.label).toBe(p.probabilities.indexOf(Math.max(...p.probabilities)));
    expect(p.className).toBe(String(p.label)); // MNIST's classes are the digits
    expect(p.probabilities.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 3);
  });

  it('trains, probes and predicts on a PNG-folder data set of its own (--data), answering with its class names', () => {
    const dir = tempDir();
    const data = join(dir, 'shapes');
    writeShapeFolders(data, { classes: ['square', 'ring', 'bar', 'cross'], perClass: 21, side: 36 });
    const run = join(dir, 'run');
    const tiny = ['--image-size', '28', '--color', 'grey', '--grey-steps', '0', '--batch-size', '8', '--validation-steps', '1'];
    const small = [
      '--model-conv-layers',
      '2',
      '--model-filters',
      '4',
      '--model-hidden',
      '16',
      '--model-code-size',
      '8',
      '--model-context-size',
      '8',
    ];
    const train = cpc([
      'train',
      '--data',
      data,
      '--task',
      'same',
      ...tiny,
      ...small,
      '--epochs',
      '1',
      '--steps-per-epoch',
      '4',
      '--out',
      run,
      '--json',
    ]);
    expect(train.code, train.stderr).toBe(0);
    const probe = cpc([
      'probe',
      '--run',
      run,
      '--train-images',
      '100',
      '--test-images',
      '100',
      '--epochs',
      '1',
      '--no-baselines',
      '--json',
    ]);
    expect(probe.code, probe.stderr).toBe(0);
    const report = JSON.parse(probe.stdout);
    // the test split has 3 images of each of the 4 classes: all 12 are used once, however many are asked for
    expect(report).toMatchObject({ classNames: ['bar', 'cross', 'ring', 'square'], testImages: 12, trainImages: 60 });
    expect(report.sourceImage).toEqual({ width: 36, height: 36 });
    // predict takes 28x28, the model's size, and the size of the data set's own images (read as those were)
    const png = (side: number) => {
      const path = join(dir, `ring-${side}.png`);
      writeFileSync(path, encodePng(side, side, greyToRgb(drawShape('ring', side, new Rng(99)))));
      return path;
    };
    const refused = cpc(['predict', '--run', run, png(30)]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/PNG is 30x30; expected 28x28 or 36x36 \(the data set's images\)/);
    const predict = cpc(['predict', '--run', run, png(28), png(36)]);
    expect(predict.code, predict.stderr).toBe(0);
    for (const line of predict.stdout.trim().split('\n')) {
      const p = JSON.parse(line);
      expect(p.probabilities).toHaveLength(4);
      expect(p.className).toBe(report.classNames[p.label]);
    }
  });

  it('bench train prints one JSON line with the throughput, without the database client (a fresh clone before npm run generate)', () => {
    // the hook does hide the client: a command that needs it says so
    const keys = cpc(['keys', 'list'], withoutPrismaClient, { DATABASE_URL: 'postgresql://nobody@127.0.0.1:1/none' });
    expect(keys.code).not.toBe(0);
    expect(keys.stderr).toMatch(/generated\/prisma/);
    const r = cpc(
      ['bench', 'train', '--backend', 'wasm', '--image-size', '64', '--batch-size', '4', '--steps', '2', '--warmup', '1', '--json'],
      withoutPrismaClient,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ backend: 'wasm', imageSize: 64, batchSize: 4, tensorLeakPerStep: 0 });
    expect(out.imagesPerSec).toBeGreaterThan(0);
  });
});
