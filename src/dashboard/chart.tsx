/**
 * A line chart of metric series over steps (uPlot: small, fast, canvas). Series
 * are aligned on the union of their steps; a gap is a null, spanned.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  points: Array<[number, number]>;
  color: string;
  dash?: number[];
}

export function align(series: Series[]): uPlot.AlignedData {
  const steps = [...new Set(series.flatMap((s) => s.points.map(([x]) => x)))].sort((a, b) => a - b);
  const index = new Map(steps.map((x, i) => [x, i]));
  const columns = series.map((s) => {
    const column: Array<number | null> = new Array<number | null>(steps.length).fill(null);
    for (const [x, y] of s.points) column[index.get(x)!] = y;
    return column;
  });
  return [steps, ...columns] as uPlot.AlignedData;
}

export function Chart({ title, series, yLabel, log = false }: { title: string; series: Series[]; yLabel: string; log?: boolean }) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('|');

  useEffect(() => {
    const width = Math.max(280, Math.min(640, host.current!.clientWidth || 480));
    plot.current = new uPlot(
      {
        title,
        width,
        height: 220,
        scales: { x: { time: false }, y: log ? { distr: 3 } : {} },
        axes: [{ label: 'step' }, { label: yLabel, size: 60 }],
        series: [{ label: 'step' }, ...series.map((s) => ({ label: s.label, stroke: s.color, dash: s.dash, spanGaps: true, width: 2 }))],
      },
      align(series),
      host.current!,
    );
    return () => plot.current?.destroy();
    // (rebuilt only when the set of series changes; new points go through setData below)
  }, [shape, title, log]);

  useEffect(() => {
    plot.current?.setData(align(series));
  }, [series]);

  return <div class="chart" ref={host} data-points={series.reduce((n, s) => n + s.points.length, 0)} />;
}
