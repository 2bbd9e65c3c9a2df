/**
 * Data set work off the API's event loop (run by Piscina, see pool.ts): checking an upload
 * (unpacking an archive, decoding thousands of PNGs) and drawing the built-in data set's preview
 * take seconds. Errors come back as values, not throws: a thrown DatasetError would cross the
 * thread boundary as a plain Error.
 */
import { ingestUpload } from '../../datasets/ingest.js';
import { UploadTooLarge } from '../../datasets/archive.js';
import { DatasetError } from '../../cpc/dataset.js';
import { readIdxDataset } from '../../cpc/idx-dataset.js';
import { previewPng } from '../../cpc/preview.js';
import type { IngestOutcome, IngestTask } from './pool.js';

export default async function run(task: IngestTask): Promise<IngestOutcome> {
  try {
    if (task.kind === 'preview') return { kind: 'preview', png: previewPng(readIdxDataset(task.dir)) };
    return { kind: 'ok', dataset: await ingestUpload(task.files, task.options) };
  } catch (err) {
    if (err instanceof UploadTooLarge) return { kind: 'too-large', message: err.message };
    if (err instanceof DatasetError) return { kind: 'invalid', message: err.message };
    throw err;
  }
}
