/**
 * /v1/datasets: labelled image sets to train and probe on. An upload is a
 * multipart/form-data body, streamed to disk part by part (routes/../uploads.ts),
 * checked in a thread (ingest/pool.ts), and only then stored (the files in
 * the artifact store, then the row). Whatever fails before the row is
 * written, a cut connection included, leaves no row and no stored bytes.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BusboyHeaders } from '@fastify/busboy';
import { Dataset, DatasetId, ErrorBody, Page, Pagination } from '../schemas.js';
import { datasetDto } from '../dto.js';
import { HttpError } from '../plugins/errors.js';
import { ownerOf, visibleTo } from '../tenancy.js';
import { InFlightLimit, clientOf } from '../in-flight.js';
import { receiveUpload } from '../uploads.js';
import { IngestPool } from '../ingest/pool.js';
import { PREVIEW_FILE, type DatasetLimits } from '../../datasets/ingest.js';
import { filesOf, newDatasetId, type StoredDatasetFile } from '../../store/datasets.js';
import { defaultDataDir } from '../../cpc/load-dataset.js';

/** uploads one API key may have in flight on one API process */
const UPLOADS_PER_KEY = 2;
const FIELDS = ['name', 'splitSeed', 'classNames'];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

function parseFields(fields: Record<string, string>): { name: string; splitSeed: number; classNames?: string[] } {
  const unknown = Object.keys(fields).find((f) => !FIELDS.includes(f));
  if (unknown !== undefined)
    throw new HttpError(400, `unknown form field ${JSON.stringify(unknown.slice(0, 40))}; the fields are ${FIELDS.join(', ')}`);
  const name = fields.name;
  if (name === undefined) throw new HttpError(400, 'form field name is required (the data set name)');
  if (!NAME.test(name))
    throw new HttpError(
      400,
      `name must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${JSON.stringify(name.slice(0, 40))}`,
    );
  let splitSeed = 0;
  if (fields.splitSeed !== undefined) {
    if (!/^[0-9]{1,10}$/.test(fields.splitSeed) || Number(fields.splitSeed) > 2 ** 31 - 1)
      throw new HttpError(400, `splitSeed must be an integer 0-2147483647, not ${JSON.stringify(fields.splitSeed.slice(0, 20))}`);
    splitSeed = Number(fields.splitSeed);
  }
  if (fields.classNames === undefined) return { name, splitSeed };
  let classNames: unknown;
  try {
    classNames = JSON.parse(fields.classNames);
  } catch {
    throw new HttpError(400, 'classNames must be a JSON array of strings, in label order');
  }
  if (!Array.isArray(classNames) || !classNames.every((c) => typeof c === 'string'))
    throw new HttpError(400, 'classNames must be a JSON array of strings, in label order');
  return { name, splitSeed, classNames };
}

const datasets: FastifyPluginAsyncTypebox = async (app) => {
  const config = app.config;
  const limits: DatasetLimits = {
    maxEntries: config.DATASET_MAX_ENTRIES,
    maxExpandedBytes: config.DATASET_MAX_EXPANDED_BYTES,
    maxRatio: config.DATASET_MAX_EXPANSION_RATIO,
    maxImages: config.DATASET_MAX_IMAGES,
    maxSide: config.DATASET_MAX_SIDE,
  };
  const uploads = new InFlightLimit(UPLOADS_PER_KEY);
  const pool = new IngestPool();
  app.addHook('onClose', () => pool.close());
  let builtinPreview: Promise<Uint8Array> | null = null;
  // the body reaches the upload handler as a stream (which refuses what is not a form with its own
  // message); every other route of this scope takes none
  app.addContentTypeParser('multipart/form-data', (_req, payload, done) => done(null, payload));
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
  const uploadDir = join(config.DATASET_DIR, 'uploads');

  app.post(
    '/v1/datasets',
    {
      config: { streamedBody: true, bodyTimeoutMs: config.DATASET_UPLOAD_TIMEOUT_MS, handlerTimeoutMs: config.DATASET_UPLOAD_TIMEOUT_MS },
      schema: {
        tags: ['datasets'],
        description:
          'Upload a data set as multipart/form-data: a field `name`, and either one archive (.tar, .tar.gz or .zip) of PNG files in one ' +
          'folder per class (optional train/ and test/ top folders; otherwise a seeded split: field `splitSeed`, default 0), or the four ' +
          'MNIST-format IDX files (gzip or raw, named as MNIST names them; field `classNames`, a JSON array, names their classes). ' +
          '201 with the new data set; 200 with the existing one when the owner uploaded the same content before.',
        response: {
          200: Dataset,
          201: Dataset,
          400: ErrorBody,
          409: ErrorBody,
          413: ErrorBody,
          415: ErrorBody,
          429: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      if (!/^multipart\/form-data\s*;/i.test(req.headers['content-type'] ?? ''))
        throw new HttpError(415, 'upload a data set as multipart/form-data (a name field and the files)');
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > config.DATASET_MAX_UPLOAD_BYTES + 64 * 1024)
        throw new HttpError(413, `the upload is larger than ${config.DATASET_MAX_UPLOAD_BYTES} bytes`);
      const release = uploads.enter(clientOf(req));
      if (!release)
        throw new HttpError(429, `at most ${UPLOADS_PER_KEY} uploads per API key at a time`, undefined, { code: 'too_many_uploads' });
      mkdirSync(uploadDir, { recursive: true });
      const scratch = mkdtempSync(join(uploadDir, 'u-'));
      try {
        const received = await receiveUpload(req.headers as BusboyHeaders, req.body as Readable, req.raw, scratch, {
          maxBytes: config.DATASET_MAX_UPLOAD_BYTES,
          maxFiles: 4,
          maxFields: FIELDS.length,
          maxFieldBytes: 128 * 1024,
        });
        const fields = parseFields(received.fields);
        const ownerId = ownerOf(req);
        const work = join(scratch, 'work');
        const ingested = await pool.ingest(
          received.files,
          { limits, splitSeed: fields.splitSeed, classNames: fields.classNames, scratch: work },
          req.handlerDeadline ?? undefined,
        );
        const existing = await app.datasets.findByChecksum(ownerId, ingested.checksum);
        if (existing) return reply.status(200).send(datasetDto(existing));
        await app.datasets.checkNameFree(ownerId, fields.name);
        const id = newDatasetId();
        const stored: StoredDatasetFile[] = [];
        try {
          for (const f of ingested.files)
            stored.push({ name: f.name, ...(await app.artifactStore.put(`datasets/${id}/${f.name}`, f.bytes)) });
          const { row, created } = await app.datasets.create(id, {
            ownerId,
            name: fields.name,
            format: ingested.format,
            classNames: ingested.classNames,
            counts: ingested.counts,
            imageWidth: ingested.image.width,
            imageHeight: ingested.image.height,
            channels: ingested.image.channels,
            split: ingested.split,
            checksum: ingested.checksum,
            files: stored,
            uploadBytes: received.files.reduce((n, f) => n + f.bytes, 0),
            createdBy: req.apiKey?.prefix ?? null,
          });
          if (created) return reply.status(201).send(datasetDto(row));
          // a concurrent upload of the same content was recorded first: its row answers, our copy goes
          for (const f of stored) await app.artifactStore.delete(f.uri).catch(() => undefined);
          return reply.status(200).send(datasetDto(row));
        } catch (err) {
          for (const f of stored) await app.artifactStore.delete(f.uri).catch(() => undefined);
          throw err;
        }
      } finally {
        rmSync(scratch, { recursive: true, force: true });
        release();
      }
    },
  );

  app.get('/v1/datasets', { schema: { tags: ['datasets'], querystring: Pagination, response: { 200: Page(Dataset) } } }, async (req) => {
    const page = { limit: req.query.limit ?? 50, offset: req.query.offset ?? 0 };
    const { items, total } = await app.datasets.list(page, visibleTo(req));
    return { items: items.map(datasetDto), total, ...page };
  });

  app.get(
    '/v1/datasets/:id',
    { schema: { tags: ['datasets'], params: Type.Object({ id: DatasetId }), response: { 200: Dataset, 404: ErrorBody } } },
    async (req) => datasetDto(await app.datasets.get(req.params.id, visibleTo(req))),
  );

  app.get(
    '/v1/datasets/:id/preview.png',
    {
      schema: {
        tags: ['datasets'],
        description: 'a grid of the first training images of each class: one row per class, in label order (up to 32 classes)',
        params: Type.Object({ id: DatasetId }),
        response: { 200: Type.Unknown({ description: 'image/png' }), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const row = await app.datasets.get(req.params.id, visibleTo(req));
      let png: Uint8Array;
      const file = filesOf(row).find((f) => f.name === PREVIEW_FILE);
      if (file) png = await app.artifactStore.get(file.uri, file.sha256);
      else {
        // the built-in data set: drawn once per process (off the event loop), then kept
        builtinPreview ??= pool.preview(defaultDataDir()).catch((err: unknown) => {
          builtinPreview = null;
          throw err;
        });
        png = await builtinPreview;
      }
      return reply.header('content-type', 'image/png').header('cache-control', 'private, max-age=3600').send(Buffer.from(png));
    },
  );

  app.delete(
    '/v1/datasets/:id',
    {
      schema: {
        tags: ['datasets'],
        params: Type.Object({ id: DatasetId }),
        response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const files = await app.datasets.delete(req.params.id, visibleTo(req));
      for (const f of files)
        await app.artifactStore
          .delete(f.uri)
          .catch((err: unknown) => req.log.warn({ err, uri: f.uri }, 'could not delete a data set file'));
      return reply.status(204).send(null);
    },
  );
};

export default datasets;
