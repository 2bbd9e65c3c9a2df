/** File writes that a crash cannot leave half done. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Temp file, fsync, rename (and fsync of the directory): the path holds the old bytes or all the new ones. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    fsyncPath(tmp);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true }); // e.g. ENOSPC: leave no partial file behind
    throw err;
  }
  fsyncPath(dirname(path));
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
