/**
 * The one place the engine imports TensorFlow.js from. The union package's
 * Node bundle registers every gradient and the `cpu` backend; the wasm and
 * native backends are added by ./backend.ts.
 */
export * from '@tensorflow/tfjs';
