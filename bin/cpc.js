#!/usr/bin/env node
// The cpc CLI. In a development checkout (tsx installed) it runs the TypeScript
// sources, so it can never run stale compiled code; otherwise the build in dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli', 'main.ts');
let register = null;
if (existsSync(source)) {
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    register = null; // a production install without dev dependencies
  }
}
if (register) {
  register();
  await import(pathToFileURL(source).href);
} else {
  await import(pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href);
}
