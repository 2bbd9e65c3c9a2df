/**
 * The folders of src and which may import which. The engine (cpc) knows nothing of HTTP,
 * queues or databases; lib knows nothing of the project; no two folders import each other.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', 'src');

/** what each part may import (besides itself and npm packages) */
const ALLOWED: Record<string, string[]> = {
  lib: [],
  cpc: ['lib'],
  plots: [],
  dashboard: [],
  datasets: ['lib', 'cpc'],
  store: ['lib', 'generated'],
  artifacts: ['lib', 'store', 'generated'],
  queue: ['lib', 'store', 'generated'],
  config: [],
  cli: ['lib', 'cpc', 'store', 'generated'],
  api: ['lib', 'cpc', 'datasets', 'plots', 'store', 'artifacts', 'queue', 'config', 'generated'],
  worker: ['lib', 'cpc', 'datasets', 'store', 'artifacts', 'queue', 'config', 'generated'],
  server: ['api', 'store', 'config'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'generated' ? [] : sources(join(dir, e.name))) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** the part a file belongs to: its top folder under src, or its own name for a top-level file */
const partOf = (path: string) =>
  relative(SRC, path)
    .split(sep)[0]
    .replace(/\.[jt]s$/, '');

function imports(): Array<{ file: string; from: string; to: string }> {
  return sources(SRC).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) => ({
      file: relative(SRC, file),
      from: partOf(file),
      to: partOf(resolve(dirname(file), m[1])),
    })),
  );
}

describe('layers', () => {
  it('every part imports only the parts below it', () => {
    const edges = imports().filter((e) => e.from !== e.to);
    expect(edges.length).toBeGreaterThan(20); // (the scan found the imports at all)
    const parts = new Set(edges.flatMap((e) => [e.from, e.to]));
    for (const part of parts) expect(Object.keys(ALLOWED).concat('generated'), `unknown part ${part}`).toContain(part);
    const slips = edges.filter((e) => e.from !== 'generated' && !ALLOWED[e.from].includes(e.to));
    expect(slips.map((e) => `${e.file} imports ${e.to}`)).toEqual([]);
  });

  it('the table itself has no cycle', () => {
    const reaches = (from: string, to: string, seen = new Set<string>()): boolean =>
      (ALLOWED[from] ?? []).some((next) => next === to || (!seen.has(next) && (seen.add(next), reaches(next, to, seen))));
    for (const part of Object.keys(ALLOWED)) expect(reaches(part, part), `${part} reaches itself`).toBe(false);
  });
});
