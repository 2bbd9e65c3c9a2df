/**
 * multipart/form-data uploads of PNG files for the serving routes, parsed into
 * the same body as the JSON form ({instances: [{png: base64}], version?,
 * embedding?}), so one schema validates both.
 *
 * Registered only in the scope of the routes that take it (everywhere else a
 * multipart body is a 415 and is never read). Fastify reads the body first,
 * with the same byte limit as any other body (413 past it, whatever the
 * transfer encoding), and only after the onRequest hooks (authentication and
 * rate limiting) have let the request through. The parse of that buffer then
 * settles exactly once, with every error busboy can raise (on the parser or
 * on a file stream) turned into a 4xx.
 */
import type { FastifyInstance } from 'fastify';
import { Busboy, type BusboyHeaders, type BusboyFileStream } from '@fastify/busboy';
import { HttpError } from './errors.js';
import { MAX_INSTANCES } from '../../cpc/inference.js';

/** one form: every image and a few fields */
export const MAX_FORM_BYTES = 8 * 1024 * 1024;
/** the JSON form allows 2,000,000 base64 characters per image: the same 1,500,000 bytes here */
export const MAX_FILE_BYTES = 1_500_000;
const MAX_FIELDS = 10;
const MAX_FIELD_BYTES = 100;

export interface ImageForm {
  instances: Array<{ png: string }>;
  version?: number;
  embedding?: boolean;
  neighbours?: number;
}

/** Parse a complete multipart body; rejects with an HttpError (400 or 413) on anything malformed. */
export function parseImageForm(headers: BusboyHeaders, body: Buffer): Promise<ImageForm> {
  return new Promise((resolve, reject) => {
    const form: ImageForm = { instances: [] };
    let settled = false;
    const fail = (status: number, message: string) => {
      if (settled) return;
      settled = true;
      reject(new HttpError(status, message));
    };
    // busboy calls these handlers from its own stream callbacks: an exception in one would be
    // uncaught (a crash of the whole API), so each is guarded and becomes a 400
    const guarded =
      <A extends unknown[]>(handler: (...args: A) => void) =>
      (...args: A) => {
        try {
          handler(...args);
        } catch (err) {
          fail(400, `bad multipart request: ${(err as Error).message}`);
        }
      };
    let parser: InstanceType<typeof Busboy>;
    try {
      parser = new Busboy({
        headers,
        limits: {
          files: MAX_INSTANCES,
          fileSize: MAX_FILE_BYTES,
          fields: MAX_FIELDS,
          fieldSize: MAX_FIELD_BYTES,
          parts: MAX_INSTANCES + MAX_FIELDS,
          headerPairs: 20,
        },
      });
    } catch (err) {
      return fail(400, `bad multipart request: ${(err as Error).message}`);
    }
    parser.on(
      'file',
      guarded((_field: string | undefined, stream: BusboyFileStream) => {
        const chunks: Buffer[] = [];
        stream.on(
          'data',
          guarded((c: Buffer) => chunks.push(c)),
        );
        stream.on(
          'limit',
          guarded(() => fail(413, `an uploaded file exceeds ${MAX_FILE_BYTES} bytes`)),
        );
        // a part cut off by the end of the body: busboy errors the file stream as well as the parser
        stream.on('error', (err: Error) => fail(400, `bad multipart request: ${err.message}`));
        stream.on(
          'end',
          guarded(() => form.instances.push({ png: Buffer.concat(chunks).toString('base64') })),
        );
      }),
    );
    // (a part's Content-Disposition may have no name at all: busboy then gives undefined)
    parser.on(
      'field',
      guarded((rawName: string | undefined, value: string, _nameTruncated: boolean, valueTruncated: boolean) => {
        const name = typeof rawName === 'string' ? rawName : '';
        if (valueTruncated) return fail(400, `form field ${JSON.stringify(name.slice(0, 40))} is longer than ${MAX_FIELD_BYTES} bytes`);
        if (name === 'version') {
          if (!/^[0-9]{1,10}$/.test(value))
            return fail(400, `form field version must be a positive integer, not ${JSON.stringify(value.slice(0, 20))}`);
          form.version = Number(value);
        } else if (name === 'embedding') {
          if (value !== 'true' && value !== 'false')
            return fail(400, `form field embedding must be true or false, not ${JSON.stringify(value.slice(0, 20))}`);
          form.embedding = value === 'true';
        } else if (name === 'neighbours') {
          // (its range is the schema's to check, as for the JSON form)
          if (!/^[0-9]{1,6}$/.test(value))
            return fail(400, `form field neighbours must be a small non-negative integer, not ${JSON.stringify(value.slice(0, 20))}`);
          form.neighbours = Number(value);
        } else fail(400, name ? `unknown form field ${JSON.stringify(name.slice(0, 40))}` : 'a form field has no name');
      }),
    );
    parser.on('filesLimit', () => fail(400, `at most ${MAX_INSTANCES} files per request`));
    parser.on('fieldsLimit', () => fail(400, `at most ${MAX_FIELDS} form fields per request`));
    parser.on('partsLimit', () => fail(400, `at most ${MAX_INSTANCES + MAX_FIELDS} parts per request`));
    parser.on('error', (err: Error) => fail(400, `bad multipart request: ${err.message}`));
    parser.on(
      'finish',
      guarded(() => {
        if (settled) return;
        settled = true;
        resolve(form);
      }),
    );
    try {
      parser.end(body);
    } catch (err) {
      fail(400, `bad multipart request: ${(err as Error).message}`);
    }
  });
}

/** Let the routes of this scope (and only them) take multipart/form-data image uploads. */
export function acceptImageForms(scope: FastifyInstance): void {
  scope.addContentTypeParser('multipart/form-data', { parseAs: 'buffer', bodyLimit: MAX_FORM_BYTES }, (request, body, done) => {
    parseImageForm(request.headers as BusboyHeaders, body as Buffer).then(
      (form) => done(null, form),
      (err: Error) => done(err, undefined),
    );
  });
}
