/**
 * Data sets through the HTTP API against real Redis, PostgreSQL and a worker: upload (PNG-folder
 * archives and IDX files), list, detail, preview, delete; bad uploads refused with nothing stored
 * (a cut connection included); and end to end: upload -> CPC job -> probe -> model -> predict
 * answering the data set's class names.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { connect } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startHarness, api, authHeader, cpcCli, waitFor, type Harness } from './harness.js';
import { tinyConfig } from './fixtures.js';
import { drawShape, greyToRgb, writeShapeFolders } from '../fixtures/shapes.js';
import { filesOf, tarOf, zipOf } from '../fixtures/archives.js';
import { encodeIdx } from '../../src/cpc/idx.js';
import { encodePng } from '../../src/cpc/png.js';
import { Rng } from '../../src/cpc/rng.js';
import { tempDir } from '../helpers.js';
import { createApiKey } from '../../src/store/api-keys.js';
import { mkdirSync, writeFileSync } from 'node:fs';

const cpc = (args: string[]) => cpcCli(h, args);

let h: Harness;
const MAX_UPLOAD = 2 * 1024 * 1024;

beforeAll(async () => {
  h = await startHarness({ env: { DATASET_MAX_UPLOAD_BYTES: String(MAX_UPLOAD) } });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

type Part = { field: string; filename?: string; bytes: Uint8Array | string };

async function upload(parts: Part[], headers: Record<string, string> = {}) {
  const form = new FormData();
  for (const p of parts) {
    if (p.filename === undefined) form.append(p.field, String(p.bytes));
    else form.append(p.field, new Blob([typeof p.bytes === 'string' ? p.bytes : new Uint8Array(p.bytes)]), p.filename);
  }
  const res = await fetch(`${h.baseUrl}/v1/datasets`, { method: 'POST', body: form, headers: { ...authHeader(h), ...headers } });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, text };
}

const SHAPES = ['square', 'ring', 'bar', 'cross'] as const;

async function shapesArchive(options: { perClass?: number; seed?: number; gzip?: boolean } = {}) {
  const dir = tempDir();
  writeShapeFolders(join(dir, 'shapes'), { classes: SHAPES, perClass: options.perClass ?? 21, side: 32, seed: options.seed ?? 1 });
  return tarOf(filesOf(dir), options.gzip ?? true);
}

/** what uploads left behind: data set rows, stored data set files, scratch directories */
async function leftovers() {
  const stored = join(h.config.ARTIFACT_DIR, 'datasets');
  const scratch = join(h.config.DATASET_DIR, 'uploads');
  return {
    rows: await h.app.db.dataset.count(),
    stored: existsSync(stored) ? readdirSync(stored).length : 0,
    scratch: existsSync(scratch) ? readdirSync(scratch).length : 0,
  };
}

describe('data sets over HTTP', () => {
  it('lists the built-in MNIST as a data set, with its counts and a preview', async () => {
    const list = await api(h, 'GET', '/v1/datasets');
    expect(list.status).toBe(200);
    expect(list.json.items[0]).toMatchObject({
      id: 'mnist',
      ownerId: null,
      format: 'builtin',
      classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      images: { train: 50_000, valid: 10_000, test: 10_000 },
      image: { width: 28, height: 28, channels: 1 },
    });
    const preview = await fetch(`${h.baseUrl}/v1/datasets/mnist/preview.png`, { headers: authHeader(h) });
    expect(preview.status).toBe(200);
    expect(preview.headers.get('content-type')).toBe('image/png');
    const png = Buffer.from(await preview.arrayBuffer());
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    // 8 images of 28 px (2 px apart) per row, one row per digit
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([8 * 30 + 2, 10 * 30 + 2]);
    expect((await api(h, 'DELETE', '/v1/datasets/mnist')).status).toBe(409);
    expect((await api(h, 'GET', '/v1/datasets/ds_nope')).status).toBe(404);
    expect((await api(h, 'GET', '/v1/datasets/bad%20id')).status).toBe(400);
  });

  it('takes a PNG-folder archive and an IDX upload; the same content again answers the same data set; a taken name is 409', async () => {
    const archive = await shapesArchive();
    const first = await upload([
      { field: 'name', bytes: 'shapes' },
      { field: 'archive', filename: 'shapes.tgz', bytes: archive },
    ]);
    expect(first.status, first.text).toBe(201);
    expect(first.json).toMatchObject({
      id: expect.stringMatching(/^ds_[0-9a-f]{24}$/),
      name: 'shapes',
      format: 'png-folders',
      classNames: ['bar', 'cross', 'ring', 'square'],
      counts: { train: [15, 15, 15, 15], valid: [3, 3, 3, 3], test: [3, 3, 3, 3] },
      image: { width: 32, height: 32, channels: 4 },
      split: { kind: 'seeded', seed: 0 },
      uploadBytes: archive.length,
      createdBy: expect.stringMatching(/^[0-9a-f]{12}$/),
    });
    expect(first.json.files.map((f: { name: string }) => f.name)).toContain('preview.png');
    // the same images, even in another archive format and under another name: the same data set
    const dir = tempDir();
    writeShapeFolders(join(dir, 'shapes'), { classes: SHAPES, perClass: 21, side: 32, seed: 1 });
    const again = await upload([
      { field: 'name', bytes: 'other-name' },
      { field: 'file', filename: 'shapes.zip', bytes: zipOf(filesOf(dir)) },
    ]);
    expect(again.status, again.text).toBe(200);
    expect(again.json.id).toBe(first.json.id);
    // another content under a taken name
    const taken = await upload([
      { field: 'name', bytes: 'shapes' },
      { field: 'archive', filename: 'shapes.tgz', bytes: await shapesArchive({ seed: 2 }) },
    ]);
    expect(taken.status).toBe(409);
    expect(taken.json.details).toEqual({ id: first.json.id });

    const idx = (n: number) => ({
      images: encodeIdx([n, 28, 28], new Uint8Array(n * 784).fill(3)),
      labels: encodeIdx(
        [n],
        Uint8Array.from({ length: n }, (_, i) => i % 3),
      ),
    });
    const train = idx(60);
    const test = idx(15);
    const idxUpload = await upload([
      { field: 'name', bytes: 'compass' },
      { field: 'classNames', bytes: JSON.stringify(['north', 'east', 'south']) },
      { field: 'a', filename: 'train-images-idx3-ubyte.gz', bytes: gzipSync(train.images) },
      { field: 'b', filename: 'train-labels-idx1-ubyte', bytes: train.labels },
      { field: 'c', filename: 't10k-images-idx3-ubyte.gz', bytes: gzipSync(test.images) },
      { field: 'd', filename: 't10k-labels-idx1-ubyte.gz', bytes: gzipSync(test.labels) },
    ]);
    expect(idxUpload.status, idxUpload.text).toBe(201);
    expect(idxUpload.json).toMatchObject({
      format: 'idx',
      classNames: ['north', 'east', 'south'],
      images: { train: 50, valid: 10, test: 15 },
    });

    // the same new content twice at once: one data set (the later upload answers the first one's row)
    const twin = await shapesArchive({ seed: 3 });
    const both = await Promise.all(
      ['twin-a', 'twin-b'].map((name) =>
        upload([
          { field: 'name', bytes: name },
          { field: 'f', filename: 'twin.tgz', bytes: twin },
        ]),
      ),
    );
    expect(both.map((r) => r.status).sort()).toEqual([200, 201]);
    expect(both[0].json.id).toBe(both[1].json.id);
    expect((await api(h, 'DELETE', `/v1/datasets/${both[0].json.id}`)).status).toBe(204);

    const detail = await api(h, 'GET', `/v1/datasets/${first.json.id}`);
    expect(detail.json).toEqual(first.json);
    const preview = await fetch(`${h.baseUrl}/v1/datasets/${first.json.id}/preview.png`, { headers: authHeader(h) });
    expect(preview.status).toBe(200);
    const list = await api(h, 'GET', '/v1/datasets?limit=2&offset=1');
    expect(list.json).toMatchObject({ total: 3, limit: 2, offset: 1 });
    expect(list.json.items.map((d: { name: string }) => d.name).sort()).toEqual(['compass', 'shapes']);
    // another owner sees the built-in one only
    const other = await createApiKey(h.app.db, 'other', ['read', 'write'], 'someone-else');
    const theirs = await api(h, 'GET', '/v1/datasets', undefined, { authorization: `Bearer ${other.key}` });
    expect(theirs.json.items.map((d: { id: string }) => d.id)).toEqual(['mnist']);
    expect((await api(h, 'GET', `/v1/datasets/${first.json.id}`, undefined, { authorization: `Bearer ${other.key}` })).status).toBe(404);
    expect(
      (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', datasetId: first.json.id }, { authorization: `Bearer ${other.key}` })).status,
    ).toBe(404);
  });

  it('refuses bad uploads with a 4xx that says why, storing nothing', async () => {
    const before = await leftovers();
    const archive = await shapesArchive({ perClass: 4 });
    const cases: Array<[string, () => Promise<{ status: number; json: any; text: string }>, number, RegExp]> = [
      ['JSON instead of a form', async () => api(h, 'POST', '/v1/datasets', { name: 'x' }), 415, /multipart\/form-data/],
      [
        'bytes instead of a form',
        async () => api(h, 'POST', '/v1/datasets', 'PK', { 'content-type': 'application/octet-stream' }),
        415,
        /upload a data set as multipart\/form-data/,
      ],
      ['no name', () => upload([{ field: 'f', filename: 'x.tgz', bytes: archive }]), 400, /name is required/],
      [
        'a bad name',
        () =>
          upload([
            { field: 'name', bytes: '../etc' },
            { field: 'f', filename: 'x.tgz', bytes: archive },
          ]),
        400,
        /name must be/,
      ],
      [
        'an unknown field',
        () =>
          upload([
            { field: 'name', bytes: 'x' },
            { field: 'colour', bytes: 'red' },
          ]),
        400,
        /unknown form field "colour"/,
      ],
      ['no file', () => upload([{ field: 'name', bytes: 'x' }]), 400, /no file in the upload/],
      [
        'five files',
        () => upload([{ field: 'name', bytes: 'x' }, ...[1, 2, 3, 4, 5].map((i) => ({ field: `f${i}`, filename: `f${i}`, bytes: 'x' }))]),
        400,
        /at most 4 files/,
      ],
      [
        'a bad splitSeed',
        () =>
          upload([
            { field: 'name', bytes: 'x' },
            { field: 'splitSeed', bytes: '-1' },
            { field: 'f', filename: 'x.tgz', bytes: archive },
          ]),
        400,
        /splitSeed must be/,
      ],
      [
        'not an archive',
        () =>
          upload([
            { field: 'name', bytes: 'x' },
            { field: 'f', filename: 'x.tgz', bytes: 'hello' },
          ]),
        400,
        /not a \.tar, \.tar\.gz or \.zip/,
      ],
      [
        'path traversal',
        async () =>
          upload([
            { field: 'name', bytes: 'x' },
            { field: 'f', filename: 'x.tar', bytes: await tarOf([{ name: '../../evil.png', data: new Uint8Array(4) }]) },
          ]),
        400,
        /leaves the archive/,
      ],
      [
        'an archive bomb',
        async () =>
          upload([
            { field: 'name', bytes: 'x' },
            { field: 'f', filename: 'x.tgz', bytes: await tarOf([{ name: 'a/0.png', data: new Uint8Array(40 << 20) }], true) },
          ]),
        413,
        /more than 100 times its size/,
      ],
      [
        'over the size limit',
        () =>
          upload([
            { field: 'name', bytes: 'x' },
            { field: 'f', filename: 'big.tgz', bytes: new Uint8Array(MAX_UPLOAD + 1) },
          ]),
        413,
        /larger than 2097152 bytes/,
      ],
      [
        'classNames that are not a list',
        () =>
          upload([
            { field: 'name', bytes: 'x' },
            { field: 'classNames', bytes: '{"a":1}' },
          ]),
        400,
        /classNames must be a JSON array/,
      ],
    ];
    for (const [name, send, status, message] of cases) {
      const r = await send();
      expect(r.status, `${name}: ${r.text}`).toBe(status);
      expect(r.json.message, name).toMatch(message);
    }
    expect(await leftovers()).toEqual(before);
  });

  it('an upload cut off half-way leaves no row, no stored bytes and no scratch files', async () => {
    const before = await leftovers();
    const archive = await shapesArchive();
    const boundary = 'cutcutcut';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\ncut\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="f"; filename="x.tgz"\r\nContent-Type: application/gzip\r\n\r\n`,
    );
    const url = new URL(h.baseUrl);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(
      `POST /v1/datasets HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${h.adminKey}\r\n` +
        `Content-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${head.length + archive.length + 100}\r\n\r\n`,
    );
    socket.write(head);
    socket.write(archive.subarray(0, archive.length / 2));
    // the server has the first half on disk by now
    await waitFor('the upload to reach the scratch directory', async () => (await leftovers()).scratch > before.scratch, 10_000);
    socket.destroy();
    await waitFor('the scratch directory to be removed', async () => (await leftovers()).scratch === before.scratch, 10_000);
    expect(await leftovers()).toEqual(before);
  });

  it('end to end: upload -> CPC job -> probe -> model -> predict answers the class names; a data set in use cannot be deleted', async () => {
    const up = await upload([
      { field: 'name', bytes: 'shapes-e2e' },
      { field: 'splitSeed', bytes: '5' },
      { field: 'f', filename: 'shapes.tar', bytes: await shapesArchive({ seed: 7, gzip: false }) },
    ]);
    expect(up.status, up.text).toBe(201);
    const datasetId = up.json.id;
    expect(up.json.split).toEqual({ kind: 'seeded', seed: 5 });
    const cpc = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', datasetId, config: tinyConfig({ task: 'same', stepsPerEpoch: 6 }) });
    expect(cpc.status, cpc.text).toBe(202);
    expect(cpc.json.datasetId).toBe(datasetId);
    await waitFor('the CPC job', async () => {
      const j = (await api(h, 'GET', `/v1/jobs/${cpc.json.id}`)).json;
      if (j.status === 'failed') throw new Error(j.error);
      return j.status === 'succeeded';
    });
    const probe = await api(h, 'POST', '/v1/jobs', {
      kind: 'probe',
      cpcJobId: cpc.json.id,
      config: { trainImages: 100, testImages: 100, epochs: 2 },
    });
    expect(probe.status, probe.text).toBe(202);
    // a probe takes its CPC job's data set unless told otherwise
    expect(probe.json.datasetId).toBe(datasetId);
    const probed = await waitFor('the probe job', async () => {
      const j = (await api(h, 'GET', `/v1/jobs/${probe.json.id}`)).json;
      if (j.status === 'failed') throw new Error(j.error);
      return j.status === 'succeeded' && j;
    });
    // the test split has 3 images of each of the 4 classes: all 12 are probed, once each
    expect(probed.result).toMatchObject({ classNames: ['bar', 'cross', 'ring', 'square'], testImages: 12 });
    const model = await api(h, 'POST', '/v1/models', { name: 'shapes', jobId: probe.json.id });
    expect(model.status, model.text).toBe(201);
    expect(model.json).toMatchObject({ datasetId, classNames: ['bar', 'cross', 'ring', 'square'] });
    // a 28x28 image, and one like the data set's own (32x32)
    const ring = (side: number) => ({
      png: Buffer.from(encodePng(side, side, greyToRgb(drawShape('ring', side, new Rng(3))))).toString('base64'),
    });
    const predicted = await api(h, 'POST', '/v1/models/shapes/predict', { instances: [ring(28), ring(32)] });
    expect(predicted.status, predicted.text).toBe(200);
    for (const p of predicted.json.predictions) {
      expect(p.probabilities).toHaveLength(4);
      expect(p.className).toBe(['bar', 'cross', 'ring', 'square'][p.label]);
    }
    const odd = await api(h, 'POST', '/v1/models/shapes/predict', { instances: [ring(30)] });
    expect(odd.status).toBe(400);
    expect(odd.json.message).toMatch(/PNG is 30x30; expected 28x28 or 32x32 \(the data set's images\)/);

    const inUse = await api(h, 'DELETE', `/v1/datasets/${datasetId}`);
    expect(inUse.status).toBe(409);
    expect(inUse.json.message).toMatch(/used by 2 job\(s\) and 1 registered model/);
    // an unused one goes, with its files
    const spare = await upload([
      { field: 'name', bytes: 'spare' },
      { field: 'f', filename: 'x.tgz', bytes: await shapesArchive({ seed: 11, perClass: 5 }) },
    ]);
    expect(spare.status).toBe(201);
    expect(existsSync(join(h.config.ARTIFACT_DIR, 'datasets', spare.json.id))).toBe(true);
    expect((await api(h, 'DELETE', `/v1/datasets/${spare.json.id}`)).status).toBe(204);
    expect((await api(h, 'GET', `/v1/datasets/${spare.json.id}`)).status).toBe(404);
    // (its files, and the folder they were in)
    expect(existsSync(join(h.config.ARTIFACT_DIR, 'datasets', spare.json.id))).toBe(false);
    expect(existsSync(join(h.config.ARTIFACT_DIR, 'datasets'))).toBe(true);
    expect((await api(h, 'POST', '/v1/jobs', { kind: 'cpc', datasetId: spare.json.id })).status).toBe(404);
  });

  it('cpc datasets upload takes a PNG-folder folder (packed on the way) or an IDX folder; cpc datasets list shows them', async () => {
    const dir = tempDir();
    const folder = join(dir, 'letters');
    writeShapeFolders(folder, { classes: ['bar', 'ring'], perClass: 8, seed: 21 });
    const up = await cpc(['datasets', 'upload', folder, '--json']);
    expect(up.code, up.stderr).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ name: 'letters', format: 'png-folders', classNames: ['bar', 'ring'] });
    const idxDir = join(dir, 'idx');
    mkdirSync(idxDir);
    const n = 30;
    writeFileSync(join(idxDir, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx([n, 28, 28], new Uint8Array(n * 784).fill(5))));
    writeFileSync(
      join(idxDir, 'train-labels-idx1-ubyte'),
      encodeIdx(
        [n],
        Uint8Array.from({ length: n }, (_, i) => i % 2),
      ),
    );
    writeFileSync(join(idxDir, 't10k-images-idx3-ubyte'), encodeIdx([4, 28, 28], new Uint8Array(4 * 784)));
    writeFileSync(join(idxDir, 't10k-labels-idx1-ubyte'), encodeIdx([4], Uint8Array.from([0, 1, 0, 1])));
    const idx = await cpc(['datasets', 'upload', idxDir, '--name', 'yes-no', '--class-names', 'no, yes']);
    expect(idx.code, idx.stderr).toBe(0);
    expect(idx.stdout).toMatch(/ds_[0-9a-f]{24} {2}yes-no {2}idx {2}2 classes \(no, yes\) {2}train 25 \/ valid 5 \/ test 4/);
    const list = await cpc(['datasets', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/mnist {2}mnist {2}builtin {2}10 classes/);
    expect(list.stdout).toMatch(/letters {2}png-folders/);
    // a path that is not there: a usage error (2); what the service refuses: its message (1)
    expect((await cpc(['datasets', 'upload', join(dir, 'nope')])).code).toBe(2);
    const again = await cpc(['datasets', 'upload', idxDir, '--name', 'yes-no', '--class-names', 'yes, no']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^cpc: 409 Conflict: a data set named "yes-no" exists/);
  });
});
