/**
 * cpc models list | show | alias | register | predict: the service's model registry over HTTP
 * (service.ts: --url or CPC_URL, key CPC_API_KEY). `predict` sends PNG files (as the API's
 * `{png: base64}` instances) and prints one JSON line per file, as `cpc predict` does.
 */
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { UsageError } from './usage-error.js';
import { positive } from './parsers.js';
import { output, serviceClient, show, urlOption, type ServiceFlags } from './service.js';

interface Model {
  name: string;
  version: number;
  aliases: string[];
  jobId: string;
  cpcJobId: string;
  datasetId: string;
  classNames: string[];
  head: string;
  metrics: Record<string, unknown>;
  createdAt: string;
}

interface Prediction {
  label: number;
  className: string;
  probabilities: number[];
  embedding?: number[];
}

const modelLine = (m: Model) =>
  [
    `${m.name} v${m.version}${m.aliases.length ? ` (${m.aliases.join(', ')})` : ''}`,
    `${m.head} head`,
    `data ${m.datasetId} (${m.classNames.length} classes)`,
    ...Object.entries(m.metrics).map(([k, v]) => `${k} ${show(v)}`),
    `probe job ${m.jobId}`,
  ].join('  ');

/** a version number or an alias */
const ref = (v: string) => {
  if (!/^([1-9][0-9]*|[A-Za-z][A-Za-z0-9_-]*)$/.test(v)) throw new UsageError(`--version must be a version number or an alias, got ${v}`);
  return v;
};

const path = (name: string, version?: string) => `/v1/models/${encodeURIComponent(name)}${version ? `/versions/${version}` : ''}`;

export function modelsCommand(): Command {
  const models = new Command('models').description('the model registry of the service (/v1/models); key: CPC_API_KEY');
  models
    .command('list')
    .description('the latest version of each model')
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (f: ServiceFlags) => {
      const { items } = await serviceClient(f).get<{ items: Model[] }>('/v1/models');
      output(f, items, (ms) => (ms.length ? ms.map(modelLine).join('\n') : '(no models)'));
    });
  models
    .command('show')
    .description('a model: every version (newest first), or one with --version, with its classes')
    .argument('<name>')
    .option('--version <ref>', 'a version number or an alias', ref)
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (name: string, f: ServiceFlags & { version?: string }) => {
      const client = serviceClient(f);
      const models = f.version
        ? [await client.get<Model>(path(name, f.version))]
        : (await client.get<{ items: Model[] }>(`${path(name)}/versions`)).items;
      output(f, f.version ? models[0] : models, () =>
        models
          .map((m) => `${modelLine(m)}\n  classes: ${m.classNames.join(', ')}\n  CPC job ${m.cpcJobId}, created ${m.createdAt}`)
          .join('\n'),
      );
    });
  models
    .command('alias')
    .description('point an alias (production, staging, ...) at a version; --remove takes it away')
    .argument('<name>')
    .argument('<alias>')
    .argument('[version]', 'the version it names')
    .option('--remove', 'remove the alias')
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (name: string, alias: string, version: string | undefined, f: ServiceFlags & { remove?: boolean }) => {
      const client = serviceClient(f);
      const at = `${path(name)}/aliases/${encodeURIComponent(alias)}`;
      if (f.remove) return void (await client.send('DELETE', at));
      if (!version || !/^[1-9][0-9]*$/.test(version)) throw new UsageError('give the version the alias names (or --remove)');
      output(f, await client.send<Model>('PUT', at, { version: Number(version) }), modelLine);
    });
  models
    .command('delete')
    .description('delete one version of a model (refused while an alias names it); its probe job stays')
    .argument('<name>')
    .argument('<version>', 'a version number')
    .addOption(urlOption())
    .action(async (name: string, version: string, f: ServiceFlags) => {
      if (!/^[1-9][0-9]{0,9}$/.test(version)) throw new UsageError(`the version is a positive number, not ${JSON.stringify(version)}`);
      await serviceClient(f).send('DELETE', `${path(name)}/versions/${version}`);
      process.stdout.write(`deleted ${name} version ${version}\n`);
    });
  models
    .command('register')
    .description('register a succeeded probe job as the next version of a model')
    .argument('<name>')
    .argument('<probe-job-id>')
    .addOption(new Option('--head <kind>', 'probe head').choices(['mlp', 'linear']).default('mlp'))
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (name: string, jobId: string, f: ServiceFlags & { head: string }) =>
      output(f, await serviceClient(f).send<Model>('POST', '/v1/models', { name, jobId, head: f.head }), modelLine),
    );
  models
    .command('predict')
    .description("class probabilities for PNG files: 28x28 grey, the model's size in RGB, or its data set's image size")
    .argument('<name>')
    .argument('<images...>', 'PNG files')
    .option('--version <ref>', 'a version number or an alias (default: the latest)', ref)
    .option('--embedding', 'include the encoder embedding')
    .option(
      '--neighbours <k>',
      'include the k (1-20) nearest training images (label, class, similarity; the image as a PNG in base64)',
      positive('--neighbours', 20),
    )
    .addOption(urlOption())
    .action(async (name: string, images: string[], f: ServiceFlags & { version?: string; embedding?: boolean; neighbours?: number }) => {
      const instances = images.map((file) => {
        try {
          return { png: readFileSync(file).toString('base64') };
        } catch {
          throw new UsageError(`${file}: cannot read it`);
        }
      });
      const { version, predictions } = await serviceClient(f).send<{ version: number; predictions: Prediction[] }>(
        'POST',
        `${path(name, f.version)}/predict`,
        { instances, ...(f.embedding ? { embedding: true } : {}), ...(f.neighbours ? { neighbours: f.neighbours } : {}) },
      );
      predictions.forEach((p, i) =>
        process.stdout.write(
          JSON.stringify({ file: images[i], model: name, version, ...p, probabilities: p.probabilities.map((v) => +v.toFixed(4)) }) + '\n',
        ),
      );
    });
  return models;
}
