import { it, expect, beforeAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../src/cpc/tf.js';
import { initBackend } from '../src/cpc/backend.js';
import { CpcNetwork } from '../src/cpc/model.js';
import { encoderAsLayersModel, serializeLayersModel, writeModelDir, loadModelDir } from '../src/cpc/export.js';
import { buildHead, DEFAULT_PROBE } from '../src/cpc/probe.js';
import { predictImages, type ServableModel } from '../src/cpc/inference.js';
import { decodePng, encodePng, pngSize } from '../src/cpc/png.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { digitPixels } from '../src/cpc/images.js';
import { tinyConfig, tempDir, TEST_BACKEND, BACKEND_SKIP_REASON, describeOnBackend } from './helpers.js';

beforeAll(async () => {
  if (!BACKEND_SKIP_REASON) await initBackend(TEST_BACKEND);
});

function greyRows(pixels: Uint8Array): number[][] {
  return Array.from({ length: 28 }, (_, y) => Array.from(pixels.subarray(y * 28, y * 28 + 28)));
}

describeOnBackend('model export and inference', () => {
  it('saves the encoder as a layers model; load gives the same embeddings as the network', async () => {
    const config = tinyConfig({ imageSize: 64, model: { convLayers: 4 } });
    const network = new CpcNetwork({ model: config.model, imageSize: 64, predictTerms: 4 }, 5);
    // non-trivial BN statistics
    for (const v of network.movingStats.values()) v.assign(tf.randomUniform(v.shape, 0.5, 1.5, 'float32', 1));
    const dir = tempDir();
    const files = await serializeLayersModel(encoderAsLayersModel(network));
    writeModelDir(join(dir, 'encoder'), files);
    const loaded = await loadModelDir(join(dir, 'encoder'));
    const x = tf.randomUniform([3, 64, 64, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const fromNetwork = network.encode(x, { training: false });
    const fromLoaded = loaded.predict(x) as tf.Tensor;
    expect(tf.max(tf.abs(tf.sub(fromNetwork, fromLoaded))).dataSync()[0]).toBeLessThan(1e-4);
    // a corrupted weights file is detected by its checksum
    const weightsPath = join(dir, 'encoder', 'weights.bin');
    const bytes = readFileSync(weightsPath);
    bytes[10] ^= 0xff;
    writeFileSync(weightsPath, bytes);
    await expect(loadModelDir(join(dir, 'encoder'))).rejects.toThrow(/sha256/);
    network.dispose();
  });

  it('predicts from grey arrays, RGB arrays and PNG bytes, with a flat tensor count', async () => {
    const config = tinyConfig({ imageSize: 64, model: { convLayers: 4 } });
    const network = new CpcNetwork({ model: config.model, imageSize: 64, predictTerms: 4 }, 6);
    const model: ServableModel = {
      encoder: encoderAsLayersModel(network),
      head: buildHead('mlp', config.model.codeSize, 10, DEFAULT_PROBE, 1),
      style: { imageSize: 64, color: 'color' },
      texture: proceduralTexture(1234),
      classNames: Array.from({ length: 10 }, (_, i) => `digit ${i}`),
    };
    const digit = digitPixels(loadDataset().splits.test, 0);
    const grey = greyRows(digit);
    const greyPng = encodePng(28, 28, Uint8Array.from(Array.from(digit).flatMap((v) => [v, v, v])));
    const rgb = Array.from({ length: 64 }, () => Array.from({ length: 64 }, () => [10, 200, 30]));
    predictImages(model, [grey]);
    const before = tf.memory().numTensors;
    const out = predictImages(model, [grey, new Uint8Array(greyPng), rgb]);
    expect(tf.memory().numTensors).toBe(before);
    expect(out).toHaveLength(3);
    for (const p of out) {
      expect(p.probabilities).toHaveLength(10);
      expect(p.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(p.label).toBe(p.probabilities.indexOf(Math.max(...p.probabilities)));
      expect(p.className).toBe(`digit ${p.label}`);
      expect(p.embedding).toHaveLength(config.model.codeSize);
    }
    // the same image as array and as PNG gives the same prediction
    expect(out[1].probabilities[0]).toBeCloseTo(out[0].probabilities[0], 5);
    network.dispose();
  });

  it('rejects bad inputs with clear errors', () => {
    const model = { style: { imageSize: 64, color: 'grey' }, texture: proceduralTexture(1) } as unknown as ServableModel;
    expect(() => predictImages(model, [])).toThrow(/no images/);
    expect(() => predictImages(model, [[[1, 2]]])).toThrow(/28x28/);
    expect(() => predictImages(model, [Array.from({ length: 28 }, () => Array(28).fill(NaN))])).toThrow(/finite/);
    expect(() => predictImages(model, [new Uint8Array([1, 2, 3])])).toThrow(/not a PNG/);
    expect(() =>
      predictImages(
        model,
        Array.from({ length: 300 }, () => [[0]]),
      ),
    ).toThrow(/at most 256/);
  });

  it('checks the PNG header before decoding (no decompression bomb) and rejects truncated files', () => {
    const small = encodePng(2, 2, new Uint8Array(12).fill(9));
    expect(pngSize(small)).toEqual({ width: 2, height: 2 });
    const bomb = Buffer.from(small);
    bomb.writeUInt32BE(20000, 16);
    bomb.writeUInt32BE(20000, 20);
    expect(() => decodePng(bomb)).toThrow(/20000x20000/);
    expect(() => decodePng(small.subarray(0, small.length - 20))).toThrow(/corrupt or truncated/);
    expect(decodePng(small).rgb[0]).toBe(9);
  });
});
