/**
 * A multipart/form-data upload streamed to disk: each file part goes to its
 * own file in a scratch directory as it arrives (never the whole upload in
 * memory), counted against one byte limit for all parts together (413 the
 * moment it is passed, and nothing more is read). Form fields are small and
 * kept in memory. A client that stops sending, or goes away, fails the
 * promise; the caller removes the scratch directory whatever happens.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { Busboy, type BusboyHeaders } from '@fastify/busboy';
import { HttpError } from './plugins/errors.js';
import type { UploadedFile } from '../datasets/ingest.js';

export interface UploadLimits {
  maxBytes: number;
  maxFiles: number;
  maxFields: number;
  maxFieldBytes: number;
}

export interface ReceivedUpload {
  fields: Record<string, string>;
  files: UploadedFile[];
}

/** `connection`: the request itself (its 'close' before the last byte says the client is gone) */
export function receiveUpload(
  headers: BusboyHeaders,
  body: Readable,
  connection: IncomingMessage,
  scratch: string,
  limits: UploadLimits,
): Promise<ReceivedUpload> {
  return new Promise((resolve, reject) => {
    const fields: Record<string, string> = {};
    const files: UploadedFile[] = [];
    const writes: Array<Promise<Error | null>> = [];
    const outs: WriteStream[] = [];
    let received = 0;
    let settled = false;
    // (the caller removes the scratch directory once this settles: every file is closed first)
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      body.unpipe();
      for (const out of outs) out.destroy();
      const closing = outs.map((out) => new Promise<void>((closed) => (out.closed ? closed() : out.once('close', () => closed()))));
      void Promise.all(closing).then(() => reject(err));
    };
    const bad = (message: string) => fail(new HttpError(400, `bad multipart upload: ${message}`));
    let parser: InstanceType<typeof Busboy>;
    try {
      parser = new Busboy({
        headers,
        limits: {
          files: limits.maxFiles,
          fields: limits.maxFields,
          fieldSize: limits.maxFieldBytes,
          parts: limits.maxFiles + limits.maxFields,
        },
      });
    } catch (err) {
      return bad((err as Error).message);
    }
    parser.on('file', (field, stream, filename) => {
      if (settled) return stream.resume();
      const path = join(scratch, `part-${files.length}`);
      // (the name is only for messages: a long one is cut)
      const file: UploadedFile = { filename: (filename || field || `part-${files.length}`).slice(0, 200), path, bytes: 0 };
      files.push(file);
      const out = createWriteStream(path, { flags: 'wx' });
      outs.push(out);
      writes.push(
        new Promise<Error | null>((done) => {
          out.on('finish', () => done(null));
          out.on('error', (err) => done(err));
        }),
      );
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        file.bytes += chunk.length;
        if (received > limits.maxBytes) {
          fail(new HttpError(413, `the upload is larger than ${limits.maxBytes} bytes`));
          stream.resume();
          out.destroy();
        }
      });
      stream.on('error', (err: Error) => bad(err.message));
      stream.pipe(out);
    });
    parser.on('field', (name, value, nameTruncated, valueTruncated) => {
      if (nameTruncated || valueTruncated)
        return bad(`form field ${JSON.stringify(name.slice(0, 40))} is longer than ${limits.maxFieldBytes} bytes`);
      if (name in fields) return bad(`form field ${JSON.stringify(name.slice(0, 40))} is given twice`);
      fields[name] = value;
    });
    parser.on('filesLimit', () => bad(`at most ${limits.maxFiles} files per upload`));
    parser.on('fieldsLimit', () => bad(`at most ${limits.maxFields} form fields per upload`));
    parser.on('partsLimit', () => bad(`at most ${limits.maxFiles + limits.maxFields} parts per upload`));
    parser.on('error', (err: Error) => bad(err.message));
    parser.on('finish', () => {
      if (settled) return;
      void Promise.all(writes).then((errors) => {
        const error = errors.find((e) => e !== null);
        if (error) return fail(error);
        if (settled) return;
        settled = true;
        resolve({ fields, files });
      });
    });
    // the client went away or stopped sending in time (the body's own timeout destroys the stream)
    body.on('error', (err: Error) => fail(err instanceof HttpError ? err : new HttpError(400, `the upload was cut off: ${err.message}`)));
    connection.once('close', () => {
      if (!connection.complete) fail(new HttpError(400, 'the upload was cut off (the client went away)'));
    });
    body.pipe(parser);
  });
}
