/**
 * Data set checks (and the built-in data set's preview) off the event loop: one Piscina thread at a time per API process (a check holds a
 * whole data set in memory), a few uploads waiting behind it, more refused as busy (503).
 */
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { DatasetError } from '../../cpc/dataset.js';
import { UploadTooLarge } from '../../datasets/archive.js';
import type { IngestedDataset, IngestOptions, UploadedFile } from '../../datasets/ingest.js';

const here = dirname(fileURLToPath(import.meta.url));
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

export type IngestTask = { kind: 'ingest'; files: UploadedFile[]; options: IngestOptions } | { kind: 'preview'; dir: string };

export type IngestOutcome =
  | { kind: 'ok'; dataset: IngestedDataset }
  | { kind: 'preview'; png: Uint8Array }
  | { kind: 'invalid'; message: string }
  | { kind: 'too-large'; message: string };

export class IngestBusy extends Error {
  constructor() {
    super('data set checks are busy (an upload is being checked and others wait); try again shortly');
    this.name = 'IngestBusy';
  }
}

export class IngestPool {
  private readonly pool = new Piscina({
    filename: join(here, `thread.${ext}`),
    minThreads: 0,
    maxThreads: 1,
    maxQueue: 4,
    // (a thread that checked a large data set gives its memory back when idle)
    idleTimeout: 10_000,
    ...(ext === 'ts' ? { execArgv: ['--import', 'tsx'] } : {}),
  });

  private async run(task: IngestTask, signal?: AbortSignal): Promise<IngestOutcome> {
    let outcome: IngestOutcome;
    try {
      outcome = (await this.pool.run(task, { signal })) as IngestOutcome;
    } catch (err) {
      if (/queue is at limit/i.test((err as Error).message)) throw new IngestBusy();
      throw err;
    }
    if (outcome.kind === 'invalid') throw new DatasetError(outcome.message);
    if (outcome.kind === 'too-large') throw new UploadTooLarge(outcome.message);
    return outcome;
  }

  /** the upload checked and in the form that is stored (DatasetError, UploadTooLarge when it is not one) */
  async ingest(files: UploadedFile[], options: IngestOptions, signal?: AbortSignal): Promise<IngestedDataset> {
    const outcome = await this.run({ kind: 'ingest', files, options }, signal);
    if (outcome.kind !== 'ok') throw new Error(`unexpected ${outcome.kind} answer to an upload check`);
    return outcome.dataset;
  }

  /** preview.png of the IDX data set in `dir` (the built-in one, which has no stored preview) */
  async preview(dir: string): Promise<Uint8Array> {
    const outcome = await this.run({ kind: 'preview', dir });
    if (outcome.kind !== 'preview') throw new Error(`unexpected ${outcome.kind} answer to a preview`);
    return outcome.png;
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
