/**
 * What a frozen encoder's codes look like on a run's test images: the spectrum of their
 * covariance (effective rank = exp of the entropy of the normalised eigenvalues; participation
 * ratio = (sum λ)² / sum λ²; share of the variance in the top 10 directions) and how far apart
 * the classes are (between-class over within-class variance), beside a random-init encoder of
 * the same shape. A collapsed code has a small rank; a class-blind one a small separation.
 *   node --import tsx scripts/study/spectrum.ts RUN_DIR [IMAGES=5000]
 */
import { join } from 'node:path';
import * as tf from '../../src/cpc/tf.js';
import { initBackend } from '../../src/cpc/backend.js';
import { readManifest, runStyle } from '../../src/cpc/run-manifest.js';
import { loadDataset, defaultDataDir } from '../../src/cpc/load-dataset.js';
import { proceduralTexture } from '../../src/cpc/texture.js';
import { loadModelDir } from '../../src/cpc/export.js';
import { CpcNetwork } from '../../src/cpc/model.js';
import { runSeeds } from '../../src/cpc/trainer.js';
import { Rng } from '../../src/cpc/rng.js';
import { computeFeatures, sampleLabelledImages, type FeatureFn, type LabelledImages } from '../../src/cpc/probe.js';

/** eigenvalues of a symmetric n x n matrix (cyclic Jacobi) */
function eigenvalues(a: Float64Array, n: number): number[] {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off < 1e-18) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-30) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = m[k * n + p];
          const akq = m[k * n + q];
          m[k * n + p] = c * akp - s * akq;
          m[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p * n + k];
          const aqk = m[q * n + k];
          m[p * n + k] = c * apk - s * aqk;
          m[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Array.from({ length: n }, (_, i) => Math.max(0, m[i * n + i])).sort((x, y) => y - x);
}

function describe(features: FeatureFn, set: LabelledImages) {
  const codes = computeFeatures(set, features);
  const [count, d] = codes.shape;
  const x = codes.dataSync() as Float32Array;
  codes.dispose();
  const mean = new Float64Array(d);
  for (let i = 0; i < count; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / count;
  const cov = new Float64Array(d * d);
  const classMean = Array.from({ length: set.classes }, () => new Float64Array(d));
  const classCount = new Float64Array(set.classes);
  for (let i = 0; i < count; i++) {
    const row = x.subarray(i * d, (i + 1) * d);
    classCount[set.labels[i]]++;
    for (let j = 0; j < d; j++) classMean[set.labels[i]][j] += row[j];
    for (let j = 0; j < d; j++) {
      const cj = row[j] - mean[j];
      for (let k = j; k < d; k++) cov[j * d + k] += (cj * (row[k] - mean[k])) / count;
    }
  }
  for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) cov[j * d + k] = cov[k * d + j];
  const lambda = eigenvalues(cov, d);
  const total = lambda.reduce((a, b) => a + b, 0);
  const p = lambda.map((l) => l / total).filter((v) => v > 0);
  const between = classMean.reduce((acc, m, c) => {
    if (!classCount[c]) return acc;
    let s = 0;
    for (let j = 0; j < d; j++) s += (m[j] / classCount[c] - mean[j]) ** 2;
    return acc + (s * classCount[c]) / count;
  }, 0);
  return {
    dims: d,
    effectiveRank: +Math.exp(-p.reduce((a, v) => a + v * Math.log(v), 0)).toFixed(1),
    participationRatio: +(total ** 2 / lambda.reduce((a, l) => a + l * l, 0)).toFixed(1),
    top10Share: +(lambda.slice(0, 10).reduce((a, b) => a + b, 0) / total).toFixed(3),
    // total variance = between + within
    classSeparation: +(between / (total - between)).toFixed(3),
  };
}

const [runDir, images = '5000'] = process.argv.slice(2);
if (!runDir) throw new Error('usage: spectrum.ts RUN_DIR [IMAGES]');
await initBackend('auto');
const manifest = readManifest(runDir);
const data = loadDataset(manifest.config.dataDir ?? defaultDataDir());
const set = sampleLabelledImages(
  data,
  'test',
  Number(images),
  runStyle(manifest),
  proceduralTexture(manifest.config.textureSeed),
  new Rng(7),
);
const encoder = await loadModelDir(join(runDir, 'encoder'));
const random = new CpcNetwork(
  { model: manifest.config.model, imageSize: manifest.config.imageSize, predictTerms: manifest.config.predictTerms },
  runSeeds(manifest.config.seed).network + 1,
);
console.log(
  JSON.stringify({
    run: runDir,
    cpc: describe((x) => encoder.predict(x) as tf.Tensor2D, set),
    randomEncoder: describe((x) => random.encode(x, { training: false }), set),
  }),
);
