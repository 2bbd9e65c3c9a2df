/**
 * Adam (Kingma & Ba) over named parameters, with its whole state (step
 * count and both moment estimates, keyed by parameter name) exportable and
 * restorable bit-exactly. TensorFlow.js's own Adam keeps running products
 * beta^t in float32 variables that setWeights() recomputes with pow(), so a
 * resumed run drifts in the last bits; here the bias corrections are computed
 * from the integer step count every time.
 */
import * as tf from './tf.js';

export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class Adam {
  learningRate: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  step = 0;
  private readonly first = new Map<string, tf.Variable>();
  private readonly second = new Map<string, tf.Variable>();

  constructor(options: AdamOptions) {
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-7;
  }

  private slot(map: Map<string, tf.Variable>, name: string, like: tf.Tensor): tf.Variable {
    let v = map.get(name);
    if (!v) map.set(name, (v = tf.variable(tf.zerosLike(like), false)));
    return v;
  }

  /** One update of every parameter that has a gradient. */
  apply(params: Map<string, tf.Variable>, grads: Map<string, tf.Tensor>): void {
    this.step += 1;
    const correction1 = 1 - Math.pow(this.beta1, this.step);
    const correction2 = 1 - Math.pow(this.beta2, this.step);
    const stepSize = this.learningRate / correction1;
    tf.tidy(() => {
      for (const [name, g] of grads) {
        const param = params.get(name);
        if (!param) throw new Error(`gradient for unknown parameter ${name}`);
        const m = this.slot(this.first, name, param);
        const v = this.slot(this.second, name, param);
        const mNew = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const vNew = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(mNew);
        v.assign(vNew);
        const denom = tf.add(tf.sqrt(tf.div(vNew, correction2)), this.epsilon);
        param.assign(tf.sub(param, tf.mul(tf.div(mNew, denom), stepSize)));
      }
    });
  }

  /** Named tensors of the state: "m/<param>", "v/<param>" (the step count is kept separately). */
  stateTensors(): tf.NamedTensorMap {
    const out: tf.NamedTensorMap = {};
    for (const [name, t] of this.first) out[`m/${name}`] = t;
    for (const [name, t] of this.second) out[`v/${name}`] = t;
    return out;
  }

  restore(step: number, tensors: tf.NamedTensorMap): void {
    this.step = step;
    for (const [key, t] of Object.entries(tensors)) {
      const [kind, ...rest] = key.split('/');
      const name = rest.join('/');
      const map = kind === 'm' ? this.first : kind === 'v' ? this.second : null;
      if (!map) throw new Error(`unknown optimizer state ${key}`);
      map.get(name)?.dispose();
      map.set(name, tf.variable(t, false));
    }
  }

  dispose(): void {
    for (const v of [...this.first.values(), ...this.second.values()]) v.dispose();
    this.first.clear();
    this.second.clear();
  }
}
