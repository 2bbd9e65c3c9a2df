/**
 * The dashboard in a real headless Chromium (Debian's, driven by
 * playwright-core): enter the key, submit a CPC job from the page and watch its
 * curve move over the event stream, open every page without a script or CSP
 * error, draw a digit and get a prediction from a registered model. Saves
 * screenshots into .local/screenshots (UPDATE_SCREENSHOTS=1: into
 * test/screenshots, the ones the README shows).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildDashboard } from '../../scripts/build-dashboard.js';
import { api, startHarness, waitFor, type Harness } from './harness.js';
import { tinyConfig, trainDigitsModel } from './fixtures.js';

const root = join(import.meta.dirname, '..', '..');
const shots = process.env.UPDATE_SCREENSHOTS ? join(root, 'test', 'screenshots') : join(root, '.local', 'screenshots');

let h: Harness;
let browser: Browser;
let page: Page;
const problems: string[] = [];

beforeAll(async () => {
  const found = spawnSync('bash', [join(root, 'scripts', 'chromium.sh')], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error(`no Chromium for the browser test: ${found.stderr}`);
  await buildDashboard();
  h = await startHarness();
  await trainDigitsModel(h);
  browser = await chromium.launch({
    executablePath: found.stdout.trim(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.request().method()} ${r.url()}`));
  mkdirSync(shots, { recursive: true });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await h?.stop();
});

const shoot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

describe('the dashboard in headless Chromium', () => {
  it('is served at / with its assets; unknown paths keep the API 404', async () => {
    const index = await fetch(`${h.baseUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    // images the dashboard fetched with the key are blob: URLs; plain HTTP on a LAN address must not turn into https
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/img-src 'self' data: blob:/);
    expect(csp).not.toMatch(/upgrade-insecure-requests/);
    expect((await fetch(`${h.baseUrl}/assets/main.js`)).status).toBe(200);
    const unknown = await api(h, 'GET', '/assets/nothing.js');
    expect(unknown.status).toBe(404);
    expect(unknown.json.message).toMatch(/no route/);
  });

  it('takes the key once, submits a job and shows its curves moving until it succeeds', async () => {
    await page.goto(`${h.baseUrl}/`);
    await page.fill('input[name=api-key]', h.adminKey);
    await page.click('text=Use key');
    // (kept for the tab: a reload does not ask again)
    await page.reload();
    expect(await page.locator('input[name=api-key]').count()).toBe(0);
    // (and before the key it sent nothing: no 401s)
    expect(problems).toEqual([]);
    await page.waitForSelector('table.jobs tbody tr');

    await page.click('text=Submit a CPC job');
    const form = page.locator('form[name=submit-job]');
    await form.locator('input[name=epochs]').fill('2');
    await form.locator('input[name=stepsPerEpoch]').fill('10');
    await form.locator('input[name=batchSize]').fill('8');
    await form.locator('input[name=probe]').uncheck();
    await form.locator('button[type=submit]').click();
    await page.waitForURL(/#\/jobs\/job_/);
    const jobId = page.url().split('/').pop()!;

    // the accuracy chart (train, validation, chance) gains points while the job runs
    const points = () => page.locator('.chart').nth(1).getAttribute('data-points').then(Number);
    const first = await waitFor('the first points on the curve', async () => ((await points()) > 0 ? points() : null), 180_000);
    await waitFor('more points on the curve', async () => (await points()) > first, 180_000);
    await waitFor('the job to succeed on the page', async () => (await page.locator('h2 .status').textContent()) === 'succeeded', 180_000);
    const row = (await api(h, 'GET', `/v1/jobs/${jobId}`)).json;
    expect(row.status).toBe('succeeded');
    expect(row.config).toMatchObject({ epochs: 2, stepsPerEpoch: 10, batchSize: 8 });
    // every train metric row the job wrote is on the chart (history, then the stream, no duplicates)
    const stored = (await api(h, 'GET', `/v1/jobs/${jobId}/metrics?split=train&name=accuracy`)).json.items.length;
    const chance = (await api(h, 'GET', `/v1/jobs/${jobId}/metrics?split=train&name=chance`)).json.items.length;
    const valid = (await api(h, 'GET', `/v1/jobs/${jobId}/metrics?split=valid&name=accuracy`)).json.items.length;
    await waitFor('every stored point on the chart', async () => (await points()) === stored + chance + valid, 10_000);
    await shoot('job');
  });

  it('draws a digit on the canvas and shows the prediction with a bar per class', async () => {
    await page.goto(`${h.baseUrl}/#/draw/digits`);
    const pad = await page.locator('canvas.pad').boundingBox();
    // a "1": one vertical stroke
    await page.mouse.move(pad!.x + 140, pad!.y + 40);
    await page.mouse.down();
    for (let y = 40; y <= 240; y += 20) await page.mouse.move(pad!.x + 140, pad!.y + y);
    await page.mouse.up();
    await page.click('text=Predict');
    const answer = await page.waitForSelector('.prediction');
    expect(await answer.getAttribute('data-label')).toMatch(/^[0-9]$/);
    expect(await page.locator('.prediction .bar').count()).toBe(10);
    // the nearest training images, each a decoded 28×28 picture with its class
    expect(await page.locator('.neighbours figure').count()).toBe(8);
    expect(
      await page
        .locator('.neighbours img')
        .first()
        .evaluate((img: HTMLImageElement) => [img.naturalWidth, img.complete]),
    ).toEqual([28, true]);
    expect(await page.locator('.neighbours figcaption').first().textContent()).toMatch(/^[0-9] [0-9.]+$/);
    await shoot('draw');
  });

  it('opens every page without a script error or a refused resource', async () => {
    for (const [hash, selector] of [
      ['#/experiments', 'h2'],
      ['#/models', 'table.versions tbody tr'],
      ['#/datasets', 'img.preview'],
      ['#/jobs', 'table.jobs tbody tr'],
    ]) {
      await page.goto(`${h.baseUrl}/${hash}`);
      await page.waitForSelector(selector);
      await shoot(hash.slice(2));
    }
    expect(problems).toEqual([]);
  });

  it('follows an experiment live: a job added and cancelled shows up without a reload', async () => {
    const experiment = (await api(h, 'POST', '/v1/experiments', { name: 'watched' })).json;
    await page.goto(`${h.baseUrl}/#/experiments/${experiment.id}`);
    await page.waitForSelector('h2 .status-empty');
    // (a GPU job: no GPU worker here, so it waits until cancelled)
    const job = (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'gpu', experimentId: experiment.id, config: tinyConfig() })).json;
    await page.waitForSelector('h2 .status-queued');
    await page.waitForSelector(`a[href="#/jobs/${job.id}"]`);
    await api(h, 'POST', `/v1/jobs/${job.id}/cancel`);
    await page.waitForSelector('h2 .status-cancelled');
    expect(problems).toEqual([]);
  });
});
