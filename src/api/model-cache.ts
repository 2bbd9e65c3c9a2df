/**
 * The files of registered models, for the inference threads: encoder and
 * probe head (checksums verified on read), the manifest's rendering
 * settings and the probe's class names, kept in a small LRU per API process. The assembled models live in
 * the threads (inference/thread.ts).
 */
import { LRUCache } from 'lru-cache';
import type { ArtifactsRepository } from '../store/artifacts.js';
import type { ArtifactStore } from '../artifacts/store.js';
import type { RunManifest } from '../cpc/run-manifest.js';
import { probeFacts } from '../cpc/servable.js';
import { NotFound } from '../store/errors.js';
import { NEIGHBOUR_INDEX_FILE } from '../cpc/neighbours.js';
import type { ModelFiles } from './inference/protocol.js';

export interface ModelRef {
  /** the model version's row id */
  id: string;
  probeJobId: string;
  cpcJobId: string;
  head: string;
}

export class ModelFilesCache {
  private readonly entries: LRUCache<string, Promise<ModelFiles>>;

  constructor(
    private readonly artifacts: ArtifactsRepository,
    private readonly store: ArtifactStore,
    capacity: number,
  ) {
    this.entries = new LRUCache({ max: capacity });
  }

  private async bytes(jobId: string, name: string): Promise<Uint8Array> {
    const a = await this.artifacts.byName(jobId, name);
    return this.store.get(a.uri, a.sha256);
  }

  /** an artifact that older jobs may not have: null then */
  private optional(jobId: string, name: string): Promise<Uint8Array | null> {
    return this.bytes(jobId, name).catch((err: unknown) => {
      if (err instanceof NotFound) return null;
      throw err;
    });
  }

  private async load(ref: ModelRef): Promise<ModelFiles> {
    // (a probe made before there were neighbour indexes has none)
    const neighbours = await this.optional(ref.probeJobId, NEIGHBOUR_INDEX_FILE);
    const manifest = JSON.parse(new TextDecoder().decode(await this.bytes(ref.cpcJobId, 'manifest.json'))) as RunManifest;
    return {
      encoderJson: await this.bytes(ref.cpcJobId, 'encoder/model.json'),
      encoderWeights: await this.bytes(ref.cpcJobId, 'encoder/weights.bin'),
      headJson: await this.bytes(ref.probeJobId, `probe/${ref.head}/model.json`),
      headWeights: await this.bytes(ref.probeJobId, `probe/${ref.head}/weights.bin`),
      style: { imageSize: manifest.config.imageSize, color: manifest.config.color },
      textureSeed: manifest.config.textureSeed,
      // (a probe stored without its report names no classes: its outputs are then the labels)
      ...probeFacts(await this.optional(ref.probeJobId, 'probe/report.json')),
      ...(neighbours ? { neighbours } : {}),
    };
  }

  get(ref: ModelRef): Promise<ModelFiles> {
    let entry = this.entries.get(ref.id);
    if (!entry) {
      entry = this.load(ref);
      entry.catch(() => this.entries.delete(ref.id));
      this.entries.set(ref.id, entry);
    }
    return entry;
  }
}
