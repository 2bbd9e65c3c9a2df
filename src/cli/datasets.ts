/**
 * cpc datasets upload PATH | list: the service's data sets, over HTTP. The
 * service is --url (env CPC_URL, default http://127.0.0.1:3000), the key
 * CPC_API_KEY. PATH is an archive (.tar, .tar.gz, .zip) sent as it is, a
 * folder of the four IDX files (sent as they are), or a folder of PNG files
 * in one folder per class (packed into a .tar.gz in a temporary file on the
 * way; the same layout `cpc train --data` reads). Files are streamed from
 * disk, never read whole.
 */
import { Command } from 'commander';
import { createWriteStream, mkdtempSync, openAsBlob, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { hasIdxFiles, IDX_FILES } from '../cpc/idx-dataset.js';
import { UsageError } from './usage-error.js';
import { serviceClient, urlOption, type ServiceFlags } from './service.js';

/** every file under `dir` (sorted), for packing */
function filesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? filesUnder(path) : [path];
    });
}

/** a PNG-folder data set packed as .tar.gz into `out` */
async function packFolder(dir: string, out: string): Promise<void> {
  const pack = tar.pack();
  const writing = pipeline(pack as unknown as Readable, createGzip(), createWriteStream(out));
  for (const path of filesUnder(dir)) {
    const size = statSync(path).size;
    const entry = pack.entry({ name: relative(dir, path).split('\\').join('/'), size });
    await pipeline(
      Readable.from((await openAsBlob(path)).stream() as unknown as AsyncIterable<Uint8Array>),
      entry as unknown as NodeJS.WritableStream,
    );
  }
  pack.finalize();
  await writing;
}

async function uploadCommand(path: string, f: ServiceFlags & { name?: string; splitSeed?: string; classNames?: string; json?: boolean }) {
  const client = serviceClient(f);
  const target = resolve(path);
  let stat;
  try {
    stat = statSync(target);
  } catch {
    throw new UsageError(`${path}: no such file or folder`);
  }
  // (a file or folder name as a data set name: what a name may not hold becomes '-')
  const name =
    f.name ??
    basename(target)
      .replace(/(\.tar\.gz|\.tgz|\.tar|\.zip)$/i, '')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 100);
  const form = new FormData();
  form.append('name', name);
  if (f.splitSeed !== undefined) form.append('splitSeed', f.splitSeed);
  if (f.classNames !== undefined) form.append('classNames', JSON.stringify(f.classNames.split(',').map((c) => c.trim())));
  const scratch = mkdtempSync(join(tmpdir(), 'cpc-upload-'));
  try {
    if (stat.isFile()) form.append('file', await openAsBlob(target), basename(target));
    else if (hasIdxFiles(target)) {
      for (const base of Object.values(IDX_FILES)) {
        const file = [`${base}.gz`, base].map((n) => join(target, n)).find((p) => statSync(p, { throwIfNoEntry: false })?.isFile());
        if (!file) throw new UsageError(`${path}: missing ${base}(.gz)`);
        form.append(base, await openAsBlob(file), basename(file));
      }
    } else {
      const packed = join(scratch, `${name}.tar.gz`);
      await packFolder(target, packed);
      form.append('file', await openAsBlob(packed), basename(packed));
    }
    const dataset = await client.upload<Record<string, unknown>>('/v1/datasets', form);
    process.stdout.write((f.json ? JSON.stringify(dataset) : describe(dataset)) + '\n');
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function describe(d: Record<string, unknown>): string {
  const images = d.images as { train: number; valid: number; test: number };
  const classes = d.classNames as string[];
  const shown = classes.length > 12 ? `${classes.slice(0, 12).join(', ')}, ... (${classes.length})` : classes.join(', ');
  return `${d.id}  ${d.name}  ${d.format}  ${classes.length} classes (${shown})  train ${images.train} / valid ${images.valid} / test ${images.test}`;
}

async function listCommand(f: ServiceFlags & { json?: boolean; limit: string }) {
  const page = await serviceClient(f).get<{ items: Array<Record<string, unknown>>; total: number }>(
    `/v1/datasets?limit=${encodeURIComponent(f.limit)}`,
  );
  if (f.json) return void process.stdout.write(JSON.stringify(page) + '\n');
  for (const d of page.items) process.stdout.write(describe(d) + '\n');
  if (page.total > page.items.length) process.stdout.write(`(${page.items.length} of ${page.total}; --limit for more)\n`);
}

export function datasetsCommand(): Command {
  const datasets = new Command('datasets').description('data sets of the service (POST/GET /v1/datasets); key: CPC_API_KEY');
  datasets
    .command('upload')
    .description('upload an archive, a folder of the four IDX files, or a folder of PNG files in one folder per class')
    .argument('<path>', 'archive (.tar, .tar.gz, .zip) or folder')
    .option('--name <name>', 'data set name (default: the file or folder name)')
    .option('--split-seed <n>', 'seed of the per-class test/validation split (PNG folders without train/ and test/)')
    .option('--class-names <list>', 'IDX uploads: the class names in label order, comma-separated')
    .addOption(urlOption())
    .option('--json', 'the data set as JSON')
    .action(uploadCommand);
  datasets
    .command('list')
    .description('the data sets this key may use')
    .option('--limit <n>', 'at most this many', '50')
    .addOption(urlOption())
    .option('--json', 'the page as JSON')
    .action(listCommand);
  return datasets;
}
