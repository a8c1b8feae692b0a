/**
 * What a report's files say, read the way people read them: the CSV by column name, the HTML's text and the
 * PDF's text as poppler's pdftotext extracts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { Archive } from '../../nodes/lib/report/archive';
import { checkDefinition } from '../../nodes/lib/report/definition';
import { explicitPeriod } from '../../nodes/lib/report/period';
import { produceReport, type Produced } from '../../nodes/lib/report/produce';
import { storedAlerts } from '../../nodes/lib/report/alert-events';
import { registerEventSource } from '../../nodes/lib/report/sources';
import { alertRows } from '../../nodes/alert/rows';
import type { AlertEvent } from '../../nodes/lib/rules/types';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const MIN = 60_000;
const FROM = Date.UTC(2026, 9, 4);
const TO = FROM + 1440 * MIN;

async function produce(t: { after: (fn: () => unknown) => void }, readings: Reading[], raw: Record<string, unknown>, from = FROM, to = TO, now = TO + MIN): Promise<Produced> {
  const dir = tempDir('us-repc-');
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  await store.write(readings);
  const stop = registerEventSource('alerts', storedAlerts(store));
  t.after(async () => {
    stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const def = checkDefinition({ name: 'content', ...raw });
  return produceReport(def, explicitPeriod(from, to, 'UTC'), { store, archive: new Archive(join(dir, 'reports')), now, keep: 0, trigger: 'api' });
}

function file(r: Produced, ext: string): Buffer {
  return r.files.find((f) => f.name.endsWith(ext))!.data;
}

/** CSV rows as objects keyed by the header (no quoted commas in these reports). */
function csvRows(r: Produced): Array<Record<string, string>> {
  const [head, ...lines] = file(r, '.csv').toString('utf8').trimEnd().split('\r\n');
  const names = head.split(',');
  return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [names[i], v])));
}

function pdfText(r: Produced): string {
  const dir = tempDir('us-repc-pdf-');
  try {
    const path = join(dir, 'r.pdf');
    writeFileSync(path, file(r, '.pdf'));
    return execFileSync('pdftotext', ['-layout', path, '-']).toString('utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function htmlText(r: Produced): string {
  return file(r, '.html').toString('utf8').replace(/<[^>]+>/g, ' ').replace(/&times;/g, '×');
}

test('the integral of a field without a unit has no dangling "·h": CSV, HTML and PDF say it is value × hours', async (t) => {
  const readings: Reading[] = [];
  for (let i = 0; i < 1440; i++) readings.push({ device: 'm1', ts: FROM + i * MIN, fields: { flow: 2, power: 1000 }, tags: {} });
  const r = await produce(t, readings, { fields: ['flow', 'power'], units: { power: 'W' } });
  const rows = csvRows(r);
  const flow = rows.find((x) => x.field === 'flow')!;
  const power = rows.find((x) => x.field === 'power')!;
  assert.equal(Number(flow.integral), (2 * 1439) / 60);
  assert.equal(flow.integral_unit, '');
  assert.equal(flow.integral_per, 'h');
  assert.equal(power.integral_unit, 'W·h');
  assert.equal(power.integral_per, 'h');
  for (const [what, text] of [['HTML', htmlText(r)], ['PDF', pdfText(r)]]) {
    assert.doesNotMatch(text, /(^|[\s(])·h/m, `${what}: no unit-less "·h"`);
    assert.match(text, /integral 47\.967 \(value × hours\)/, `${what}: flow's integral`);
    assert.match(text, /integral 23,983\.333 W·h/, `${what}: power's integral`);
  }
});

test('alert transitions stored beside the readings stay out of the field tables and count under "alerts raised"; the device keeps its tags', async (t) => {
  const readings: Reading[] = [];
  for (let i = 0; i < 1440; i++) readings.push({ device: 'boiler', ts: FROM + i * MIN, fields: { temp: i >= 600 && i < 700 ? 95 : 60 }, tags: { site: 'north' } });
  // As the alert node writes them, the last row of the period being an alert's.
  const alert = (event: 'firing' | 'cleared', ts: number): AlertEvent => ({
    id: 'hot:boiler', rule: 'hot', ruleName: 'hot', device: 'boiler', event, state: event, previous: 'inactive', severity: 'critical',
    ts, message: 'boiler too hot', reason: 'temp 95 above 90', since: ts, occurrences: 1, notify: true,
  });
  readings.push(...alertRows([alert('firing', FROM + 600 * MIN), alert('cleared', TO - 1)]));
  const r = await produce(t, readings, { devices: { mode: 'tag', tag: 'site', value: 'north' } });
  assert.deepEqual(r.data.devices, ['boiler'], 'selected by its own tag, not by the alert\'s');
  assert.deepEqual(r.data.series.map((s) => s.field), ['temp']);
  assert.deepEqual(r.data.series[0].tags, { site: 'north' });
  assert.deepEqual(csvRows(r).map((x) => x.field), ['temp']);
  assert.equal(r.data.alerts.total, 1);
  const html = htmlText(r);
  assert.doesNotMatch(html, /alert\.hot/);
  assert.match(html, /Alerts raised: 1/);
  assert.match(html, /critical: boiler too hot/);
  assert.doesNotMatch(pdfText(r), /alert\.hot/);
});
