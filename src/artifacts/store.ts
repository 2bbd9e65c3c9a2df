/**
 * Artifact storage: an interface with a local-directory implementation.
 * Files are written to a temp name, fsynced, renamed, and only then
 * recorded; reads verify the sha256.
 */
import { createReadStream, mkdirSync, existsSync, rmSync, rmdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { dirname, relative, resolve, sep } from 'node:path';
import { writeFileAtomic } from '../lib/files.js';
import { sha256Hex, sha256Stream } from '../lib/hash.js';
import type { Db } from '../store/db.js';
import type { StoredObject } from '../store/artifacts.js';

export type { StoredObject };

export interface ArtifactStore {
  put(key: string, bytes: Uint8Array): Promise<StoredObject>;
  /** the bytes, verified against the expected sha256 */
  get(uri: string, sha256: string): Promise<Uint8Array>;
  /** the bytes as a stream, verified against the expected sha256 before the first byte (for downloads of any size) */
  open(uri: string, sha256: string): Promise<Readable>;
  /** remove an object no artifact row points to any more */
  delete(uri: string): Promise<void>;
}

export class ChecksumMismatch extends Error {
  /** where it is stored (for the log; not for clients) */
  readonly uri: string;

  constructor(uri: string) {
    super('a stored file of this artifact does not match its recorded sha256');
    this.uri = uri;
    this.name = 'ChecksumMismatch';
  }
}

export class LocalArtifactStore implements ArtifactStore {
  constructor(private readonly root: string) {
    mkdirSync(root, { recursive: true });
  }

  private pathOf(key: string): string {
    const path = resolve(this.root, key);
    if (!path.startsWith(resolve(this.root) + sep)) throw new Error(`artifact key escapes the store: ${key}`);
    return path;
  }

  async put(key: string, bytes: Uint8Array): Promise<StoredObject> {
    const path = this.pathOf(key);
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, bytes);
    return { uri: `file:${relative(this.root, path)}`, bytes: bytes.length, sha256: sha256Hex(bytes) };
  }

  private fileOf(uri: string): string {
    if (!uri.startsWith('file:')) throw new Error(`not a local artifact uri: ${uri}`);
    const path = this.pathOf(uri.slice('file:'.length));
    if (!existsSync(path)) throw new Error(`artifact ${uri} is missing from the store`);
    return path;
  }

  /** read in chunks off the event loop, hashing as it goes (a checkpoint can be hundreds of MB) */
  async get(uri: string, sha256: string): Promise<Uint8Array> {
    const chunks: Buffer[] = [];
    const hash = sha256Stream();
    for await (const chunk of createReadStream(this.fileOf(uri))) {
      hash.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
    }
    if (hash.hex() !== sha256) throw new ChecksumMismatch(uri);
    return Buffer.concat(chunks);
  }

  /** verified through one open descriptor, then streamed from it (a file replaced meanwhile is not what is sent) */
  async open(uri: string, sha256: string): Promise<Readable> {
    const file = await open(this.fileOf(uri), 'r');
    try {
      const hash = sha256Stream();
      for await (const chunk of file.createReadStream({ start: 0, autoClose: false })) hash.update(chunk as Buffer);
      if (hash.hex() !== sha256) throw new ChecksumMismatch(uri);
      return file.createReadStream({ start: 0, autoClose: true });
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  async delete(uri: string): Promise<void> {
    if (!uri.startsWith('file:')) throw new Error(`not a local artifact uri: ${uri}`);
    const path = this.pathOf(uri.slice('file:'.length));
    rmSync(path, { force: true });
    // (and the folders it leaves empty, jobs/<job>/<hash>/ and jobs/<job>/; never a top folder such as
    // jobs/, which a concurrent put of another job may have just made and be about to write into)
    for (let dir = dirname(path); relative(this.root, dir).includes(sep); dir = dirname(dir)) {
      try {
        rmdirSync(dir);
      } catch {
        break; // not empty (or gone): the folders above it are not empty either
      }
    }
  }
}

/** Artifacts as rows of Postgres (bytea): for workers on machines without a shared disk. */
export class PostgresArtifactStore implements ArtifactStore {
  constructor(private readonly db: Db) {}

  async put(key: string, bytes: Uint8Array): Promise<StoredObject> {
    const sha256 = sha256Hex(bytes);
    const data = new Uint8Array(bytes);
    await this.db.artifactBlob.upsert({ where: { key }, create: { key, bytes: data, sha256 }, update: { bytes: data, sha256 } });
    return { uri: `pg:${key}`, bytes: bytes.length, sha256 };
  }

  async get(uri: string, sha256: string): Promise<Uint8Array> {
    if (!uri.startsWith('pg:')) throw new Error(`not a postgres artifact uri: ${uri}`);
    const row = await this.db.artifactBlob.findUnique({ where: { key: uri.slice(3) } });
    if (!row) throw new Error(`artifact ${uri} is missing from the store`);
    const bytes = new Uint8Array(row.bytes);
    if (sha256Hex(bytes) !== sha256) throw new ChecksumMismatch(uri);
    return bytes;
  }

  async open(uri: string, sha256: string): Promise<Readable> {
    return Readable.from([Buffer.from(await this.get(uri, sha256))]);
  }

  async delete(uri: string): Promise<void> {
    if (!uri.startsWith('pg:')) throw new Error(`not a postgres artifact uri: ${uri}`);
    await this.db.artifactBlob.deleteMany({ where: { key: uri.slice(3) } });
  }
}

/** The store named by ARTIFACT_STORE; reads dispatch on the uri scheme, so both kinds stay readable. */
export class ArtifactStores implements ArtifactStore {
  private readonly local: LocalArtifactStore;
  private readonly postgres: PostgresArtifactStore;

  constructor(kind: 'local' | 'postgres', dir: string, db: Db) {
    this.local = new LocalArtifactStore(dir);
    this.postgres = new PostgresArtifactStore(db);
    this.writer = kind === 'postgres' ? this.postgres : this.local;
  }

  private readonly writer: ArtifactStore;

  put(key: string, bytes: Uint8Array): Promise<StoredObject> {
    return this.writer.put(key, bytes);
  }

  get(uri: string, sha256: string): Promise<Uint8Array> {
    return this.reader(uri).get(uri, sha256);
  }

  open(uri: string, sha256: string): Promise<Readable> {
    return this.reader(uri).open(uri, sha256);
  }

  delete(uri: string): Promise<void> {
    return this.reader(uri).delete(uri);
  }

  private reader(uri: string): ArtifactStore {
    return uri.startsWith('pg:') ? this.postgres : this.local;
  }
}
