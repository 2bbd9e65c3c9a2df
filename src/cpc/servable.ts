/**
 * A servable model: a run's encoder with one probe head, and how its inputs are rendered. One
 * loader from files (bytes, wherever they came from): the API's inference threads call it with
 * artifacts from the store, the CLI with a run directory's files.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadLayersModelFromFiles, readModelDir } from './export.js';
import { proceduralTexture } from './texture.js';
import type { ServableModel } from './inference.js';
import type { ImageStyle } from './images.js';
import { readManifest, runStyle } from './run-manifest.js';
import { NEIGHBOUR_INDEX_FILE, parseNeighbourIndex } from './neighbours.js';

/** everything a servable model is made of: the saved encoder and probe head, and how inputs are rendered */
export interface ServableFiles {
  encoderJson: Uint8Array;
  encoderWeights: Uint8Array;
  headJson: Uint8Array;
  headWeights: Uint8Array;
  style: ImageStyle;
  textureSeed: number;
  /** the probe's classes, in label order (absent for heads probed before data sets had names: then the labels) */
  classNames?: string[];
  /** the size of the probed data set's images, when not 28x28 */
  sourceImage?: { width: number; height: number };
  /** the probe's index of training images (probe/neighbours.bin), when it made one */
  neighbours?: Uint8Array;
}

export async function assembleServable(files: ServableFiles): Promise<ServableModel> {
  const encoder = await loadLayersModelFromFiles({ modelJson: files.encoderJson, weights: files.encoderWeights });
  const head = await loadLayersModelFromFiles({ modelJson: files.headJson, weights: files.headWeights }).catch((err: unknown) => {
    encoder.dispose();
    throw err;
  });
  const outputs = head.outputs[0].shape[1] ?? 0;
  const classNames = files.classNames ?? Array.from({ length: outputs }, (_, i) => String(i));
  if (classNames.length !== outputs) {
    encoder.dispose();
    head.dispose();
    throw new Error(`the probe head has ${outputs} outputs but ${classNames.length} class names`);
  }
  return {
    encoder,
    head,
    style: files.style,
    texture: proceduralTexture(files.textureSeed),
    classNames,
    ...(files.sourceImage ? { sourceImage: files.sourceImage } : {}),
    ...(files.neighbours ? { neighbours: parseNeighbourIndex(files.neighbours) } : {}),
  };
}

/** a run directory's encoder and one probe head, checksums verified */
export function servableFilesOfRun(runDir: string, head: 'linear' | 'mlp' = 'mlp'): ServableFiles {
  const manifest = readManifest(runDir);
  const headDir = join(runDir, 'probe', head);
  if (!existsSync(join(headDir, 'model.json')))
    throw new Error(`${runDir} has no ${head} probe head: run "cpc probe --run ${runDir}" first`);
  const encoder = readModelDir(join(runDir, 'encoder'));
  const probe = readModelDir(headDir);
  const report = join(runDir, 'probe', 'report.json');
  const neighbours = join(runDir, NEIGHBOUR_INDEX_FILE);
  return {
    encoderJson: encoder.modelJson,
    encoderWeights: encoder.weights,
    headJson: probe.modelJson,
    headWeights: probe.weights,
    style: runStyle(manifest),
    textureSeed: manifest.config.textureSeed,
    ...probeFacts(existsSync(report) ? readFileSync(report) : null),
    ...(existsSync(neighbours) ? { neighbours: readFileSync(neighbours) } : {}),
  };
}

/** what a probe report (probe/report.json) says of its data set: class names and image size, where it records them */
export function probeFacts(report: Uint8Array | null): Pick<ServableFiles, 'classNames' | 'sourceImage'> {
  if (!report) return {};
  const parsed = JSON.parse(new TextDecoder().decode(report)) as {
    classNames?: unknown;
    sourceImage?: { width?: unknown; height?: unknown };
  };
  const size = parsed.sourceImage;
  return {
    ...(Array.isArray(parsed.classNames) ? { classNames: parsed.classNames.map(String) } : {}),
    ...(size && Number.isInteger(size.width) && Number.isInteger(size.height)
      ? { sourceImage: { width: size.width as number, height: size.height as number } }
      : {}),
  };
}
