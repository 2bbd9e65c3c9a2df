/**
 * The CPC network as plain variables and functions (fast custom gradients,
 * see ./ops): encoder (conv stack -> dense -> code), GRU context over the
 * encoded context terms, one linear predictor per future step.
 * Variable names follow the Keras layer/weight naming so the encoder can be
 * exported as a standard TensorFlow.js layers model (./export.ts).
 */
import * as tf from './tf.js';
import type { ModelConfig } from './config.js';
import { Rng } from './rng.js';
import { glorotUniform as glorot, orthogonal } from './init.js';
import { convGeometry } from './ops/conv.js';
import { kernels } from './ops/kernels.js';
import { batchNormLeakyTrain, batchNormLeakyInfer, type BatchStats } from './ops/batchnorm.js';
import { SOLO, type Collective } from './parallel/collective.js';

export type Params = Map<string, tf.Variable>;

export interface NetworkShape {
  model: ModelConfig;
  imageSize: number;
  predictTerms: number;
}

export function convOutputSide(imageSize: number, layers: number): number {
  let side = imageSize;
  for (let i = 0; i < layers; i++) side = convGeometry(side, side, 3, 2).outH;
  return side;
}

/**
 * Rows of every worker's [n, d] matrix stacked in rank order; the gradient
 * of each worker's own block flows back to it (the other blocks are
 * differentiated by their owners).
 */
function gatherRows(local: tf.Tensor2D, collective: Collective): tf.Tensor2D {
  if (collective.size === 1) return local;
  const [n, d] = local.shape;
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor2D;
    const value = tf.tensor2d(collective.allGather(x.dataSync() as Float32Array), [n * collective.size, d]);
    return { value, gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [tf.slice(dy as tf.Tensor2D, [collective.rank * n, 0], [n, d])] };
  });
  return op(local) as tf.Tensor2D;
}

/** How a pass through the network runs. */
export interface Pass {
  /** batch statistics (training) or the moving averages (inference) in batch norm */
  training: boolean;
  /** training: where each BN layer leaves its batch statistics, for the moving averages */
  batchStats?: Map<string, BatchStats>;
  /** the data-parallel peers of this replica (default: none): BN statistics and codes span all of them */
  collective?: Collective;
}

export class CpcNetwork {
  readonly params: Params = new Map();
  /** BN moving statistics (not trained by gradient) */
  readonly movingStats: Params = new Map();

  constructor(
    readonly shape: NetworkShape,
    seed: number,
  ) {
    const rng = new Rng(seed);
    const { model, imageSize, predictTerms } = shape;
    const add = (name: string, value: tf.Tensor, trainable = true) => {
      // unnamed variables: tfjs variable names are process-global, and several networks may coexist
      (trainable ? this.params : this.movingStats).set(name, tf.variable(value, trainable));
      value.dispose();
    };
    const addBn = (prefix: string, channels: number) => {
      add(`${prefix}/gamma`, tf.ones([channels]));
      add(`${prefix}/beta`, tf.zeros([channels]));
      add(`${prefix}/moving_mean`, tf.zeros([channels]), false);
      add(`${prefix}/moving_variance`, tf.ones([channels]), false);
    };
    let channels = 3;
    for (let i = 1; i <= model.convLayers; i++) {
      add(`encoder/conv${i}/kernel`, glorot([3, 3, channels, model.filters], 9 * channels, 9 * model.filters, rng.deriveSeed()));
      addBn(`encoder/bn${i}`, model.filters);
      channels = model.filters;
    }
    const side = convOutputSide(imageSize, model.convLayers);
    const flat = side * side * model.filters;
    // no bias before batch norm (as the conv layers): BN's shift makes it redundant
    add('encoder/dense1/kernel', glorot([flat, model.hidden], flat, model.hidden, rng.deriveSeed()));
    addBn('encoder/bn_dense1', model.hidden);
    add('encoder/code/kernel', glorot([model.hidden, model.codeSize], model.hidden, model.codeSize, rng.deriveSeed()));
    add('encoder/code/bias', tf.zeros([model.codeSize]));
    const units = model.contextSize;
    add('context/gru/kernel', glorot([model.codeSize, 3 * units], model.codeSize, 3 * units, rng.deriveSeed()));
    add('context/gru/recurrent_kernel', orthogonal(units, 3 * units, rng.deriveSeed()));
    add('context/gru/bias', tf.zeros([3 * units]));
    for (let k = 1; k <= predictTerms; k++) {
      add(`predict/step${k}/kernel`, glorot([units, model.codeSize], units, model.codeSize, rng.deriveSeed()));
      add(`predict/step${k}/bias`, tf.zeros([model.codeSize]));
    }
  }

  p(name: string): tf.Variable {
    const v = this.params.get(name) ?? this.movingStats.get(name);
    if (!v) throw new Error(`no parameter ${name}`);
    return v;
  }

  encoderParamNames(): string[] {
    return [...this.params.keys()].filter((n) => n.startsWith('encoder/'));
  }

  allVariables(): Params {
    return new Map([...this.params, ...this.movingStats]);
  }

  /**
   * images [N, H, W, 3] -> codes [N, code]. In training mode uses batch
   * statistics and pushes them to `batchStats` for the moving averages.
   */
  encode(images: tf.Tensor4D, pass: Pass): tf.Tensor2D {
    const { training, batchStats, collective = SOLO } = pass;
    const { model } = this.shape;
    const bn = (prefix: string, x: tf.Tensor2D, alpha: number | null, rowsPerImage = 1): tf.Tensor2D => {
      const gamma = this.p(`${prefix}/gamma`) as tf.Tensor1D;
      const beta = this.p(`${prefix}/beta`) as tf.Tensor1D;
      if (!training) {
        return batchNormLeakyInfer(
          x,
          gamma,
          beta,
          this.p(`${prefix}/moving_mean`) as tf.Tensor1D,
          this.p(`${prefix}/moving_variance`) as tf.Tensor1D,
          model.bnEpsilon,
          alpha,
        );
      }
      const { output, stats } = batchNormLeakyTrain(x, gamma, beta, { epsilon: model.bnEpsilon, alpha, rowsPerImage, collective });
      batchStats?.set(prefix, stats);
      return output;
    };
    let x: tf.Tensor4D = images;
    const { conv2dValid } = kernels();
    for (let i = 1; i <= model.convLayers; i++) {
      const y = conv2dValid(x, this.p(`encoder/conv${i}/kernel`) as tf.Tensor4D, 2, i > 1);
      const [n, h, w, c] = y.shape;
      x = tf.reshape(bn(`encoder/bn${i}`, tf.reshape(y, [n * h * w, c]), model.leakyAlpha, h * w), [n, h, w, c]);
    }
    const flat = tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
    const hidden = tf.matMul(flat, this.p('encoder/dense1/kernel')) as tf.Tensor2D;
    const act = bn('encoder/bn_dense1', hidden, model.leakyAlpha);
    return tf.add(tf.matMul(act, this.p('encoder/code/kernel')), this.p('encoder/code/bias')) as tf.Tensor2D;
  }

  /** Keras-style GRU (reset_after = false, sigmoid gates) over [B, T, code]; returns the last state [B, units]. */
  context(codes: tf.Tensor3D): tf.Tensor2D {
    const units = this.shape.model.contextSize;
    const [b, t, d] = codes.shape;
    const kernel = this.p('context/gru/kernel');
    const recurrent = this.p('context/gru/recurrent_kernel');
    const recurrentZR = tf.slice(recurrent, [0, 0], [units, 2 * units]);
    const recurrentH = tf.slice(recurrent, [0, 2 * units], [units, units]);
    const inputs = tf.reshape(tf.add(tf.matMul(tf.reshape(codes, [b * t, d]), kernel), this.p('context/gru/bias')), [b, t, 3 * units]);
    let h = tf.zeros([b, units]) as tf.Tensor2D;
    for (let step = 0; step < t; step++) {
      const xt = tf.reshape(tf.slice(inputs, [0, step, 0], [b, 1, 3 * units]), [b, 3 * units]);
      const [xz, xr, xh] = tf.split(xt, 3, 1);
      const [hz, hr] = tf.split(tf.matMul(h, recurrentZR), 2, 1);
      const z = tf.sigmoid(tf.add(xz, hz));
      const r = tf.sigmoid(tf.add(xr, hr));
      const candidate = tf.tanh(tf.add(xh, tf.matMul(tf.mul(r, h), recurrentH)));
      h = tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), candidate)) as tf.Tensor2D;
    }
    return h;
  }

  /** context [B, units] -> predictions [B, P, code] */
  predict(context: tf.Tensor2D): tf.Tensor3D {
    const steps: tf.Tensor2D[] = [];
    for (let k = 1; k <= this.shape.predictTerms; k++) {
      steps.push(tf.add(tf.matMul(context, this.p(`predict/step${k}/kernel`)), this.p(`predict/step${k}/bias`)) as tf.Tensor2D);
    }
    return tf.stack(steps, 1) as tf.Tensor3D;
  }

  /**
   * Full forward pass. `context` [b, T, H, W, 3] and `future` [b, P, H, W, 3]
   * are this worker's shard of the batch (all of it for one worker); the
   * codes of all shards are gathered, so predictions and future codes cover
   * the whole batch [B, P, code] in every worker.
   */
  forward(context: tf.Tensor5D, future: tf.Tensor5D, pass: Pass): { predictions: tf.Tensor3D; futureCodes: tf.Tensor3D } {
    const collective = pass.collective ?? SOLO;
    const [b, t, h, w, c] = context.shape;
    const p = future.shape[1];
    const all = tf.concat([tf.reshape(context, [b * t, h, w, c]), tf.reshape(future, [b * p, h, w, c])], 0) as tf.Tensor4D;
    const local = this.encode(all, pass);
    const d = local.shape[1];
    const codes = gatherRows(local, collective);
    const perWorker = b * (t + p);
    const contextParts: tf.Tensor[] = [];
    const futureParts: tf.Tensor[] = [];
    for (let r = 0; r < collective.size; r++) {
      contextParts.push(tf.reshape(tf.slice(codes, [r * perWorker, 0], [b * t, d]), [b, t, d]));
      futureParts.push(tf.reshape(tf.slice(codes, [r * perWorker + b * t, 0], [b * p, d]), [b, p, d]));
    }
    const contextCodes = (collective.size === 1 ? contextParts[0] : tf.concat(contextParts, 0)) as tf.Tensor3D;
    const futureCodes = (collective.size === 1 ? futureParts[0] : tf.concat(futureParts, 0)) as tf.Tensor3D;
    return { predictions: this.predict(this.context(contextCodes)), futureCodes };
  }

  /** moving = momentum * moving + (1 - momentum) * batch, for every BN layer seen in the last forward pass. */
  updateMovingStats(batchStats: Map<string, BatchStats>): void {
    const momentum = this.shape.model.bnMomentum;
    tf.tidy(() => {
      for (const [prefix, stats] of batchStats) {
        for (const [name, value] of [
          ['moving_mean', stats.mean],
          ['moving_variance', stats.variance],
        ] as const) {
          const v = this.p(`${prefix}/${name}`);
          v.assign(tf.add(tf.mul(v, momentum), tf.mul(value, 1 - momentum)));
        }
      }
    });
  }

  dispose(): void {
    for (const v of this.allVariables().values()) v.dispose();
  }
}
