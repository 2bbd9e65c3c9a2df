/**
 * Draw a digit: a 280×280 canvas (white ink on black, as MNIST), reduced the
 * way MNIST was made (the ink's bounding box scaled into 20×20, centred in
 * 28×28), sent to the model's predict route; the answer as a bar per class,
 * and the training images nearest to the drawing in the encoder's embedding.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, send } from '../api';
import { ErrorLine, Link, useResource } from '../components';
import { percent } from '../format';
import type { Model, Page, Prediction } from '../types';

const SIDE = 280;
/** nearest training images shown */
const NEIGHBOURS = 8;

/** the canvas's ink as a 28×28 grey grid (0-255), or null when nothing is drawn */
function toGrid(canvas: HTMLCanvasElement): number[][] | null {
  const ctx = canvas.getContext('2d')!;
  const { data } = ctx.getImageData(0, 0, SIDE, SIDE);
  let [x0, y0, x1, y1] = [SIDE, SIDE, -1, -1];
  for (let y = 0; y < SIDE; y++)
    for (let x = 0; x < SIDE; x++)
      if (data[(y * SIDE + x) * 4] > 0) [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
  if (x1 < 0) return null;
  const w = x1 - x0 + 1;
  const h = y1 - y0 + 1;
  const scale = 20 / Math.max(w, h);
  const small = document.createElement('canvas');
  small.width = small.height = 28;
  const s = small.getContext('2d')!;
  s.fillStyle = 'black';
  s.fillRect(0, 0, 28, 28);
  s.imageSmoothingEnabled = true;
  s.imageSmoothingQuality = 'high';
  s.drawImage(canvas, x0, y0, w, h, 14 - (w * scale) / 2, 14 - (h * scale) / 2, w * scale, h * scale);
  const pixels = s.getImageData(0, 0, 28, 28).data;
  return Array.from({ length: 28 }, (_, y) => Array.from({ length: 28 }, (_, x) => pixels[(y * 28 + x) * 4]));
}

export function DrawPage({ name }: { name: string | null }) {
  const models = useResource<Page<Model>>('/v1/models?limit=200');
  const chosen = name ?? models.data?.items[0]?.name ?? null;
  const canvas = useRef<HTMLCanvasElement>(null);
  const [prediction, setPrediction] = useState<(Prediction & { version: number }) | null>(null);
  const [error, setError] = useState<unknown>(null);

  const clear = () => {
    const ctx = canvas.current!.getContext('2d')!;
    ctx.fillStyle = 'black';
    ctx.fillRect(0, 0, SIDE, SIDE);
    setPrediction(null);
  };
  useEffect(clear, []);

  useEffect(() => {
    const c = canvas.current!;
    const ctx = c.getContext('2d')!;
    let drawing = false;
    const at = (e: PointerEvent): [number, number] => {
      const r = c.getBoundingClientRect();
      return [((e.clientX - r.left) * SIDE) / r.width, ((e.clientY - r.top) * SIDE) / r.height];
    };
    const down = (e: PointerEvent) => {
      drawing = true;
      c.setPointerCapture(e.pointerId);
      ctx.beginPath();
      ctx.moveTo(...at(e));
    };
    const move = (e: PointerEvent) => {
      if (!drawing) return;
      ctx.strokeStyle = 'white';
      ctx.lineWidth = 22;
      ctx.lineCap = ctx.lineJoin = 'round';
      ctx.lineTo(...at(e));
      ctx.stroke();
    };
    const up = () => (drawing = false);
    c.addEventListener('pointerdown', down);
    c.addEventListener('pointermove', move);
    c.addEventListener('pointerup', up);
    return () => {
      c.removeEventListener('pointerdown', down);
      c.removeEventListener('pointermove', move);
      c.removeEventListener('pointerup', up);
    };
  }, []);

  async function predict() {
    setError(null);
    const grid = toGrid(canvas.current!);
    if (!grid) return setError(new Error('draw a digit first'));
    const ask = (neighbours: number) =>
      send<{ version: number; predictions: Prediction[] }>('POST', `/v1/models/${encodeURIComponent(chosen!)}/predict`, {
        instances: [grid],
        ...(neighbours ? { neighbours } : {}),
      });
    try {
      // (a model probed before there were neighbour indexes answers without them)
      const answer = await ask(NEIGHBOURS).catch((err: unknown) => {
        if (err instanceof ApiError && err.code === 'no_neighbour_index') return ask(0);
        throw err;
      });
      setPrediction({ ...answer.predictions[0], version: answer.version });
    } catch (err) {
      setError(err);
    }
  }

  return (
    <section>
      <h2>Draw a digit</h2>
      {models.data && models.data.items.length === 0 && (
        <p class="muted">
          No registered model yet: train and probe one (<Link to="/jobs">Jobs</Link>), then register it.
        </p>
      )}
      <p>
        model{' '}
        <select value={chosen ?? ''} onChange={(e) => (location.hash = `#/draw/${encodeURIComponent(e.currentTarget.value)}`)} name="model">
          {models.data?.items.map((m) => (
            <option value={m.name}>{m.name}</option>
          ))}
        </select>
      </p>
      <div class="draw">
        <canvas ref={canvas} width={SIDE} height={SIDE} class="pad" aria-label="drawing pad" />
        <div>
          <button onClick={() => void predict()} disabled={!chosen}>
            Predict
          </button>{' '}
          <button onClick={clear}>Clear</button>
          <ErrorLine error={error} />
          {prediction && (
            <div class="prediction" data-label={prediction.className}>
              <p class="answer">
                {prediction.className} <span class="muted">(version {prediction.version})</span>
              </p>
              {prediction.probabilities.map((p, i) => (
                <div class="bar">
                  <span class="bar-label">{models.data?.items.find((m) => m.name === chosen)?.classNames[i] ?? i}</span>
                  <span class="bar-fill" style={{ width: `${p * 200}px` }} />
                  <span class="muted">{percent(p)}</span>
                </div>
              ))}
              <h3>Nearest training images</h3>
              {prediction.neighbours ? (
                <div class="neighbours">
                  {prediction.neighbours.map((n) => (
                    <figure title={`similarity ${n.similarity.toFixed(3)}`}>
                      <img src={`data:image/png;base64,${n.png}`} width={56} height={56} alt={`a training image of ${n.className}`} />
                      <figcaption>
                        {n.className} <span class="muted">{n.similarity.toFixed(2)}</span>
                      </figcaption>
                    </figure>
                  ))}
                </div>
              ) : (
                <p class="muted">This model version has no index of training images (probed before there were indexes).</p>
              )}
            </div>
          )}
        </div>
      </div>
    </section>
  );
}
