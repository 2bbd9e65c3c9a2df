/** The Docker files cannot run here: check that they agree with the code they deploy. */
import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ConfigSchema, loadConfig } from '../src/config.js';

const root = join(import.meta.dirname, '..');
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true });

describe('docker-compose.yml and Dockerfiles', () => {
  it('names postgres, redis, api, worker, a gpu-profile worker, and monitoring-profile Prometheus and Grafana', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['api', 'grafana', 'postgres', 'prometheus', 'redis', 'worker', 'worker-gpu']);
    expect(compose.services.prometheus.profiles).toEqual(['monitoring']);
    expect(compose.services.grafana.profiles).toEqual(['monitoring']);
    expect(compose.services['worker-gpu'].profiles).toEqual(['gpu']);
    expect(compose.services['worker-gpu'].deploy.resources.reservations.devices[0].capabilities).toEqual(['gpu']);
  });

  it('runs redis with AOF and noeviction', () => {
    const cmd: string[] = compose.services.redis.command;
    expect(cmd.join(' ')).toContain('--appendonly yes');
    expect(cmd.join(' ')).toContain('--maxmemory-policy noeviction');
  });

  it('gives api and workers only environment variables the config schema knows, including the required ones', () => {
    const known = Object.keys(ConfigSchema.properties);
    for (const name of ['api', 'worker', 'worker-gpu']) {
      const env = Object.keys(compose.services[name].environment);
      expect(
        env.filter((k) => !known.includes(k)),
        name,
      ).toEqual([]);
      expect(env).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'ARTIFACT_DIR']));
    }
    expect(compose.services['worker-gpu'].environment.CPC_BACKEND).toBe('node-gpu');
  });

  it('starts entry points that exist in the sources (dist/X.js <- src/X.ts)', () => {
    for (const name of ['api', 'worker', 'worker-gpu']) {
      const [node, script] = compose.services[name].command;
      expect(node).toBe('node');
      expect(existsSync(join(root, script.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))), script).toBe(true);
    }
    for (const file of ['docker/Dockerfile', 'docker/Dockerfile.gpu']) {
      const text = readFileSync(join(root, file), 'utf8');
      for (const m of text.matchAll(/CMD \["node", "(dist\/[^"]+)"\]/g))
        expect(existsSync(join(root, m[1].replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')))).toBe(true);
      for (const m of text.matchAll(/^COPY (?!--from)(\S+) /gm)) expect(existsSync(join(root, m[1])), `${file}: COPY ${m[1]}`).toBe(true);
    }
  });

  it('runs api and workers under an init process that reaps children (compose init, tini in the images)', () => {
    for (const name of ['api', 'worker', 'worker-gpu']) expect(compose.services[name].init, name).toBe(true);
    for (const file of ['docker/Dockerfile', 'docker/Dockerfile.gpu']) {
      const text = readFileSync(join(root, file), 'utf8');
      expect(text, file).toMatch(/apt-get install[^\n]*\btini\b/);
      expect(text, file).toContain('ENTRYPOINT ["/usr/bin/tini", "-s", "--"]');
    }
  });

  it('installs one TensorFlow package per image: tfjs-node in the CPU image, tfjs-node-gpu (CUDA 11.2 base) in the GPU image', () => {
    const cpu = readFileSync(join(root, 'docker/Dockerfile'), 'utf8');
    const gpu = readFileSync(join(root, 'docker/Dockerfile.gpu'), 'utf8');
    for (const [text, keep, drop] of [
      [cpu, 'tfjs-node', 'tfjs-node-gpu'],
      [gpu, 'tfjs-node-gpu', 'tfjs-node'],
    ]) {
      expect(text).toContain('npm ci --no-audit --no-fund --ignore-scripts');
      expect(text).toContain(`rm -rf node_modules/@tensorflow/${drop} `);
      expect(text).toContain(`npm rebuild @tensorflow/${keep} `);
    }
    expect(gpu).toMatch(/ARG CUDA_IMAGE=nvidia\/cuda:11\.2\.\d+-cudnn8-runtime/);
  });

  it('runs both images as UID 1000, with only environment names the config schema knows', () => {
    const known = Object.keys(ConfigSchema.properties);
    const runtimeOnly = ['NODE_ENV'];
    for (const file of ['docker/Dockerfile', 'docker/Dockerfile.gpu']) {
      const text = readFileSync(join(root, file), 'utf8');
      expect(text, file).toMatch(/^USER node$/m);
      const envBlocks = [...text.matchAll(/^ENV ((?:[^\n]*\\\n)*[^\n]*)/gm)].map((m) => m[1]);
      const names = envBlocks.flatMap((b) => [...b.matchAll(/([A-Z_]+)=/g)].map((m) => m[1]));
      expect(
        names.filter((n) => !known.includes(n) && !runtimeOnly.includes(n)),
        file,
      ).toEqual([]);
    }
    // the CPU image's base has `node` as UID 1000; the GPU image makes it
    expect(readFileSync(join(root, 'docker/Dockerfile.gpu'), 'utf8')).toContain('useradd --uid 1000 --gid 1000');
  });

  it('restarts every service unless stopped and health-checks each; workers check the health file their image names', () => {
    for (const [name, service] of Object.entries(
      compose.services as Record<string, { restart?: string; healthcheck?: { test: string[] } }>,
    )) {
      expect(service.restart, name).toBe('unless-stopped');
      expect(service.healthcheck?.test.length, name).toBeGreaterThan(1);
    }
    for (const [name, file] of [
      ['worker', 'docker/Dockerfile'],
      ['worker-gpu', 'docker/Dockerfile.gpu'],
    ]) {
      const healthFile = /WORKER_HEALTH_FILE=(\S+)/.exec(readFileSync(join(root, file), 'utf8'))![1];
      expect(compose.services[name].healthcheck.test.join(' '), name).toContain(healthFile);
    }
    expect(compose.services['worker-gpu'].environment.WORKER_DEVICE).toBe('gpu');
    expect(compose.services.worker.environment.WORKER_DEVICE).toBe('cpu');
  });

  it('has a Grafana dashboard whose queries name only metrics the API and the workers export, scraped where they serve them', () => {
    const dashboard = JSON.parse(readFileSync(join(root, 'docker/grafana/dashboards/cpc-service.json'), 'utf8'));
    const exprs: string[] = dashboard.panels.flatMap((p: { targets: Array<{ expr: string }> }) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThan(10);
    // the names the sources register (prom-client `name: '...'`, and the default metrics under each prefix)
    const sources = ['src/api/routes/metrics.ts', 'src/worker/metrics.ts'].map((f) => readFileSync(join(root, f), 'utf8')).join('\n');
    const declared = new Set([...sources.matchAll(/name: '(cpc_[a-z_]+)'/g)].map((m) => m[1]));
    const prefixes = [...sources.matchAll(/prefix: '(cpc_[a-z_]+_)'/g)].map((m) => m[1]);
    expect(prefixes).toEqual(['cpc_api_', 'cpc_worker_']);
    for (const expr of exprs)
      for (const [name] of expr.matchAll(/\bcpc_[a-z_]+/g)) {
        const base = name.replace(/_(bucket|count|sum)$/, '');
        expect(declared.has(base) || prefixes.some((p) => name.startsWith(`${p}process_`)), `${name} in ${expr}`).toBe(true);
      }
    const prometheus = parse(readFileSync(join(root, 'docker/prometheus.yml'), 'utf8'));
    const targets = prometheus.scrape_configs.flatMap((c: { static_configs: Array<{ targets: string[] }> }) =>
      c.static_configs.flatMap((s) => s.targets),
    );
    expect(targets).toEqual(['api:3000', 'worker:9464', 'worker-gpu:9464']);
    expect(loadConfig({ DATABASE_URL: 'postgresql://x/y', REDIS_URL: 'redis://x' }).WORKER_METRICS_PORT).toBe(9464);
    for (const name of ['worker', 'worker-gpu']) expect(compose.services[name].environment.WORKER_METRICS_HOST).toBe('0.0.0.0');
  });
});
