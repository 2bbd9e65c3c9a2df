/**
 * Strided "valid" 2-D convolution whose gradients are re-expressed as
 * stride-1 forward convolutions and plain matrix products, via a
 * space-to-depth rewrite. Why: the wasm backend has no Conv2DBackpropFilter
 * kernel and its Conv2DBackpropInput is ~10x slower than a forward
 * convolution, while forward conv and (non-transposed) matMul are fast.
 *
 * With stride s and kernel k, let K = ceil(k / s). Space-to-depth of the
 * (zero-padded) input, S[n, p, q, (a, b, c)] = x[n, s*p + a, s*q + b, c],
 * turns the strided conv into a stride-1 K x K conv of S with the filter
 * G[u, v, (a, b, c), f] = w[s*u + a, s*v + b, c, f] (zero where s*u + a >= k).
 *  - input gradient: dS = conv(pad(dy, K - 1), flip(G)^T), then depth-to-space;
 *  - filter gradient: dG[u, v] = S^T . shift_{u,v}(dy), all K*K shifts in one matMul.
 */
import * as tf from '../tf.js';

export interface ConvGeometry {
  stride: number;
  kernel: number;
  /** ceil(kernel / stride) */
  taps: number;
  outH: number;
  outW: number;
  /** side of the space-to-depth grid: out + taps - 1 */
  gridH: number;
  gridW: number;
}

export function convGeometry(inH: number, inW: number, kernel: number, stride: number): ConvGeometry {
  if (inH < kernel || inW < kernel) throw new Error(`input ${inH}x${inW} is smaller than the ${kernel}x${kernel} kernel`);
  const taps = Math.ceil(kernel / stride);
  const outH = Math.floor((inH - kernel) / stride) + 1;
  const outW = Math.floor((inW - kernel) / stride) + 1;
  return { stride, kernel, taps, outH, outW, gridH: outH + taps - 1, gridW: outW + taps - 1 };
}

/**
 * Top-left crop of an NHWC tensor by a depthwise convolution with a one-hot
 * kernel: on wasm this is ~6x faster than slice (XNNPACK vs a generic copy loop).
 */
function cropTopLeft(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [n, H, W, c] = x.shape;
  const kh = H - h + 1;
  const kw = W - w + 1;
  if (kh > 4 || kw > 4) return tf.slice(x, [0, 0, 0, 0], [n, h, w, c]);
  const oneHot = tf.concat([tf.ones([1, c, 1]), tf.zeros([kh * kw - 1, c, 1])], 0);
  return tf.depthwiseConv2d(x, tf.reshape(oneHot, [kh, kw, c, 1]) as tf.Tensor4D, 1, 'valid') as tf.Tensor4D;
}

/** Pad (with zeros) or crop the spatial dims of an NHWC tensor to h x w, anchored top-left. */
function fitSpatial(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [, H, W] = x.shape;
  let y = x;
  if (H > h || W > w) y = cropTopLeft(y, Math.min(H, h), Math.min(W, w));
  if (H < h || W < w)
    y = tf.pad(y, [
      [0, 0],
      [0, Math.max(0, h - H)],
      [0, Math.max(0, w - W)],
      [0, 0],
    ]);
  return y;
}

/** [N, Hs*s, Ws*s, C] -> [N, Hs, Ws, s*s*C], channel index (a*s + b)*C + c. */
export function spaceToDepth(x: tf.Tensor4D, s: number): tf.Tensor4D {
  if (s === 1) return x;
  const [n, H, W, c] = x.shape;
  const hs = H / s;
  const ws = W / s;
  const rows = tf.reshape(x, [n * hs, s, ws, s * c]);
  return tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [n, hs, ws, s * s * c]);
}

/** Inverse of spaceToDepth. */
export function depthToSpace(x: tf.Tensor4D, s: number): tf.Tensor4D {
  if (s === 1) return x;
  const [n, hs, ws, ch] = x.shape;
  const c = ch / (s * s);
  const rows = tf.reshape(x, [n * hs, ws, s, s * c]);
  return tf.reshape(tf.transpose(rows, [0, 2, 1, 3]), [n, hs * s, ws * s, c]);
}

/** w [k, k, C, F] -> G [K, K, s*s*C, F]. */
export function filterToGrid(w: tf.Tensor4D, g: ConvGeometry): tf.Tensor4D {
  const { stride: s, kernel: k, taps: K } = g;
  const [, , c, f] = w.shape;
  const padded = tf.pad(w, [
    [0, s * K - k],
    [0, s * K - k],
    [0, 0],
    [0, 0],
  ]);
  const split = tf.reshape(padded, [K, s, K, s, c, f]);
  return tf.reshape(tf.transpose(split, [0, 2, 1, 3, 4, 5]), [K, K, s * s * c, f]);
}

/** dG laid out [(u, v), f, (a, b, c)] as [K*K*F, s*s*C] -> dW [k, k, C, F]. */
function gridGradToFilter(dGt: tf.Tensor2D, g: ConvGeometry, c: number, f: number): tf.Tensor4D {
  const { stride: s, kernel: k, taps: K } = g;
  const split = tf.reshape(dGt, [K, K, f, s, s, c]);
  const ordered = tf.transpose(split, [0, 3, 1, 4, 5, 2]); // [u, a, v, b, c, f]
  const full = tf.reshape(ordered, [s * K, s * K, c, f]) as tf.Tensor4D;
  return tf.slice(full, [0, 0, 0, 0], [k, k, c, f]);
}

export function conv2dInputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, inShape: [number, number, number, number], g: ConvGeometry): tf.Tensor4D {
  const K = g.taps;
  const grid = filterToGrid(w, g); // [K, K, s*s*C, F]
  const flipped = tf.transpose(tf.reverse(grid, [0, 1]), [0, 1, 3, 2]); // [K, K, F, s*s*C]
  const padded =
    K > 1
      ? tf.pad(dy, [
          [0, 0],
          [K - 1, K - 1],
          [K - 1, K - 1],
          [0, 0],
        ])
      : dy;
  const dS = tf.conv2d(padded, flipped as tf.Tensor4D, 1, 'valid');
  return fitSpatial(depthToSpace(dS, g.stride), inShape[1], inShape[2]);
}

export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, kernel: number, g: ConvGeometry): tf.Tensor4D {
  const { stride: s, taps: K, gridH, gridW, outH, outW } = g;
  const [n, , , c] = x.shape;
  const f = dy.shape[3];
  const S = spaceToDepth(fitSpatial(x, s * gridH, s * gridW), s);
  // [F, N, OH, OW]; a 2-D transpose is ~3x faster than the 4-D permutation on wasm
  const dyT = tf.reshape(tf.transpose(tf.reshape(dy, [n * outH * outW, f])), [f, n, outH, outW]);
  // one [F, M] x [M, s*s*C] product per shift, stacked: no [K*K*F, M] temporary
  const sFlat = tf.reshape(S, [n * gridH * gridW, s * s * c]);
  const perShift: tf.Tensor[] = [];
  for (let u = 0; u < K; u++) {
    for (let v = 0; v < K; v++) {
      const shifted =
        K > 1
          ? tf.pad(dyT, [
              [0, 0],
              [0, 0],
              [u, gridH - outH - u],
              [v, gridW - outW - v],
            ])
          : dyT;
      perShift.push(tf.matMul(tf.reshape(shifted, [f, n * gridH * gridW]), sFlat));
    }
  }
  const dGt = (perShift.length > 1 ? tf.concat(perShift, 0) : perShift[0]) as tf.Tensor2D;
  return gridGradToFilter(dGt, { ...g, kernel }, c, f);
}

/**
 * y = conv2d(x, w, stride, 'valid') with the gradients above. `inputGradient: false`
 * skips dx (returns zeros) for a first layer whose input is data.
 */
export function conv2dValid(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, inputGradient = true): tf.Tensor4D {
  const kernel = w.shape[0];
  if (w.shape[1] !== kernel) throw new Error('conv2dValid needs a square kernel');
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xi, wi, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([xi, wi]);
    const value = tf.conv2d(xi, wi, stride, 'valid');
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const g = convGeometry(xs.shape[1], xs.shape[2], kernel, stride);
        const dy4 = dy as tf.Tensor4D;
        const dx = inputGradient ? conv2dInputGrad(dy4, ws, xs.shape, g) : tf.zerosLike(xs);
        return [dx, conv2dFilterGrad(xs, dy4, kernel, g)];
      },
    };
  });
  return op(x, w) as tf.Tensor4D;
}
