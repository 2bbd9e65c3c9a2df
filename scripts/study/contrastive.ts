/**
 * A trained run's contrastive task, looked at from several sides (BENCHMARKS.md "Representations"):
 * on the run's own validation (or test) batches, the top-1 accuracy the trainer reports (its own
 * future image against every other-class future image of the batch), the same among the
 * positives' futures at the same step only, per predicted step, and the pairwise accuracy (the
 * target outscores one other-class candidate: the 1-in-2 measure of the binary loss, chance 0.5).
 * The errors are split by cause: the target scored below most candidates (the target image was
 * misread) or a few candidates outscored it (other images read as its class).
 *   node --import tsx scripts/study/contrastive.ts RUN_DIR [BATCHES=the run's validationSteps] [valid|test]
 */
import { join } from 'node:path';
import * as tf from '../../src/cpc/tf.js';
import { initBackend } from '../../src/cpc/backend.js';
import { readManifest } from '../../src/cpc/run-manifest.js';
import { upgradeStoredConfig, type CpcConfig } from '../../src/cpc/config.js';
import { readCheckpointDir, restoreCheckpoint } from '../../src/cpc/checkpoint.js';
import { loadDataset, defaultDataDir } from '../../src/cpc/load-dataset.js';
import { proceduralTexture } from '../../src/cpc/texture.js';
import { CpcNetwork } from '../../src/cpc/model.js';
import { runSeeds, batchSpec } from '../../src/cpc/trainer.js';
import { SequenceBatcher, futureClasses } from '../../src/cpc/batches.js';
import { candidateMask, candidateScores, positiveIndices, scoredVectors } from '../../src/cpc/losses.js';
import { batchTensors } from '../../src/cpc/train-step.js';

const [runDir, batches, split = 'valid'] = process.argv.slice(2);
if (!runDir || (split !== 'valid' && split !== 'test')) throw new Error('usage: contrastive.ts RUN_DIR [BATCHES] [valid|test]');
await initBackend('auto');
// (a run from before a field existed, as it ran)
const config = upgradeStoredConfig({ ...readManifest(runDir).config }) as unknown as CpcConfig;
const network = new CpcNetwork({ model: config.model, imageSize: config.imageSize, predictTerms: config.predictTerms }, 0);
await restoreCheckpoint(readCheckpointDir(join(runDir, 'checkpoint')), network);
const data = loadDataset(config.dataDir ?? defaultDataDir());
const classCount = data.classNames.length;
const batcher = new SequenceBatcher(data, proceduralTexture(config.textureSeed), runSeeds(config.seed).validation);

const steps = config.predictTerms;
const tally = { batches: 0, chance: 0, queries: 0, top1: 0, sameStepTop1: 0, pairwise: 0, targetMisread: 0, fewBeatIt: 0 };
const perStep = new Array<number>(steps).fill(0);
/** the class of the highest-scoring wrong candidate minus the target's class (mod the class count), over the errors */
const winnerOffset = new Array<number>(classCount).fill(0);
let winnerSameSequence = 0;
/** distinct wrong winners (future images) over the batches: how many images cause the errors */
let distinctWinners = 0;
for (let i = 0; i < (batches === undefined ? config.validationSteps : Number(batches)); i++) {
  const batch = batcher.next(split, batchSpec(config, config.color));
  const classes = futureClasses(batch);
  const positives = positiveIndices(batch.labels);
  // (the trainer's own scores, before its logit scale: the scale changes no ranking)
  const scores = tf.tidy(() => {
    const { context, future } = batchTensors(batch);
    const out = network.forward(context, future, { training: false });
    const { predictions, futureCodes } = scoredVectors(out.predictions, out.futureCodes, config.similarity);
    return candidateScores(predictions, futureCodes, positives);
  });
  const s = scores.dataSync() as Float32Array;
  scores.dispose();
  const all = candidateMask(positives, batch.labels, classes, steps, config);
  const sameStep = candidateMask(positives, batch.labels, classes, steps, { ...config, negatives: 'step' });
  tally.batches++;
  tally.chance += all.chance;
  const width = batch.batchSize * steps;
  const winners = new Set<number>();
  all.targets.forEach((target, row) => {
    const at = (c: number) => s[row * width + c];
    let above = 0;
    let open = 0;
    let aboveSameStep = 0;
    let winner = -1;
    for (let c = 0; c < width; c++) {
      if (c === target) continue;
      if (all.mask[row * width + c] === 0) {
        open++;
        if (at(c) >= at(target)) above++;
        if (winner < 0 || at(c) > at(winner)) winner = c;
      }
      if (sameStep.mask[row * width + c] === 0 && at(c) >= at(target)) aboveSameStep++;
    }
    tally.queries++;
    tally.pairwise += 1 - above / open;
    if (above === 0) {
      tally.top1++;
      perStep[row % steps]++;
    } else {
      winners.add(winner);
      winnerOffset[(((classes[winner] - classes[target]) % classCount) + classCount) % classCount]++;
      if (Math.floor(winner / steps) === Math.floor(target / steps)) winnerSameSequence++;
      if (above > open / 2) tally.targetMisread++;
      else tally.fewBeatIt++;
    }
    if (aboveSameStep === 0) tally.sameStepTop1++;
  });
  distinctWinners += winners.size;
}
const share = (n: number) => +(n / tally.queries).toFixed(4);
console.log(
  JSON.stringify({
    run: runDir,
    split,
    queries: tally.queries,
    top1: share(tally.top1),
    top1Chance: +(tally.chance / tally.batches).toFixed(4),
    sameStepTop1: share(tally.sameStepTop1),
    pairwise: share(tally.pairwise),
    perStepTop1: perStep.map((n) => +((n * steps) / tally.queries).toFixed(4)),
    errorWinners: {
      images: distinctWinners,
      futureImages: tally.batches * config.batchSize * steps,
      classOffset: winnerOffset,
      sameSequence: winnerSameSequence,
    },
    errors: { targetBelowMostCandidates: share(tally.targetMisread), aFewCandidatesAbove: share(tally.fewBeatIt) },
  }),
);
network.dispose();
