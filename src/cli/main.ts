#!/usr/bin/env node
/**
 * cpc: command-line interface to the CPC engine and a client of the service.
 *   cpc train | probe | predict | bench train | data sample | keys | datasets | jobs | models | experiments
 * Bad flags or files: a one-line error on stderr and exit code 2.
 */
import { Command, Option } from 'commander';
import { int, positive } from './parsers.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { initBackend, parseBackendChoice, BACKEND_CHOICES } from '../cpc/backend.js';
import type { CpcConfigInput } from '../cpc/config.js';
import {
  addConfigFlags,
  configFromFileAndFlags,
  fieldsIgnoredOnResume,
  fieldWithFlag,
  resolveFileAndFlags,
  PROBE_FLAGS,
  probeConfigFromFlags,
} from './config-flags.js';
import { checkProbeInput } from '../cpc/probe.js';
import { DatasetError } from '../cpc/idx.js';
import { trainRun } from '../cpc/train-run.js';
import { probeRun } from '../cpc/probe-run.js';
import { assembleServable, servableFilesOfRun } from '../cpc/servable.js';
import { readManifest } from '../cpc/run-manifest.js';
import { predictImages, type ImageInput } from '../cpc/inference.js';
import { makeReporter } from './progress.js';
import { loadDataset, defaultDataDir } from '../cpc/load-dataset.js';
import { digitPixels } from '../cpc/images.js';
import { encodePng } from '../cpc/png.js';
import { benchTrain } from './bench.js';
import { sampleGrid } from './sample.js';
import { UsageError } from './usage-error.js';
import { keysCommand } from './keys.js';
import { datasetsCommand } from './datasets.js';
import { jobsCommand } from './jobs.js';
import { modelsCommand } from './models.js';
import { experimentsCommand } from './experiments.js';

/** the package's version (package.json two folders up, from src/cli and from dist/cli alike) */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

/** A bad flag value found after parsing: one line on stderr, exit code 2. */

const backendOption = () =>
  new Option('--backend <name>', 'auto | node-gpu | node | wasm | cpu (env CPC_BACKEND)').choices(BACKEND_CHOICES);

interface TrainFlags {
  config?: string;
  data?: string;
  out: string;
  resume?: boolean;
  backend?: string;
  json?: boolean;
  [flag: string]: unknown;
}

/**
 * The config fields a config file and the flags set, flags over the file; the data directory
 * absolute (a file's relative to the file).
 */
function trainConfigInput(f: TrainFlags): CpcConfigInput {
  const input = configFromFileAndFlags(f);
  const dataDir =
    f.data !== undefined ? resolve(f.data) : input.dataDir !== undefined ? resolve(dirname(f.config!), input.dataDir) : undefined;
  return { ...input, ...(dataDir !== undefined ? { dataDir } : {}) };
}

/**
 * A rethrow for a command that read the data directory a run recorded (when `applies`), which
 * may have moved: its DatasetError says that --data points `what`.
 */
function dataHint(applies: boolean | undefined, what: string) {
  return (err: unknown): never => {
    if (applies && err instanceof DatasetError) err.message += `; --data DIR points ${what}`;
    throw err;
  };
}

async function trainCommand(f: TrainFlags): Promise<void> {
  const given = trainConfigInput(f);
  const config = resolveFileAndFlags(given, f);
  // fail on bad data before any output (a resumed run's own data is checked when its checkpoint is read)
  if (!f.resume || config.dataDir !== undefined) loadDataset(config.dataDir ?? defaultDataDir());
  const backend = await initBackend(parseBackendChoice(f.backend ?? process.env.CPC_BACKEND));
  const reporter = makeReporter(Boolean(f.json));
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  let started = false;
  const manifest = await trainRun({
    config,
    outDir: resolve(f.out),
    resume: f.resume,
    signal: controller.signal,
    // the config that runs: a resumed run's own, whatever the flags say
    onStart: (run, resumedAtStep) => {
      reporter.event({
        event: 'start',
        backend: backend.name,
        out: resolve(f.out),
        ...(resumedAtStep !== undefined ? { resumedAtStep } : {}),
        seed: run.seed,
        loss: run.loss,
        similarity: run.similarity,
        lrSchedule: run.lrSchedule,
        augment: run.augment,
        color: run.color,
      });
      const ignored = resumedAtStep !== undefined ? fieldsIgnoredOnResume(given, run) : [];
      if (ignored.length)
        reporter.warn(
          `a resumed run goes on with its checkpoint's recipe; ignored: ${ignored.map(fieldWithFlag).join(', ')} ` +
            '(a run cannot be changed or extended: train into a new --out for another recipe)',
          { ignored },
        );
    },
    callbacks: {
      onStep: (p) => {
        if (!started) {
          reporter.start(p.totalSteps, 'train');
          started = true;
        }
        reporter.update(p.step, {
          loss: +p.loss.toFixed(4),
          accuracy: +p.accuracy.toFixed(3),
          chance: +p.chance.toFixed(3),
          imagesPerSec: Math.round(p.imagesPerSec),
          lr: p.learningRate,
          color: p.color,
        });
      },
      onEpoch: (e) => reporter.event({ event: 'epoch', ...e }),
    },
  }).catch(dataHint(f.resume && !f.data, 'a resumed run at its data'));
  reporter.stop();
  reporter.event({ event: 'done', ...manifest.result, out: resolve(f.out) });
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('cpc').description('Contrastive Predictive Coding on MNIST digit sequences').showHelpAfterError(false);
  // (cpc's own options only before a command: `cpc models show NAME --version 2` is the command's --version)
  program.version(packageVersion(), '-V, --version', 'print the version').enablePositionalOptions();
  program.exitOverride();
  // (commander's whole message: an unknown option is followed by its "Did you mean" line)
  program.configureOutput({ writeErr: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`) });

  const train = program.command('train').description('train a CPC encoder; writes a run directory');
  addConfigFlags(train)
    .option('--config <file>', 'JSON file with config fields (flags override it)')
    .option('--data <dir>', 'data set: four MNIST-format IDX files, or PNG files in one folder per class (default: vendored data/mnist)')
    .option('--out <dir>', 'run directory', 'runs/latest')
    .option('--resume', "continue from <out>/checkpoint if present, with the run's own recipe (--data and --workers apply)")
    .addOption(backendOption())
    .option('--json', 'JSON lines on stdout')
    .action(trainCommand);

  const probe = program
    .command('probe')
    .description('frozen-encoder probes (linear, MLP) beside raw-pixel and random-encoder baselines')
    .requiredOption('--run <dir>', 'run directory from cpc train');
  addConfigFlags(probe, PROBE_FLAGS)
    .option('--data <dir>', "data set to probe on (default: the run's own)")
    .option('--no-baselines', 'skip the raw-pixel and random-encoder baselines')
    .addOption(backendOption())
    .option('--json', 'JSON on stdout')
    .action(async (f: { run: string; data?: string; baselines: boolean; backend?: string; json?: boolean }) => {
      let partial;
      try {
        partial = checkProbeInput(probeConfigFromFlags(f));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      readManifest(resolve(f.run)); // (a run directory, before the backend loads)
      await initBackend(parseBackendChoice(f.backend ?? process.env.CPC_BACKEND));
      const report = await probeRun(resolve(f.run), {
        config: partial,
        ...(f.data ? { dataDir: resolve(f.data) } : {}),
        log: f.json ? undefined : (m) => process.stderr.write(m + '\n'),
        baselines: f.baselines,
      }).catch(dataHint(!f.data, "the probe at the run's data"));
      process.stdout.write((f.json ? JSON.stringify(report) : JSON.stringify(report, null, 2)) + '\n');
    });

  program
    .command('predict')
    .description('class probabilities and embeddings for PNG files (28x28 grey or the model size)')
    .requiredOption('--run <dir>', 'run directory with a probe head')
    .addOption(new Option('--head <kind>', 'probe head').choices(['linear', 'mlp']).default('mlp'))
    .option('--embedding', 'include the encoder embedding')
    .addOption(backendOption())
    .argument('<images...>', 'PNG files')
    .action(async (images: string[], f: { run: string; head: 'linear' | 'mlp'; embedding?: boolean; backend?: string }) => {
      const files = servableFilesOfRun(resolve(f.run), f.head); // (the run's files, before the backend loads)
      await initBackend(parseBackendChoice(f.backend ?? process.env.CPC_BACKEND));
      const model = await assembleServable(files);
      const inputs: ImageInput[] = images.map((p) => new Uint8Array(readFileSync(p)));
      const predictions = predictImages(model, inputs, Boolean(f.embedding));
      predictions.forEach((p, i) =>
        process.stdout.write(JSON.stringify({ file: images[i], ...p, probabilities: p.probabilities.map((v) => +v.toFixed(4)) }) + '\n'),
      );
    });

  const bench = program.command('bench').description('benchmarks');
  bench
    .command('train')
    .description('time training steps of the seed architecture')
    .addOption(backendOption().default('wasm'))
    .option('--image-size <px>', 'image side', positive('image-size'), 64)
    .option('--batch-size <n>', 'sequences per batch', positive('batch-size'), 32)
    .option('--steps <n>', 'timed steps', positive('steps'), 10)
    .option('--warmup <n>', 'untimed steps first', int('warmup'), 2)
    .addOption(new Option('--color <mode>').choices(['grey', 'color']).default('color'))
    .option('--workers <n>', 'data-parallel worker threads (0 = one per core)', int('workers'), 0)
    .option('--threads <n>', 'TensorFlow intra-op threads on native backends (0 = the cores this process may use)', int('threads'), 0)
    .option('--json', 'one JSON line on stdout')
    .action(benchTrain);

  const data = program.command('data').description('data utilities');
  data
    .command('digit')
    .description('write one MNIST image as a 28x28 PNG and print its label')
    .addOption(new Option('--split <name>').choices(['train', 'valid', 'test']).default('test'))
    .option('--index <n>', 'image index in the split', int('index'), 0)
    .option('--out <file>', 'PNG path', 'digit.png')
    .option('--data <dir>', 'IDX data directory')
    .action((f: { split: 'train' | 'valid' | 'test'; index: number; out: string; data?: string }) => {
      const split = loadDataset(f.data ? resolve(f.data) : defaultDataDir()).splits[f.split];
      if (f.index < 0 || f.index >= split.count) throw new UsageError(`--index must be in [0, ${split.count - 1}]`);
      const pixels = digitPixels(split, f.index);
      writeFileSync(f.out, encodePng(28, 28, Uint8Array.from(Array.from(pixels).flatMap((v) => [v, v, v]))));
      process.stdout.write(JSON.stringify({ out: resolve(f.out), split: f.split, index: f.index, label: split.labels[f.index] }) + '\n');
    });
  data
    .command('sample')
    .description('write a PNG grid of a batch of sequences, one row per sequence, label in the border')
    .option('--out <file>', 'PNG path', 'sample.png')
    .option('--seed <n>', 'seed', int('seed'), 0)
    .option('--rows <n>', 'sequences', positive('rows'), 8)
    .addOption(new Option('--color <mode>').choices(['grey', 'color']).default('color'))
    .addOption(new Option('--task <task>').choices(['sorted', 'same']).default('sorted'))
    .option('--image-size <px>', '28 or 64', positive('image-size'), 64)
    .option('--data <dir>', 'IDX data directory')
    .action((f) => {
      const info = sampleGrid(f);
      writeFileSync(f.out, info.png);
      process.stdout.write(JSON.stringify({ out: resolve(f.out), labels: info.labels, digits: info.digits }) + '\n');
    });

  program.addCommand(keysCommand());
  program.addCommand(datasetsCommand());
  program.addCommand(jobsCommand());
  program.addCommand(modelsCommand());
  program.addCommand(experimentsCommand());
  // (commands built on their own and added do not inherit these: every parse error is then ours, exit code 2)
  const inherit = (command: Command) => {
    for (const sub of command.commands) {
      sub.copyInheritedSettings(command);
      inherit(sub);
    }
  };
  inherit(program);

  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => {
  const e = err as { code?: string; exitCode?: number; message?: string };
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') process.exit(0);
  // commander has already printed its own parse errors
  if (e.code?.startsWith('commander.')) process.exit(2);
  process.stderr.write(`cpc: ${(e.message ?? String(err)).split('\n')[0]}\n`);
  // (a service's refusal or absence is exit code 1, like any failure that is not in how cpc was called)
  const usage = ['UsageError', 'IdxFormatError', 'DatasetError', 'ConfigError', 'ImageInputError'].includes((err as Error).name ?? '');
  process.exit(usage || e.code === 'ENOENT' ? 2 : 1);
});
