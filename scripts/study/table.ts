/**
 * The representation study's tables (BENCHMARKS.md "Representations") from the summary lines of
 * scripts/study/run.sh: one row per run (data set x recipe x seed), then each group's mean and
 * spread (min-max) over its seeds.
 *   node --import tsx scripts/study/table.ts [RESULTS=.local/study/results.jsonl] [NAME_FILTER]
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface Scores {
  linear: number;
  mlp: number;
}
interface Summary {
  name: string;
  seed: number;
  data: string;
  color: string;
  imageSize: number;
  loss: string;
  negatives: string;
  sameClassNegatives: string;
  /** absent from the summaries written before the field existed: dot and plateau */
  similarity?: string;
  logitScale?: number;
  lrSchedule?: string;
  learningRate?: number;
  /** absent from the summaries written before the field existed: none */
  augment?: string;
  steps: number;
  valid: number[];
  chance: number;
  first99: number | null;
  validPairwise?: number;
  test: number;
  trainSeconds: number;
  wallSeconds: number;
  cpc?: Scores;
  randomEncoder?: Scores;
  rawPixels?: Scores;
  rank?: number;
}

const [file = '.local/study/results.jsonl', filter = ''] = process.argv.slice(2);
const runs = readFileSync(file, 'utf8')
  .split('\n')
  .filter((l) => l.startsWith('{"name"'))
  .map((l) => JSON.parse(l) as Summary)
  .filter((r) => r.name.includes(filter));

const pct = (x: number | undefined) => (x === undefined ? '–' : (100 * x).toFixed(1));
const dataName = (r: Summary) => `${r.data === 'mnist' ? 'MNIST' : basename(r.data)} ${r.imageSize}px ${r.color}`;
const recipe = (r: Summary) =>
  (r.loss === 'binary'
    ? 'binary'
    : `infonce ${r.negatives}${r.sameClassNegatives === 'mask' ? ' masked' : ''}${r.similarity === 'cosine' ? `, cosine/${r.logitScale}` : ''}`) +
  (r.lrSchedule === 'cosine' ? ', lr cosine' : '') +
  (r.learningRate !== undefined && r.learningRate !== 1e-3 ? `, lr ${r.learningRate}` : '') +
  (r.augment && r.augment !== 'none' ? `, ${r.augment} aug.` : '');
const group = (r: Summary) => `${r.name.replace(/-s\d+$/, '')}`;

console.log(
  '| run | data | recipe | steps | contrastive test (chance) | CPC linear / MLP | random enc. linear / MLP | raw pixels linear / MLP | code rank | train s |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of runs) {
  console.log(
    `| ${r.name} | ${dataName(r)} | ${recipe(r)} | ${r.steps} | ${r.test.toFixed(3)} (${r.chance.toFixed(3)}) | ` +
      `${pct(r.cpc?.linear)} / ${pct(r.cpc?.mlp)} | ${pct(r.randomEncoder?.linear)} / ${pct(r.randomEncoder?.mlp)} | ` +
      `${pct(r.rawPixels?.linear)} / ${pct(r.rawPixels?.mlp)} | ${r.rank ?? '–'} | ${r.trainSeconds} |`,
  );
}

const groups = new Map<string, Summary[]>();
for (const r of runs) if (r.cpc?.mlp !== undefined) groups.set(group(r), [...(groups.get(group(r)) ?? []), r]);
const stat = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.length > 1 ? `${pct(mean)} (${pct(Math.min(...xs))}–${pct(Math.max(...xs))})` : pct(mean);
};
console.log('\n| group | seeds | CPC linear | CPC MLP | lead over the better baseline, linear / MLP (min over seeds) |');
console.log('|---|---|---|---|---|');
for (const [name, rs] of groups) {
  const lead = (head: keyof Scores) =>
    Math.min(...rs.map((r) => r.cpc![head] - Math.max(r.randomEncoder?.[head] ?? 0, r.rawPixels?.[head] ?? 0)));
  console.log(
    `| ${name} | ${rs.map((r) => r.seed).join(', ')} | ${stat(rs.map((r) => r.cpc!.linear))} | ${stat(rs.map((r) => r.cpc!.mlp))} | ` +
      `${(100 * lead('linear')).toFixed(1)} / ${(100 * lead('mlp')).toFixed(1)} |`,
  );
}

// the colour curriculum over seeds: validation accuracy after each 100 steps (grey before greySteps)
const colour = runs.filter((r) => r.color === 'color' && r.loss === 'infonce' && r.negatives === 'batch');
if (colour.length) {
  const width = Math.max(...colour.map((r) => r.valid.length));
  const steps = Array.from({ length: width }, (_, i) => (i + 1) * 100);
  console.log(
    `\n| run | recipe | seed | ${steps.map((s) => `valid @${s}`).join(' | ')} | first ≥ 0.90 | first ≥ 0.99 | last valid, pairwise (chance 0.5) |`,
  );
  console.log(`|---|---|---|${steps.map(() => '---|').join('')}---|---|---|`);
  for (const r of colour) {
    const at = (threshold: number) => {
      const i = r.valid.findIndex((v) => v >= threshold);
      return i < 0 ? 'not reached' : `step ${(i + 1) * 100}`;
    };
    console.log(
      `| ${r.name} | ${recipe(r)} | ${r.seed} | ${steps.map((_, i) => (r.valid[i] === undefined ? '' : r.valid[i].toFixed(3))).join(' | ')} | ` +
        `${at(0.9)} | ${at(0.99)} | ${r.validPairwise?.toFixed(4) ?? '–'} |`,
    );
  }
}
