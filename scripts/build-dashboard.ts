/**
 * Build the dashboard (src/dashboard) into dist/dashboard: one ES module and
 * its stylesheet under assets/, and index.html. esbuild bundles Preact and
 * uPlot in; nothing is fetched at run time. `npm run build:dashboard`.
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
export const DASHBOARD_OUT = join(root, 'dist', 'dashboard');

export async function buildDashboard(out = DASHBOARD_OUT): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'assets'), { recursive: true });
  await build({
    entryPoints: { main: join(root, 'src', 'dashboard', 'main.tsx') },
    outdir: join(out, 'assets'),
    bundle: true,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
  });
  copyFileSync(join(root, 'src', 'dashboard', 'index.html'), join(out, 'index.html'));
}

if (process.argv[1] === import.meta.filename) {
  await buildDashboard();
  console.log(`dashboard built into ${DASHBOARD_OUT}`);
}
