import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Id, Uuid } from '../schemas.js';
import { SAMPLES_ARTIFACT } from '../../store/artifacts.js';
import { NotFound } from '../../store/errors.js';
import { visibleTo } from '../tenancy.js';
import { HttpError } from '../plugins/errors.js';
import { InFlightLimit, clientOf } from '../in-flight.js';
import type { Readable } from 'node:stream';

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
      if (!release) throw new HttpError(429, `at most ${downloads.perClient} artifact downloads per API key at a time`);
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
};

export default artifacts;
