/**
 * One JSON line summing up a study run (scripts/study/run.sh): its config, validation curve,
 * contrastive test accuracy with its chance, the final validation's pairwise accuracy
 * (contrastive.ts), probe scores beside the baselines, code spectrum.
 *   node --import tsx scripts/study/summarize.ts RUN_DIR [WALL_SECONDS]
 */
import { existsSync, readFileSync } from 'node:fs';
import { upgradeStoredConfig } from '../../src/cpc/config.js';

const [out, wall] = process.argv.slice(2);
const json = (path: string) => (existsSync(path) ? JSON.parse(readFileSync(path, 'utf8') || '{}') : {});
const history = readFileSync(`${out}/history.jsonl`, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { step: number; validAccuracy: number });
const manifest = json(`${out}/manifest.json`);
const result = manifest.result;
// (a run from before a field existed, as it ran)
const config = upgradeStoredConfig(manifest.config) as Record<string, any>;
const probe = json(`${out}.probe.json`);
const spectrum = json(`${out}.spectrum.json`);
const contrastive = json(`${out}.contrastive.json`);
const r3 = (x: number) => Math.round(x * 1000) / 1000;
console.log(
  JSON.stringify({
    name: out.split('/').pop(),
    seed: config.seed,
    data: config.dataDir ?? 'mnist',
    color: config.color,
    imageSize: config.imageSize,
    loss: config.loss,
    negatives: config.negatives,
    sameClassNegatives: config.sameClassNegatives,
    similarity: config.similarity,
    logitScale: config.logitScale,
    lrSchedule: config.lrSchedule,
    learningRate: config.learningRate,
    augment: config.augment,
    steps: result.steps,
    valid: history.map((h) => r3(h.validAccuracy)),
    chance: r3(result.test.chance),
    first99: history.find((h) => h.validAccuracy >= 0.99)?.step ?? null,
    test: r3(result.test.accuracy),
    validPairwise: contrastive.pairwise,
    trainSeconds: Math.round(result.seconds),
    wallSeconds: wall === undefined ? null : Number(wall),
    cpc: probe.cpc,
    randomEncoder: probe.randomEncoder,
    rawPixels: probe.rawPixels,
    probeImages: probe.trainImages === undefined ? undefined : [probe.trainImages, probe.testImages],
    rank: spectrum.cpc?.effectiveRank,
    randomRank: spectrum.randomEncoder?.effectiveRank,
    separation: spectrum.cpc?.classSeparation,
  }),
);
