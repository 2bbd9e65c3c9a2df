/**
 * multipart/form-data uploads of PNG files, parsed into the same body as the
 * JSON form ({instances: [{png: base64}], version?, embedding?}), so one
 * schema validates both. Limits: 256 files, 2 MiB each.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import { Busboy, type BusboyHeaders, type BusboyInstance, type BusboyFileStream } from '@fastify/busboy';
import { HttpError } from './errors.js';

const MAX_FILES = 256;
const MAX_FILE_BYTES = 2 * 1024 * 1024;

export default fp(async function multipartImages(app: FastifyInstance) {
  app.addContentTypeParser('multipart/form-data', (request, payload, done) => {
    const instances: Array<{ png: string }> = [];
    const fields: Record<string, unknown> = {};
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      done(err, undefined);
    };
    let parser: BusboyInstance;
    try {
      parser = new Busboy({ headers: request.headers as BusboyHeaders, limits: { files: MAX_FILES, fileSize: MAX_FILE_BYTES, fields: 10, fieldSize: 100 } });
    } catch (err) {
      return fail(new HttpError(400, `bad multipart request: ${(err as Error).message}`));
    }
    parser.on('file', (_field: string, stream: BusboyFileStream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => fail(new HttpError(413, `an uploaded file exceeds ${MAX_FILE_BYTES} bytes`)));
      stream.on('end', () => instances.push({ png: Buffer.concat(chunks).toString('base64') }));
    });
    parser.on('field', (name: string, value: string) => {
      if (name === 'version') fields.version = Number(value);
      else if (name === 'embedding' && (value === 'true' || value === 'false')) fields.embedding = value === 'true';
      else if (name === 'embedding') fail(new HttpError(400, `form field embedding must be true or false, not ${JSON.stringify(value.slice(0, 20))}`));
      else fail(new HttpError(400, `unknown form field ${name}`));
    });
    parser.on('filesLimit', () => fail(new HttpError(400, `at most ${MAX_FILES} files per request`)));
    parser.on('error', (err: Error) => fail(new HttpError(400, `bad multipart request: ${err.message}`)));
    parser.on('finish', () => {
      if (!failed) done(null, { instances, ...fields });
    });
    payload.pipe(parser);
  });
});
