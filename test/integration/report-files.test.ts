/**
 * The report's PDF and HTML as people open them: the PDF rasterised by
 * Debian's pdftoppm (poppler-utils) must show a plotted chart on page 1; the
 * HTML is rendered offline by headless Chromium and kept as a screenshot in
 * test-artifacts/ (ARTIFACTS_DIR to put it elsewhere).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { Archive } from '../../nodes/lib/report/archive';
import { checkDefinition } from '../../nodes/lib/report/definition';
import { periodAt } from '../../nodes/lib/report/period';
import { produceReport, type Produced } from '../../nodes/lib/report/produce';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';
import { launchBrowser } from '../helpers/editor-page';

const ROOT = join(__dirname, '..', '..', '..');
const ARTIFACTS = process.env.ARTIFACTS_DIR ?? join(ROOT, 'test-artifacts');
const MIN = 60_000;

/** A day of a heating circuit: two devices, power and temperature, an outage, a hot afternoon. */
async function produce(dir: string): Promise<Produced> {
  const period = periodAt('previous-day', Date.parse('2026-10-05T04:00:00Z'), 'Europe/Berlin');
  const readings: Reading[] = [];
  for (const [device, scale] of [['heat-pump-1', 1], ['heat-pump-2', 0.7]] as const) {
    for (let i = 0; i < 1440; i += 2) {
      if (device === 'heat-pump-2' && i > 600 && i < 700) continue;
      const h = i / 60;
      readings.push({
        device,
        ts: period.from + i * MIN,
        fields: { power: Math.round(scale * (1800 + 900 * Math.sin((h - 6) / 3.8) + ((i * 37) % 97))), flow_temp: 35 + 8 * Math.sin((h - 8) / 4) + scale },
        tags: { site: 'north', customer: 'acme' },
      });
    }
  }
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  await store.write(readings);
  try {
    const def = checkDefinition({
      name: 'Heating daily',
      title: 'Heating – daily report',
      devices: { mode: 'tag', tag: 'site', value: 'north' },
      fields: ['power', 'flow_temp'],
      timezone: 'Europe/Berlin',
      gapsLongerThan: '10m',
      thresholds: { flow_temp: { above: 42 }, power: { above: 2500 } },
      units: { power: 'W', flow_temp: '°C' },
    });
    return await produceReport(def, period, { store, archive: new Archive(join(dir, 'reports')), now: period.to + 6 * 3_600_000, keep: 10, trigger: 'test' });
  } finally {
    await store.close();
  }
}

function readPpm(path: string): { w: number; h: number; px: Buffer } {
  const buf = readFileSync(path);
  const m = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(buf.subarray(0, 64).toString('latin1'));
  assert.ok(m, 'pdftoppm wrote a binary PPM');
  return { w: Number(m[1]), h: Number(m[2]), px: buf.subarray(m[0].length) };
}

test('the PDF has a plotted chart on page 1 (pdftoppm)', async (t) => {
  const dir = tempDir('us-pdf-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await produce(dir);
  const pdf = join(dir, 'report.pdf');
  writeFileSync(pdf, r.files.find((f) => f.name.endsWith('.pdf'))!.data);
  execFileSync('pdftoppm', ['-f', '1', '-l', '1', '-r', '60', pdf, join(dir, 'page')]);
  const { w, h, px } = readPpm(join(dir, 'page-1.ppm'));
  // The series line is blue (#1f5f99); text is black or grey. Count the columns and rows it covers.
  const cols = new Set<number>();
  const rows = new Set<number>();
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      if (px[i + 2] - px[i] > 80 && px[i + 2] > 110) {
        cols.add(x);
        rows.add(y);
      }
    }
  }
  assert.ok(cols.size > w * 0.6, `the plotted line spans ${cols.size} of ${w} columns`);
  assert.ok(rows.size > 15, `the plotted line spans ${rows.size} rows (not a flat rule)`);
  const text = execFileSync('pdftotext', ['-f', '1', '-l', '1', pdf, '-']).toString();
  assert.match(text, /Heating – daily report/);
  assert.match(text, /heat-pump-1/);
  // Anomalies were not asked for: the PDF says so, as the HTML does, rather than that they cannot be had.
  assert.match(text, /Anomalies flagged: not included in this report/);
});

/** A report produced into a fresh folder, its HTML written to report.html and a Chromium page of `width` px to open it in. */
async function htmlAndPage(t: TestContext, width: number): Promise<{ file: string; page: Page }> {
  const dir = tempDir('us-html-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = await produce(dir);
  const file = join(dir, 'report.html');
  writeFileSync(file, r.files.find((f) => f.name.endsWith('.html'))!.data);
  const browser = await launchBrowser();
  t.after(() => browser.close());
  return { file, page: await browser.newPage({ viewport: { width, height: 800 } }) };
}

test('the HTML renders offline in headless Chromium; screenshot kept as an artifact', async (t) => {
  const { file, page } = await htmlAndPage(t, 1000);
  const outside: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('file:')) return route.continue();
    outside.push(url);
    return route.abort();
  });
  await page.goto(`file://${file}`);
  const charts = await page.$$eval('svg.chart', (els) => els.map((e) => ({ w: e.getBoundingClientRect().width, lines: e.querySelectorAll('polyline').length })));
  assert.equal(charts.length, 4);
  assert.ok(charts.every((c) => c.w > 300 && c.lines > 0), JSON.stringify(charts));
  assert.deepEqual(outside, [], 'the page loads nothing from outside');
  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'report-html.png');
  await page.screenshot({ path: shot, fullPage: true });
  assert.ok(statSync(shot).size > 20_000, 'a screenshot with content');
});

test('the HTML on a phone: the page is no wider than the screen; the summary table scrolls in its own box', async (t) => {
  const { file, page } = await htmlAndPage(t, 390);
  await page.goto(`file://${file}`);
  const widths = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    screen: window.innerWidth,
    tables: Array.from(document.querySelectorAll('table')).map((t) => ({ table: t.scrollWidth, box: t.parentElement!.clientWidth, scrolls: getComputedStyle(t.parentElement!).overflowX })),
  }));
  assert.ok(widths.page <= widths.screen, JSON.stringify(widths));
  const summary = widths.tables[0];
  assert.ok(summary.table > summary.box && summary.scrolls === 'auto', `the summary is wider than a phone and scrolls on its own: ${JSON.stringify(widths)}`);
});
