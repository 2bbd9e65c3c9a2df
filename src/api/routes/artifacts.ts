import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Id, Uuid } from '../schemas.js';
import { CURVES_ARTIFACT, CURVES_PNG_ARTIFACT, SAMPLES_ARTIFACT, recordArtifact } from '../../store/artifacts.js';
import { renderAsync } from '@resvg/resvg-js';
import { FINAL_STATUSES } from '../../store/lifecycle.js';
import { curvesSvg } from '../../plots/curves-svg.js';
import { sha256Hex } from '../../lib/hash.js';
import { isForeignKeyViolation, NotFound } from '../../store/errors.js';
import { visibleTo } from '../tenancy.js';
import { HttpError } from '../plugins/errors.js';
import { InFlightLimit, clientOf } from '../in-flight.js';
import type { Readable } from 'node:stream';

/** the most metric rows a curves plot reads (a default run writes about 2000) */
const CURVE_ROWS = 100_000;

/** artifact downloads one API key may have in flight */
const DOWNLOADS_PER_KEY = 2;

const artifacts: FastifyPluginAsyncTypebox = async (app) => {
  const downloads = new InFlightLimit(DOWNLOADS_PER_KEY);
  app.get(
    '/v1/artifacts/:id',
    {
      schema: {
        tags: ['artifacts'],
        params: Type.Object({ id: Uuid }),
        response: {
          200: Type.Unknown({ description: 'the artifact bytes; X-Checksum-Sha256 carries their sha256' }),
          404: ErrorBody,
          500: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      // a download reads and hashes the whole file before its first byte (checkpoints are large):
      // a few at a time per key, so one client cannot keep the disk and the CPU for itself
      const release = downloads.enter(clientOf(req));
      if (!release)
        throw new HttpError(429, `at most ${downloads.perClient} artifact downloads per API key at a time`, undefined, {
          code: 'too_many_downloads',
        });
      try {
        let a = await app.artifacts.get(req.params.id, visibleTo(req));
        let body: Readable;
        try {
          body = await app.artifactStore.open(a.uri, a.sha256);
        } catch (err) {
          // a running job may have just replaced this artifact (a newer checkpoint) and deleted
          // the object the row pointed to a moment ago: read the row again once
          const fresh = await app.artifacts.reload(req.params.id);
          if (!fresh || fresh.uri === a.uri) throw err;
          a = fresh;
          body = await app.artifactStore.open(a.uri, a.sha256);
        }
        // (the slot is held until the bytes are out, or the client is gone)
        body.once('close', release);
        const filename = a.name.split('/').pop() ?? 'artifact';
        return reply
          .header('content-type', a.name.endsWith('.json') ? 'application/json' : 'application/octet-stream')
          .header('content-length', String(a.bytes))
          .header('content-disposition', `attachment; filename="${filename}"`)
          .header('x-checksum-sha256', a.sha256)
          .send(body);
      } catch (err) {
        release();
        throw err;
      }
    },
  );

  app.get(
    '/v1/jobs/:id/samples.png',
    {
      schema: {
        tags: ['jobs'],
        description:
          'what a CPC job trains on: one batch of its data and config, one sequence per row, the context framed white and the ' +
          'future green (a positive sequence) or red (a negative one). Drawn by the worker when the job starts.',
        params: Type.Object({ id: Id }),
        response: { 200: Type.Unknown({ description: 'image/png' }), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const job = await app.jobs.get(req.params.id, visibleTo(req));
      if (job.kind !== 'cpc') throw new NotFound(`job ${job.id} is a ${job.kind} job: only CPC jobs have sample sequences`);
      const a = await app.artifacts.byName(job.id, SAMPLES_ARTIFACT).catch(() => {
        throw new NotFound(`job ${job.id} has no samples yet: its worker draws them when the job starts`);
      });
      const png = await app.artifactStore.get(a.uri, a.sha256);
      return reply.header('content-type', 'image/png').header('cache-control', 'private, max-age=3600').send(Buffer.from(png));
    },
  );

  for (const format of ['svg', 'png'] as const) {
    const artifact = format === 'svg' ? CURVES_ARTIFACT : CURVES_PNG_ARTIFACT;
    const type = format === 'svg' ? 'image/svg+xml' : 'image/png';
    app.get(
      `/v1/jobs/:id/plots/curves.${format}`,
      {
        schema: {
          tags: ['jobs'],
          description:
            "a CPC job's curves from its stored metrics: loss (train, validation), contrastive accuracy (train, validation, the chance " +
            'level dashed) and learning rate over steps. A running job’s is drawn at each request; a final job’s once, then kept as an artifact.',
          params: Type.Object({ id: Id }),
          response: { 200: Type.Unknown({ description: type }), 404: ErrorBody },
        },
      },
      async (req, reply) => {
        const job = await app.jobs.get(req.params.id, visibleTo(req));
        if (job.kind !== 'cpc') throw new NotFound(`job ${job.id} is a ${job.kind} job: only CPC jobs have training curves`);
        const final = FINAL_STATUSES.includes(job.status);
        const draw = async (): Promise<Uint8Array> => {
          const svg = curvesSvg(`${job.id} (${job.status})`, await app.jobs.curveRows(job.id, CURVE_ROWS));
          // (rasterised in libuv's thread pool, off the event loop)
          return format === 'svg' ? Buffer.from(svg) : (await renderAsync(svg, { font: { loadSystemFonts: true } })).asPng();
        };
        let bytes: Uint8Array;
        const kept = final ? await app.artifacts.byName(job.id, artifact).catch(() => null) : null;
        if (kept) bytes = await app.artifactStore.get(kept.uri, kept.sha256);
        else {
          bytes = await draw();
          if (final) {
            const stored = await app.artifactStore.put(`jobs/${job.id}/${sha256Hex(bytes).slice(0, 16)}/${artifact}`, bytes);
            await recordArtifact(app.db, job.id, 'plot', artifact, stored).catch(async (err: unknown) => {
              // the job was deleted while it was drawn: its file goes too, and so does the job
              if (!isForeignKeyViolation(err)) throw err;
              await app.artifactStore.delete(stored.uri).catch(() => undefined);
              throw new NotFound(`no job ${job.id}`);
            });
          }
        }
        return reply
          .header('content-type', type)
          .header('cache-control', final ? 'private, max-age=3600' : 'no-cache')
          .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
          .send(Buffer.from(bytes));
      },
    );
  }
};

export default artifacts;
