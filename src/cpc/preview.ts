/** A data set at a glance: a grid of a few training images per class, one row per class in label order. */
import { encodePng } from './png.js';
import { IMAGE_PIXELS, IMAGE_SIDE, type ImageDataset } from './dataset.js';

export const PREVIEW_PER_CLASS = 8;
export const PREVIEW_MAX_CLASSES = 32;

/** PNG of up to `perClass` images of each of the first `maxClasses` classes (the first images of each in the training split) */
export function previewPng(dataset: ImageDataset, perClass = PREVIEW_PER_CLASS, maxClasses = PREVIEW_MAX_CLASSES): Buffer {
  const split = dataset.splits.train;
  const rows = Math.min(maxClasses, dataset.classNames.length);
  const gap = 2;
  const cell = IMAGE_SIDE + gap;
  const width = perClass * cell + gap;
  const height = rows * cell + gap;
  const rgb = new Uint8Array(width * height * 3).fill(64); // grey lines between the images
  for (let row = 0; row < rows; row++) {
    const indices = split.byLabel[row].subarray(0, perClass);
    indices.forEach((index, col) => {
      const pixels = split.images.subarray(index * IMAGE_PIXELS, (index + 1) * IMAGE_PIXELS);
      for (let y = 0; y < IMAGE_SIDE; y++) {
        for (let x = 0; x < IMAGE_SIDE; x++) {
          const o = ((gap + row * cell + y) * width + gap + col * cell + x) * 3;
          rgb.fill(pixels[y * IMAGE_SIDE + x], o, o + 3);
        }
      }
    });
  }
  return encodePng(width, height, rgb);
}
