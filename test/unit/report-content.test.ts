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
import { computeReport } from '../../nodes/lib/report/compute';
import { reportCsv } from '../../nodes/lib/report/render';
import { storedAlerts } from '../../nodes/lib/report/alert-events';
import { registerEventSource } from '../../nodes/lib/report/sources';
import { alertRows } from '../../nodes/alert/rows';
import type { AlertEvent } from '../../nodes/lib/rules/types';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from '../helpers/temp';

const MIN = 60_000;
const FROM = Date.UTC(2026, 9, 4);
const TO = FROM + 1440 * MIN;

async function produce(t: { after: (fn: () => unknown) => void }, readings: Reading[], raw: Record<string, unknown>, from = FROM, to = TO, now = TO + MIN, zone = 'UTC'): Promise<Produced> {
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
  return produceReport(def, explicitPeriod(from, to, zone), { store, archive: new Archive(join(dir, 'reports')), now, keep: 0, trigger: 'api' });
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

test('a period not over yet ("this month" mid-month) counts gaps and completeness up to now, and says so', async (t) => {
  const month = Date.UTC(2026, 9, 1);
  const nextMonth = Date.UTC(2026, 10, 1);
  const now = Date.UTC(2026, 9, 15, 12, 0, 30);
  const every = 5 * MIN;
  const readings: Reading[] = [];
  // Every 5 minutes up to now, with one outage of an hour on the 10th.
  const outage = [Date.UTC(2026, 9, 10, 8), Date.UTC(2026, 9, 10, 9)];
  for (let ts = month; ts < now; ts += every) if (ts < outage[0] || ts >= outage[1]) readings.push({ device: 'm1', ts, fields: { power: 500 }, tags: {} });
  const r = await produce(t, readings, { fields: ['power'], units: { power: 'W' } }, month, nextMonth, now);
  const elapsedSlots = Math.round((now - month) / every);
  const s = r.data.series[0].stats;
  assert.equal(s.count, readings.length);
  assert.deepEqual(s.gaps.map((g) => [new Date(g.from).toISOString(), new Date(g.to).toISOString()]), [['2026-10-10T07:55:00.000Z', '2026-10-10T09:00:00.000Z']], 'only the outage, not the rest of the month');
  assert.equal(s.completeness?.expected, elapsedSlots);
  assert.equal(csvRows(r)[0].gaps, '1');
  assert.equal(csvRows(r)[0].completeness_pct, ((readings.length / elapsedSlots) * 100).toFixed(2));
  const json = JSON.parse(file(r, '.json').toString('utf8'));
  assert.equal(json.period.finished, false);
  assert.equal(json.period.coveredUntil, new Date(now).toISOString());
  // The CSV says the same on every row, in columns after the others, so the ones read by position stay put.
  const head = file(r, '.csv').toString('utf8').split('\r\n')[0].split(',');
  assert.deepEqual(head.slice(-5), ['integral_per', 'period_finished', 'period_covered_until', 'period_incomplete', 'period_raw_readings_since']);
  assert.equal(csvRows(r)[0].period_finished, 'false');
  assert.equal(Date.parse(csvRows(r)[0].period_covered_until), now);
  assert.equal(r.entry.period.finished, false);
  assert.equal(r.entry.period.coveredUntil, new Date(now).toISOString());
  const says = /This period is not over yet: gaps and completeness cover it up to 2026-10-15 12:00, not the time still to come\./;
  assert.match(htmlText(r), says);
  assert.match(pdfText(r).replace(/\s+/g, ' '), says);

  // A period that is over says nothing of the kind.
  const over = await produce(t, readings, { fields: ['power'] }, month, nextMonth, nextMonth + MIN);
  assert.equal(JSON.parse(file(over, '.json').toString('utf8')).period.finished, true);
  assert.deepEqual([csvRows(over)[0].period_finished, csvRows(over)[0].period_covered_until], ['true', '']);
  assert.deepEqual([over.entry.period.finished, over.entry.period.coveredUntil], [true, undefined]);
  assert.doesNotMatch(htmlText(over), /not over yet/);
  assert.equal(over.data.series[0].stats.gapCount, 2, 'the outage and the rest of the month, now that it has passed');
});

test('one reading then silence: with the interval known earlier or set, the silence before and after it are gaps and completeness is a number', async (t) => {
  const readings: Reading[] = [];
  // Known the day before, every 10 minutes; in the period one reading at 06:00, then nothing.
  for (let ts = FROM - 1440 * MIN; ts < FROM; ts += 10 * MIN) readings.push({ device: 'q1', ts, fields: { power: 5 }, tags: {} });
  const six = FROM + 360 * MIN;
  readings.push({ device: 'q1', ts: six, fields: { power: 7 }, tags: {} });
  const auto = await produce(t, readings, { devices: { mode: 'list', list: ['q1'] }, fields: ['power'] });
  const s = auto.data.series[0].stats;
  assert.equal(s.count, 1);
  assert.deepEqual(s.gaps.map((g) => [g.from, g.to]), [[FROM, six], [six, TO]], 'the silence before the reading and after it, up to the period end');
  assert.deepEqual(s.completeness, { expectedEveryMs: 10 * MIN, expected: 144, received: 1, percent: (1 / 144) * 100 });
  assert.equal(csvRows(auto)[0].gaps, '2');
  assert.equal(csvRows(auto)[0].completeness_pct, ((1 / 144) * 100).toFixed(2));
  assert.match(htmlText(auto), /completeness 0\.7% \(1 of 144, every 10m\)/);

  // Never heard from before, with the interval set: the same from the setting.
  const set = await produce(t, [readings.at(-1)!], { devices: { mode: 'list', list: ['q1'] }, fields: ['power'], expectedEvery: '10m' });
  assert.equal(set.data.series[0].stats.gapCount, 2);
  assert.equal(set.data.series[0].stats.completeness?.expected, 144);
});

test('one reading of a device never heard from before, on auto: completeness and gaps are said to be unknown, not blank or 0', async (t) => {
  const r = await produce(t, [{ device: 'q2', ts: FROM + 360 * MIN, fields: { power: 7 }, tags: {} }], { devices: { mode: 'list', list: ['q2'] }, fields: ['power'] });
  const s = r.data.series[0].stats;
  assert.equal(s.completeness, null);
  assert.equal(s.expectedEveryMs, null);
  const says = /completeness and gaps unknown: one reading and no expected interval/;
  assert.match(htmlText(r), says);
  assert.match(pdfText(r).replace(/\s+/g, ' '), says);
  assert.match(file(r, '.html').toString('utf8'), /<td>unknown<\/td><td>unknown<\/td><\/tr>/, 'the summary table says it too');
  // CSV: the number columns stay numbers; empty is "not known", never a 0 gaps that was not looked for.
  assert.deepEqual([csvRows(r)[0].completeness_pct, csvRows(r)[0].gaps], ['', '']);
  assert.equal(JSON.parse(file(r, '.json').toString('utf8')).series[0].expectedEveryMs, null);
});

test('a period retention cut into is flagged incomplete in the CSV too, on every row, in columns after the others', async (t) => {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  t.after(() => store.close());
  const readings: Reading[] = [];
  for (let ts = FROM + 600 * MIN; ts < TO; ts += 10 * MIN) for (const device of ['c1', 'c2']) readings.push({ device, ts, fields: { power: 3 }, tags: {} });
  await store.write(readings);
  const since = FROM + 600 * MIN;
  const def = checkDefinition({ name: 'cut', fields: ['power'] });
  const whole = reportCsv(await computeReport(def, explicitPeriod(FROM, TO, 'UTC'), { store, now: TO + MIN }));
  // As a retention pass that deleted the raw readings before 10:00 leaves it.
  store.rawSince = async () => since;
  const cut = reportCsv(await computeReport(def, explicitPeriod(FROM, TO, 'UTC'), { store, now: TO + MIN }));
  const rows = (csv: string) => {
    const [head, ...lines] = csv.trimEnd().split('\r\n');
    return lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [head.split(',')[i], v])));
  };
  assert.equal(rows(cut).length, 2);
  for (const row of rows(cut)) {
    assert.equal(row.period_incomplete, 'true');
    assert.equal(Date.parse(row.period_raw_readings_since), since);
  }
  for (const row of rows(whole)) assert.deepEqual([row.period_incomplete, row.period_raw_readings_since], ['false', '']);
  // Appended: the 24 columns before stay where they were, for sheets that read them by position.
  const head = cut.split('\r\n')[0].split(',');
  assert.deepEqual([head.length, head.indexOf('period_covered_until')], [26, 23]);
});

test('a gap shorter than a minute, or within one minute, is listed with seconds; a longer one across minutes with minutes', async (t) => {
  const from = Date.UTC(2026, 9, 4, 20, 34);
  const to = from + 3 * MIN;
  const SEC = 1000;
  const readings: Reading[] = [];
  // One reading a second, but none from 20:34:10 to 20:34:18 nor from 20:35:20 to 20:36:30.
  for (let ts = from; ts < to; ts += SEC) {
    const off = (ts - from) / SEC;
    if ((off > 10 && off < 18) || (off > 80 && off < 150)) continue;
    readings.push({ device: 'm1', ts, fields: { power: 1 }, tags: {} });
  }
  const r = await produce(t, readings, { fields: ['power'], expectedEvery: '1s', gapsLongerThan: '5s' }, from, to, to + MIN);
  assert.deepEqual(r.data.series[0].stats.gaps.map((g) => g.ms), [8 * SEC, 70 * SEC]);
  for (const [what, text] of [['HTML', htmlText(r)], ['PDF', pdfText(r)]]) {
    assert.match(text, /2026-10-04 20:34:10 – 2026-10-04 20:34:18 \(8s\)/, `${what}: the short gap`);
    assert.match(text, /2026-10-04 20:35 – 2026-10-04 20:36 \(1m 10s\)/, `${what}: the long gap`);
  }
});

test('a Berlin report of the day the clocks go back: times in the repeated hour carry CEST or CET, the zone is named once with both', async (t) => {
  // Berlin's 25 October 2026 runs from 22:00 UTC the day before for 25 hours; 02:00 – 03:00 comes twice, at 00:00 and 01:00 UTC.
  const from = Date.UTC(2026, 9, 24, 22);
  const to = Date.UTC(2026, 9, 25, 23);
  const first = Date.UTC(2026, 9, 25, 0, 30, 5); // 02:30:05 CEST
  const second = first + 60 * MIN; // 02:30:05 CET
  const later = Date.UTC(2026, 9, 25, 9); // 10:00:00 CET, a time the clock shows once
  const readings: Reading[] = [];
  // A reading a minute, none from 02:39 CEST to 02:19 CET: a gap from the last before (02:38) to the first after.
  for (let ts = from; ts < to; ts += MIN) if (ts < Date.UTC(2026, 9, 25, 0, 39) || ts >= Date.UTC(2026, 9, 25, 1, 20)) readings.push({ device: 'boiler', ts, fields: { temp: 60 }, tags: {} });
  // Three occurrences of one alert, as the alert node writes them.
  const alert = (event: 'firing' | 'cleared', ts: number, occurrences: number): AlertEvent => ({
    id: 'hot:boiler', rule: 'hot', ruleName: 'hot', device: 'boiler', event, state: event, previous: 'inactive', severity: 'critical',
    ts, message: 'boiler too hot', reason: 'temp 95 above 90', since: ts, occurrences, notify: true,
  });
  readings.push(...alertRows([alert('firing', first, 1), alert('cleared', first + 5 * MIN, 1), alert('firing', second, 2), alert('cleared', second + 5 * MIN, 2), alert('firing', later, 3)]));
  const r = await produce(t, readings, { fields: ['temp'] }, from, to, to + MIN, 'Europe/Berlin');
  assert.equal(r.data.alerts.total, 3);
  for (const [what, text] of [['HTML', htmlText(r).replace(/\s+/g, ' ')], ['PDF', pdfText(r).replace(/\s+/g, ' ')]]) {
    assert.match(text, /2026-10-25 02:30:05 CEST boiler: critical: boiler too hot/, `${what}: the first of the two`);
    assert.match(text, /2026-10-25 02:30:05 CET boiler: critical: boiler too hot/, `${what}: the second`);
    assert.match(text, /2026-10-25 10:00:00 boiler: critical/, `${what}: a time the clock shows once needs no name`);
    assert.match(text, /2026-10-25 02:38 CEST – 2026-10-25 02:20 CET \(42m\)/, `${what}: the gap across the change`);
    assert.match(text, /\(2026-10-25 00:00 – 2026-10-26 00:00\)(?: ·)? times in Europe\/Berlin \(CET\/CEST\) · 1 device/, `${what}: the zone named once`);
    assert.equal(text.match(/Europe\/Berlin/g)?.length, 1, `${what}: once`);
  }
  // The JSON and CSV keep instants: UTC in the JSON, offsets in the CSV.
  const json = JSON.parse(file(r, '.json').toString('utf8'));
  assert.deepEqual(json.alerts.items.map((i: { ts: string }) => i.ts), [new Date(first).toISOString(), new Date(second).toISOString(), new Date(later).toISOString()]);
  assert.equal(csvRows(r)[0].last_ts, '2026-10-25T23:59:00+01:00');
});

test('more readings than the interval gives: completeness stays at 100% and the extra readings are said plainly, in every file', async (t) => {
  const readings: Reading[] = [];
  // An hour expected every minute: 60 readings; the device sent 4 more (a resend each quarter hour).
  for (let i = 0; i < 60; i++) readings.push({ device: 'fast', ts: FROM + i * MIN, fields: { power: 3 }, tags: {} });
  for (let i = 0; i < 4; i++) readings.push({ device: 'fast', ts: FROM + i * 15 * MIN + 30_000, fields: { power: 3 }, tags: {} });
  const r = await produce(t, readings, { fields: ['power'], expectedEvery: '1m', formats: ['csv', 'json', 'html', 'pdf'] }, FROM, FROM + 60 * MIN, FROM + 61 * MIN);
  const says = /completeness 100% \(60 expected every 1m, 64 received: 4 more than the interval gives\)/;
  for (const [what, text] of [['HTML', htmlText(r)], ['PDF', pdfText(r)]]) {
    const plain = text.replace(/\s+/g, ' ');
    assert.match(plain, says, what);
    assert.doesNotMatch(plain, /64 of 60/, what);
  }
  assert.equal(csvRows(r)[0].completeness_pct, '100.00');
  assert.equal(csvRows(r)[0].count, '64');
  const json = JSON.parse(file(r, '.json').toString('utf8')) as { series: Array<{ completeness: { percent: number; expected: number; received: number } }> };
  assert.deepEqual(json.series[0].completeness, { expectedEveryMs: MIN, expected: 60, received: 64, percent: 100 });
});
