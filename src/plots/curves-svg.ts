/**
 * A job's training curves as one SVG, drawn from its stored metric rows
 * (GET /v1/jobs/:id/plots/curves.svg): loss (train, validation), contrastive
 * accuracy (train, validation, and the chance level dashed) and the learning
 * rate, each panel over steps. Pure: rows in, text out.
 */

export interface CurvePoint {
  step: number;
  split: string;
  name: string;
  value: number;
}

interface Line {
  label: string;
  color: string;
  dash?: string;
  points: Array<[number, number]>;
}

const WIDTH = 640;
const PANEL = 220;
const MARGIN = { left: 64, right: 150, top: 28, bottom: 34 };

const escape = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** a tick label with enough digits to tell the ends of `span` apart */
function tick(x: number, span = Math.abs(x)): string {
  if (Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0)) return x.toExponential(1);
  const digits = Math.min(8, Math.max(3, Math.ceil(Math.log10(Math.abs(x) / (span || 1))) + 2));
  return Number(x.toPrecision(digits)).toString();
}

function series(rows: readonly CurvePoint[], split: string, name: string, label: string, color: string, dash?: string): Line {
  const points = rows
    .filter((r) => r.split === split && r.name === name && Number.isFinite(r.value))
    .map((r) => [r.step, r.value] as [number, number])
    .sort((a, b) => a[0] - b[0]);
  return { label, color, dash, points };
}

function panel(title: string, lines: Line[], top: number): string {
  const drawn = lines.filter((l) => l.points.length);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL - MARGIN.top - MARGIN.bottom;
  const head = `<text x="${MARGIN.left}" y="${top + 18}" font-size="14" font-weight="bold">${escape(title)}</text>`;
  if (!drawn.length) return `${head}<text x="${MARGIN.left}" y="${top + PANEL / 2}" font-size="12" fill="#888">no points yet</text>`;
  const xs = drawn.flatMap((l) => l.points.map((p) => p[0]));
  const ys = drawn.flatMap((l) => l.points.map((p) => p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 0.5 * (Math.abs(y0) || 1), y1 + 0.5 * (Math.abs(y1) || 1)];
  const px = (x: number) => MARGIN.left + (x1 === x0 ? plotW / 2 : ((x - x0) / (x1 - x0)) * plotW);
  const py = (y: number) => top + MARGIN.top + plotH - ((y - y0) / (y1 - y0)) * plotH;
  const axes = [
    `<rect x="${MARGIN.left}" y="${top + MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#ccc"/>`,
    ...[0, 0.5, 1].map((f) => {
      const y = y0 + f * (y1 - y0);
      return `<text x="${MARGIN.left - 6}" y="${py(y) + 4}" font-size="11" text-anchor="end">${tick(y, y1 - y0)}</text>`;
    }),
    ...[0, 0.5, 1].map((f) => {
      const x = x0 + f * (x1 - x0);
      return `<text x="${px(x)}" y="${top + PANEL - 14}" font-size="11" text-anchor="middle">${tick(Math.round(x))}</text>`;
    }),
    `<text x="${MARGIN.left + plotW / 2}" y="${top + PANEL - 1}" font-size="11" text-anchor="middle">step</text>`,
  ];
  const paths = drawn.map(
    (l) =>
      `<polyline fill="none" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''} points="${l.points
        .map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`)
        .join(' ')}"><title>${escape(l.label)}</title></polyline>`,
  );
  // (a point alone draws no line: every point of a short series gets a dot)
  const dots = drawn
    .filter((l) => l.points.length <= 50)
    .flatMap((l) => l.points.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${l.color}"/>`));
  const legend = drawn.map((l, i) => {
    const y = top + MARGIN.top + 12 + i * 18;
    const x = WIDTH - MARGIN.right + 12;
    return `<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''}/><text x="${x + 28}" y="${y}" font-size="12">${escape(l.label)}</text>`;
  });
  return [head, ...axes, ...paths, ...dots, ...legend].join('');
}

export function curvesSvg(title: string, rows: readonly CurvePoint[]): string {
  const panels = [
    panel('loss', [series(rows, 'train', 'loss', 'train', '#1f77b4'), series(rows, 'valid', 'loss', 'validation', '#ff7f0e')], 0),
    panel(
      'contrastive accuracy',
      [
        series(rows, 'train', 'accuracy', 'train', '#1f77b4'),
        series(rows, 'valid', 'accuracy', 'validation', '#ff7f0e'),
        series(rows, 'train', 'chance', 'chance', '#888888', '6 4'),
      ],
      PANEL,
    ),
    panel('learning rate', [series(rows, 'train', 'learning_rate', 'learning rate', '#2ca02c')], 2 * PANEL),
  ];
  const height = 3 * PANEL + 24;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="#fff"/><g transform="translate(0,24)">${panels.join('')}</g>` +
    `<text x="${WIDTH / 2}" y="16" font-size="13" text-anchor="middle">${escape(title)}</text></svg>`
  );
}
