/**
 * Export the trained encoder (and probe heads) as standard TensorFlow.js
 * layers models (model.json + weights.bin), through in-memory IO handlers
 * (tfjs-node's file:// handler is absent here), with a sha256 per file.
 */
import * as tf from './tf.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CpcNetwork } from './model.js';
import { writeFileAtomic } from '../lib/files.js';
import { sha256Hex } from '../lib/hash.js';

export interface SavedFile {
  name: string;
  bytes: Uint8Array;
  sha256: string;
}

/** The encoder as a tf.Sequential with the same architecture and weights as the network's. */
export function encoderAsLayersModel(network: CpcNetwork): tf.Sequential {
  const { model, imageSize } = network.shape;
  const m = tf.sequential({ name: 'cpc_encoder' });
  // layer name -> its weights, in the layer's own order (set per layer: a model's
  // weight list puts all trainable weights before the non-trainable ones)
  const layerWeights = new Map<string, tf.Tensor[]>();
  const addBn = (name: string, prefix: string) => {
    m.add(tf.layers.batchNormalization({ name, momentum: model.bnMomentum, epsilon: model.bnEpsilon }));
    layerWeights.set(
      name,
      ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w) => network.p(`${prefix}/${w}`)),
    );
  };
  for (let i = 1; i <= model.convLayers; i++) {
    const first = i === 1 ? { inputShape: [imageSize, imageSize, 3] } : {};
    m.add(
      tf.layers.conv2d({ name: `conv${i}`, filters: model.filters, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, ...first }),
    );
    layerWeights.set(`conv${i}`, [network.p(`encoder/conv${i}/kernel`)]);
    addBn(`bn${i}`, `encoder/bn${i}`);
    m.add(tf.layers.leakyReLU({ name: `leaky${i}`, alpha: model.leakyAlpha }));
  }
  m.add(tf.layers.flatten({ name: 'flatten' }));
  m.add(tf.layers.dense({ name: 'dense1', units: model.hidden, useBias: false }));
  layerWeights.set('dense1', [network.p('encoder/dense1/kernel')]);
  addBn('bn_dense1', 'encoder/bn_dense1');
  m.add(tf.layers.leakyReLU({ name: 'leaky_dense1', alpha: model.leakyAlpha }));
  m.add(tf.layers.dense({ name: 'code', units: model.codeSize }));
  layerWeights.set('code', [network.p('encoder/code/kernel'), network.p('encoder/code/bias')]);
  for (const [name, weights] of layerWeights) m.getLayer(name).setWeights(weights);
  return m;
}

/** Serialise a layers model to model.json + weights.bin bytes. */
export async function serializeLayersModel(model: tf.LayersModel): Promise<SavedFile[]> {
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts) throw new Error('model.save produced no artifacts');
  const a = artifacts as tf.io.ModelArtifacts;
  const weights = new Uint8Array(a.weightData as ArrayBuffer);
  const modelJson = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`,
    convertedBy: null,
    modelTopology: a.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
    userDefinedMetadata: a.userDefinedMetadata,
  };
  const json = new TextEncoder().encode(JSON.stringify(modelJson));
  return [
    { name: 'model.json', bytes: json, sha256: sha256Hex(json) },
    { name: 'weights.bin', bytes: weights, sha256: sha256Hex(weights) },
  ];
}

export async function loadLayersModelFromFiles(files: { modelJson: Uint8Array; weights: Uint8Array }): Promise<tf.LayersModel> {
  const json = JSON.parse(new TextDecoder().decode(files.modelJson)) as {
    modelTopology: object;
    weightsManifest: Array<{ weights: tf.io.WeightsManifestEntry[] }>;
  };
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const buffer = files.weights.buffer.slice(files.weights.byteOffset, files.weights.byteOffset + files.weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: buffer }));
}

/** Write files into dir atomically and a SHA256SUMS listing. */
export function writeModelDir(dir: string, files: SavedFile[]): void {
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileAtomic(join(dir, f.name), f.bytes);
  writeFileAtomic(join(dir, 'SHA256SUMS'), files.map((f) => `${f.sha256}  ${f.name}\n`).join(''));
}

/** Read model.json + weights.bin from dir, verifying SHA256SUMS when present. */
export async function loadModelDir(dir: string): Promise<tf.LayersModel> {
  return loadLayersModelFromFiles(readModelDir(dir));
}

/** model.json + weights.bin of a model directory, verified against its SHA256SUMS when present */
export function readModelDir(dir: string): { modelJson: Uint8Array; weights: Uint8Array } {
  const modelJson = readFileSync(join(dir, 'model.json'));
  const weights = readFileSync(join(dir, 'weights.bin'));
  let sums: string | null;
  try {
    sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8');
  } catch {
    sums = null;
  }
  if (sums) {
    for (const line of sums.trim().split('\n')) {
      const [hash, name] = line.split(/\s+/);
      const bytes = name === 'model.json' ? modelJson : name === 'weights.bin' ? weights : null;
      if (bytes && sha256Hex(bytes) !== hash) throw new Error(`${join(dir, name)} does not match its sha256`);
    }
  }
  return { modelJson, weights };
}
