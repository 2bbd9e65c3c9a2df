/**
 * TensorFlow ops that TensorFlow.js has no kernel for, run directly on the
 * tfjs-node backend (`tensorflow`): fused batch norm in training mode with
 * its gradient, and LeakyReLU's gradient. Only valid while that backend is
 * active; the engine never imports tfjs-node itself (it is optional).
 */
import * as tf from '../tf.js';

interface OpAttr {
  name: string;
  type: number;
  value: number | boolean | string;
}

/** the part of tfjs-node's NodeJSKernelBackend used here */
interface NativeBackend {
  binding: { TF_ATTR_FLOAT: number; TF_ATTR_BOOL: number; TF_ATTR_STRING: number; TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
}

function nativeBackend(): NativeBackend {
  const backend = tf.backend() as unknown as Partial<NativeBackend>;
  if (tf.getBackend() !== 'tensorflow' || typeof backend.executeMultipleOutputs !== 'function' || !backend.binding) {
    throw new Error(`TensorFlow ops need the tensorflow backend (active: ${tf.getBackend()})`);
  }
  return backend as NativeBackend;
}

function run(name: string, attrs: (b: NativeBackend['binding']) => OpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[] {
  const backend = nativeBackend();
  return backend.executeMultipleOutputs(name, attrs(backend.binding), inputs, numOutputs);
}

const float32 = (b: NativeBackend['binding'], name: string): OpAttr => ({ name, type: b.TF_ATTR_TYPE, value: b.TF_FLOAT });

function batchNormAttrs(b: NativeBackend['binding'], epsilon: number): OpAttr[] {
  return [
    float32(b, 'T'),
    float32(b, 'U'),
    { name: 'epsilon', type: b.TF_ATTR_FLOAT, value: epsilon },
    { name: 'data_format', type: b.TF_ATTR_STRING, value: 'NHWC' },
    { name: 'is_training', type: b.TF_ATTR_BOOL, value: true },
  ];
}

export interface FusedBatchNormOutputs {
  /** normalised, scaled and shifted x, [N, H, W, C] */
  y: tf.Tensor4D;
  /** batch mean and biased (population) variance per channel */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
  /** what the gradient needs (TensorFlow's reserve spaces) */
  reserve: tf.Tensor[];
}

/** FusedBatchNormV3 in training mode: batch statistics of an NHWC tensor. */
export function fusedBatchNormTrain(x: tf.Tensor4D, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number): FusedBatchNormOutputs {
  const empty = tf.tensor1d([]);
  const [y, mean, unbiased, r1, r2, r3] = run(
    'FusedBatchNormV3',
    (b) => [...batchNormAttrs(b, epsilon), { name: 'exponential_avg_factor', type: b.TF_ATTR_FLOAT, value: 1 }],
    [x, scale, offset, empty, empty],
    6,
  );
  empty.dispose();
  // TensorFlow reports the Bessel-corrected variance; the moving averages here use the biased one
  const m = x.size / x.shape[3];
  const variance = tf.mul(unbiased, m > 1 ? (m - 1) / m : 1) as tf.Tensor1D;
  unbiased.dispose();
  return { y: y as tf.Tensor4D, mean: mean as tf.Tensor1D, variance, reserve: [r1, r2, r3] };
}

/** FusedBatchNormGradV3: [dx, dscale, doffset] from the forward pass's reserve spaces. */
export function fusedBatchNormGrad(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  reserve: tf.Tensor[],
  epsilon: number,
): [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D] {
  const [dx, dScale, dOffset, r4, r5] = run('FusedBatchNormGradV3', (b) => batchNormAttrs(b, epsilon), [dy, x, scale, ...reserve], 5);
  r4.dispose();
  r5.dispose();
  return [dx as tf.Tensor4D, dScale as tf.Tensor1D, dOffset as tf.Tensor1D];
}

/** LeakyReluGrad: dy where the pre-activation is positive, alpha * dy elsewhere. */
export function leakyReluGrad(dy: tf.Tensor, preActivation: tf.Tensor, alpha: number): tf.Tensor {
  return run('LeakyReluGrad', (b) => [float32(b, 'T'), { name: 'alpha', type: b.TF_ATTR_FLOAT, value: alpha }], [dy, preActivation], 1)[0];
}
