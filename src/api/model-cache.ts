/**
 * Registered models loaded for serving: encoder + probe head from their
 * artifacts (checksums verified), kept in a small LRU per API process.
 */
import type { Db } from '../store/db.js';
import type { ArtifactStore } from '../artifacts/store.js';
import { loadLayersModelFromFiles } from '../cpc/export.js';
import { proceduralTexture } from '../cpc/texture.js';
import type { ServableModel } from '../cpc/inference.js';
import type { RunManifest } from '../cpc/runs.js';
import { initBackend } from '../cpc/backend.js';

export class ModelCache {
  private readonly entries = new Map<string, Promise<ServableModel>>();

  constructor(
    private readonly db: Db,
    private readonly store: ArtifactStore,
    private readonly capacity: number,
  ) {}

  private async bytes(jobId: string, name: string): Promise<Uint8Array> {
    const a = await this.db.artifact.findFirst({ where: { jobId, name } });
    if (!a) throw new Error(`job ${jobId} has no artifact ${name}`);
    return this.store.get(a.uri, a.sha256);
  }

  private async load(probeJobId: string, cpcJobId: string, head: string): Promise<ServableModel> {
    await initBackend();
    const manifest = JSON.parse(new TextDecoder().decode(await this.bytes(cpcJobId, 'manifest.json'))) as RunManifest;
    const encoder = await loadLayersModelFromFiles({ modelJson: await this.bytes(cpcJobId, 'encoder/model.json'), weights: await this.bytes(cpcJobId, 'encoder/weights.bin') });
    const headModel = await loadLayersModelFromFiles({ modelJson: await this.bytes(probeJobId, `probe/${head}/model.json`), weights: await this.bytes(probeJobId, `probe/${head}/weights.bin`) });
    return {
      encoder,
      head: headModel,
      style: { imageSize: manifest.config.imageSize, color: manifest.config.color },
      texture: proceduralTexture(manifest.config.textureSeed),
    };
  }

  get(key: string, probeJobId: string, cpcJobId: string, head: string): Promise<ServableModel> {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry); // most recently used last
      return entry;
    }
    entry = this.load(probeJobId, cpcJobId, head);
    entry.catch(() => this.entries.delete(key));
    this.entries.set(key, entry);
    while (this.entries.size > this.capacity) {
      const [oldest, evicted] = this.entries.entries().next().value as [string, Promise<ServableModel>];
      this.entries.delete(oldest);
      evicted.then((m) => (m.encoder.dispose(), m.head.dispose())).catch(() => undefined);
    }
    return entry;
  }

  clear(): void {
    for (const e of this.entries.values()) e.then((m) => (m.encoder.dispose(), m.head.dispose())).catch(() => undefined);
    this.entries.clear();
  }
}
