/**
 * Unpacking an uploaded archive (.tar, .tar.gz or .zip, told apart by their
 * first bytes, not their names) into an empty directory, refusing what could
 * harm the machine or hide what it holds:
 *   - names that leave the directory (absolute, `..`, drive letters), NUL
 *     bytes, or the same path twice;
 *   - anything but regular files and folders (links, devices, fifos);
 *   - more entries than `maxEntries`, or more bytes than `maxExpandedBytes`
 *     in all, or (past 16 MiB) more than `maxRatio` times the upload: an
 *     archive bomb. The bytes are counted as they are written, never taken
 *     from the archive's own headers alone.
 * tar-stream reads tar (and gzip through zlib) as a stream; yauzl reads zip
 * from the file (its central directory is at the end), checking each entry's
 * declared sizes against what it inflates to.
 */
import { createReadStream, mkdirSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import * as yauzl from 'yauzl';
import { DatasetError } from '../cpc/dataset.js';

export interface ArchiveLimits {
  maxEntries: number;
  maxExpandedBytes: number;
  maxRatio: number;
}

/** the upload (or what it expands to) is over a limit: 413 */
export class UploadTooLarge extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UploadTooLarge';
  }
}

export type ArchiveKind = 'tar' | 'tar.gz' | 'zip';

/** what the first bytes of a file say it is (null: none of the archives taken) */
export async function archiveKind(path: string): Promise<ArchiveKind | null> {
  const file = await openFile(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await file.read(head, 0, 512, 0);
    if (bytesRead >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'tar.gz';
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0x04034b50) return 'zip';
    if (bytesRead >= 4 && head.readUInt32LE(0) === 0x06054b50) return 'zip'; // an empty zip
    if (bytesRead === 512 && (head.toString('latin1', 257, 262) === 'ustar' || tarChecksumHolds(head) || head.every((b) => b === 0)))
      return 'tar';
    return null;
  } finally {
    await file.close();
  }
}

/** a tar header without the ustar magic (the old v7 format) still has its checksum: the bytes' sum, the checksum field as spaces */
function tarChecksumHolds(block: Buffer): boolean {
  const stored = parseInt(
    block
      .toString('latin1', 148, 156)
      .replace(/[\0 ]+$/, '')
      .trim(),
    8,
  );
  if (!Number.isFinite(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return sum === stored;
}

/** an entry's path inside `dest`, or a DatasetError saying why it may not be written */
export function entryPath(dest: string, name: string): string | null {
  const shown = JSON.stringify(name.slice(0, 200));
  if (name.includes('\0')) throw new DatasetError(`archive entry ${shown}: a NUL byte in its name`);
  if (name.includes('\\')) throw new DatasetError(`archive entry ${shown}: backslashes in names are not taken (use /)`);
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) throw new DatasetError(`archive entry ${shown}: an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new DatasetError(`archive entry ${shown}: a path that leaves the archive (..)`);
  if (parts.length === 0) return null;
  const path = resolve(dest, ...parts);
  if (!path.startsWith(resolve(dest) + sep)) throw new DatasetError(`archive entry ${shown}: a path outside the archive`);
  return path;
}

const RATIO_FLOOR = 16 * 1024 * 1024;

class Budget {
  entries = 0;
  bytes = 0;
  private readonly seen = new Set<string>();

  constructor(
    private readonly limits: ArchiveLimits,
    private readonly uploadBytes: number,
  ) {}

  entry(path: string, shown: string): void {
    if (++this.entries > this.limits.maxEntries) throw new UploadTooLarge(`the archive has more than ${this.limits.maxEntries} entries`);
    if (this.seen.has(path)) throw new DatasetError(`archive entry ${JSON.stringify(shown)} appears twice`);
    this.seen.add(path);
  }

  add(n: number): void {
    this.bytes += n;
    if (this.bytes > this.limits.maxExpandedBytes)
      throw new UploadTooLarge(`the archive expands to more than ${this.limits.maxExpandedBytes} bytes`);
    if (this.bytes > RATIO_FLOOR && this.bytes > this.limits.maxRatio * this.uploadBytes)
      throw new UploadTooLarge(`the archive expands to more than ${this.limits.maxRatio} times its size (an archive bomb?)`);
  }

  /** a stream that counts what passes through it against the budget */
  counter(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        try {
          this.add(chunk.length);
          done(null, chunk);
        } catch (err) {
          done(err as Error);
        }
      },
    });
  }
}

async function writeEntry(source: AsyncIterable<Uint8Array>, path: string, budget: Budget): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  // 'wx': never through an existing path (a file or a link an earlier entry made)
  const file = await openFile(path, 'wx');
  try {
    for await (const chunk of source) {
      budget.add(chunk.length);
      await file.write(chunk);
    }
  } finally {
    await file.close();
  }
}

async function extractTar(file: string, dest: string, gzipped: boolean, budget: Budget): Promise<void> {
  // (old v7 headers have no ustar magic: archiveKind found their checksum right)
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  const input = createReadStream(file);
  const fail = (err: Error) => extract.destroy(err);
  input.on('error', fail);
  if (gzipped) {
    // (the tar inside a gzip is counted too: a small .gz can expand to a huge tar of empty blocks)
    const gunzip = createGunzip();
    const counted = budget.counter();
    gunzip.on('error', fail);
    counted.on('error', fail);
    input
      .pipe(gunzip)
      .pipe(counted)
      .pipe(extract as unknown as NodeJS.WritableStream);
  } else {
    input.pipe(extract as unknown as NodeJS.WritableStream);
  }
  try {
    for await (const entry of extract) {
      const { type, name } = entry.header;
      const path = entryPath(dest, name);
      if (type !== 'file' && type !== 'directory' && type !== 'contiguous-file')
        throw new DatasetError(`archive entry ${JSON.stringify(name.slice(0, 200))}: a ${type}; only files and folders are taken`);
      if (path) budget.entry(path, name);
      if (path && type === 'directory') mkdirSync(path, { recursive: true });
      if (path && type !== 'directory') await writeEntry(entry as AsyncIterable<Uint8Array>, path, budget);
      else for await (const _ of entry); // (drained: the next entry follows it)
    }
  } catch (err) {
    input.destroy();
    if (err instanceof DatasetError || err instanceof UploadTooLarge) throw err;
    const what = gzipped ? 'a .tar.gz' : 'a .tar';
    throw new DatasetError(`the upload is not ${what} archive that can be read (${(err as Error).message})`);
  }
}

function openZip(file: string): Promise<yauzl.ZipFile> {
  return new Promise((resolveZip, reject) =>
    yauzl.open(file, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false }, (err, zip) =>
      err ? reject(err) : resolveZip(zip),
    ),
  );
}

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

async function extractZip(file: string, dest: string, limits: ArchiveLimits, budget: Budget): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await openZip(file);
  } catch (err) {
    throw new DatasetError(`the upload is not a .zip archive that can be read (${(err as Error).message})`);
  }
  try {
    // the central directory says how many entries there are before any is read
    if (zip.entryCount > limits.maxEntries)
      throw new UploadTooLarge(`the archive has ${zip.entryCount} entries, more than ${limits.maxEntries}`);
    await new Promise<void>((resolveAll, reject) => {
      const fail = (err: unknown) => {
        zip.close();
        const message = (err as Error).message;
        if (err instanceof DatasetError || err instanceof UploadTooLarge) reject(err);
        // (yauzl checks the names itself, before an entry reaches us)
        else if (/^(invalid relative path|absolute path)/.test(message))
          reject(new DatasetError(`archive entry: a path that leaves the archive (${message})`));
        else reject(new DatasetError(`a .zip entry cannot be read (${message})`));
      };
      zip.on('error', fail);
      zip.on('end', () => resolveAll());
      zip.on('entry', (entry: yauzl.Entry) => {
        try {
          // the file type is in the Unix mode, when a Unix system made the entry and set one (Python's
          // zipfile writes permissions without a type: a file); every other system: a file or a folder
          const type = entry.versionMadeBy >>> 8 === 3 ? (entry.externalFileAttributes >>> 16) & S_IFMT : 0;
          const isDir = entry.fileName.endsWith('/') || type === S_IFDIR;
          if (type !== 0 && !isDir && type !== S_IFREG)
            throw new DatasetError(
              `archive entry ${JSON.stringify(entry.fileName.slice(0, 200))}: a link or special file; only files and folders are taken`,
            );
          const path = entryPath(dest, entry.fileName);
          if (!path) return zip.readEntry();
          budget.entry(path, entry.fileName);
          if (isDir) {
            mkdirSync(path, { recursive: true });
            return zip.readEntry();
          }
          if (entry.uncompressedSize > RATIO_FLOOR && entry.uncompressedSize > limits.maxRatio * Math.max(1, entry.compressedSize))
            throw new UploadTooLarge(
              `archive entry ${JSON.stringify(entry.fileName.slice(0, 200))} expands more than ${limits.maxRatio} times (an archive bomb?)`,
            );
          zip.openReadStream(entry, (err, stream) => {
            if (err) return fail(err);
            // (yauzl can emit a second error after the first ended the read: it has nothing left to say)
            stream.on('error', () => undefined);
            writeEntry(stream, path, budget).then(
              () => zip.readEntry(),
              (writeErr: unknown) => {
                stream.destroy();
                fail(writeErr);
              },
            );
          });
        } catch (err) {
          fail(err);
        }
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

/** Unpack the archive at `file` (uploadBytes long) into the empty directory `dest`. */
export async function extractArchive(
  file: string,
  kind: ArchiveKind,
  dest: string,
  uploadBytes: number,
  limits: ArchiveLimits,
): Promise<void> {
  mkdirSync(dest, { recursive: true });
  const budget = new Budget(limits, uploadBytes);
  if (kind === 'zip') await extractZip(file, dest, limits, budget);
  else await extractTar(file, dest, kind === 'tar.gz', budget);
}
