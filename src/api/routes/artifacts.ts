import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Uuid } from '../schemas.js';
import { visibleTo } from '../tenancy.js';

const artifacts: FastifyPluginAsyncTypebox = async (app) => {
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
      let a = await app.artifacts.get(req.params.id, visibleTo(req));
      let bytes: Uint8Array;
      try {
        bytes = await app.artifactStore.get(a.uri, a.sha256);
      } catch (err) {
        // a running job may have just replaced this artifact (a newer checkpoint) and deleted
        // the object the row pointed to a moment ago: read the row again once
        const fresh = await app.artifacts.reload(req.params.id);
        if (!fresh || fresh.uri === a.uri) throw err;
        a = fresh;
        bytes = await app.artifactStore.get(a.uri, a.sha256);
      }
      const filename = a.name.split('/').pop() ?? 'artifact';
      return reply
        .header('content-type', a.name.endsWith('.json') ? 'application/json' : 'application/octet-stream')
        .header('content-disposition', `attachment; filename="${filename}"`)
        .header('x-checksum-sha256', a.sha256)
        .send(Buffer.from(bytes));
    },
  );
};

export default artifacts;
