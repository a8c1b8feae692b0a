/**
 * A device chosen by name or tag that sent nothing in the period: its silence is in the report (count 0,
 * completeness 0, the period one gap), not a report without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { computeReport } from '../../nodes/lib/report/compute';
import { checkDefinition } from '../../nodes/lib/report/definition';
import { explicitPeriod } from '../../nodes/lib/report/period';
import { reportCsv, reportHtml, reportJson } from '../../nodes/lib/report/render';
import type { Reading } from '../../nodes/lib/reading';

const HOUR = 3_600_000;
const FROM = Date.UTC(2026, 10, 25);
const TO = FROM + 24 * HOUR;

async function report(t: { after: (fn: () => unknown) => void }, readings: Reading[], raw: Record<string, unknown>, isRetired?: (device: string) => boolean) {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  t.after(() => store.close());
  await store.write(readings);
  const data = await computeReport(checkDefinition({ name: 'silent', expectedEvery: '1h', ...raw }), explicitPeriod(FROM, TO, 'UTC'), { store, isRetired, now: TO + HOUR });
  const [head, ...lines] = reportCsv(data).trimEnd().split('\r\n');
  const rows = lines.map((l) => Object.fromEntries(l.split(',').map((v, i) => [head.split(',')[i], v])));
  return { data, rows };
}

/** meter1 read hourly until three days before the period, then nothing; meter2 read hourly through the period. */
function readings(): Reading[] {
  const out: Reading[] = [];
  for (let ts = FROM - 5 * 24 * HOUR; ts < FROM - 3 * 24 * HOUR; ts += HOUR) out.push({ device: 'meter1', ts, fields: { power: 5, energy: 1 }, tags: { site: 'north' } });
  for (let ts = FROM; ts < TO; ts += HOUR) out.push({ device: 'meter2', ts, fields: { power: 7 }, tags: { site: 'north' } });
  return out;
}

test('a listed device silent in the period, fields left empty: a row per field it had before, count 0 and the period one gap', async (t) => {
  const { data, rows } = await report(t, readings(), { devices: { mode: 'list', list: ['meter1'] } });
  assert.deepEqual(data.series.map((s) => [s.device, s.field, s.stats.count, s.stats.completeness?.percent, s.stats.gaps.map((g) => g.ms / 1000)]), [
    ['meter1', 'energy', 0, 0, [86400]],
    ['meter1', 'power', 0, 0, [86400]],
  ]);
  assert.deepEqual(data.series[0].tags, { site: 'north' });
  assert.deepEqual(rows.map((r) => [r.device, r.field, r.count, r.completeness_pct, r.gaps, r.longest_gap_s]), [
    ['meter1', 'energy', '0', '0.00', '1', '86400'],
    ['meter1', 'power', '0', '0.00', '1', '86400'],
  ]);
});

test('a device chosen by tag and silent in the period is listed beside those that sent readings', async (t) => {
  const { data } = await report(t, readings(), { devices: { mode: 'tag', tag: 'site', value: 'north' } });
  assert.deepEqual(data.devices, ['meter1', 'meter2']);
  assert.deepEqual(data.series.map((s) => [s.device, s.field, s.stats.count]), [
    ['meter1', 'energy', 0],
    ['meter1', 'power', 0],
    ['meter2', 'power', 24],
  ]);
  // A device known only under another tag is not chosen.
  const south = await report(t, readings(), { devices: { mode: 'tag', tag: 'site', value: 'south' } });
  assert.deepEqual(south.data.series, []);
});

test('a listed device the store knows nothing of gets one row without a field: count 0, completeness 0', async (t) => {
  const { data, rows } = await report(t, readings(), { devices: { mode: 'list', list: ['meter2', 'meter9'] } });
  assert.deepEqual(data.series.map((s) => [s.device, s.field, s.stats.count]), [['meter2', 'power', 24], ['meter9', '', 0]]);
  assert.deepEqual([rows[1].device, rows[1].field, rows[1].count, rows[1].completeness_pct, rows[1].gaps], ['meter9', '', '0', '0.00', '1']);
});

test('the CSV names the integral\'s time unit on a row without readings too (integral_per), its integral empty', async (t) => {
  const { rows } = await report(t, readings(), { devices: { mode: 'list', list: ['meter1', 'meter9'] }, integralPer: 'd' });
  assert.deepEqual(rows.map((r) => [r.device, r.field, r.integral, r.integral_per]), [
    ['meter1', 'energy', '', 'd'],
    ['meter1', 'power', '', 'd'],
    ['meter9', '', '', 'd'],
  ]);
});

test('the devices silent in the period are looked up in the weeks before it, not in the whole history, with the same report', async (t) => {
  const store = new DuckDbStore({ path: ':memory:' });
  await store.open();
  t.after(() => store.close());
  // Two months of hourly history before meter1 fell silent.
  const old: Reading[] = [];
  for (let ts = FROM - 60 * 24 * HOUR; ts < FROM - 5 * 24 * HOUR; ts += HOUR) old.push({ device: 'meter1', ts, fields: { power: 5, energy: 1 }, tags: { site: 'north' } });
  await store.write([...old, ...readings()]);
  const asked: { from?: number; to: number }[] = [];
  const directory = { devices: (range: { from?: number; to: number }) => (asked.push(range), store.devices!(range)) };
  const def = checkDefinition({ name: 'silent', expectedEvery: '1h', devices: { mode: 'tag', tag: 'site', value: 'north' } });
  const data = await computeReport(def, explicitPeriod(FROM, TO, 'UTC'), { store, directory, now: TO + HOUR });
  assert.deepEqual(data.series.map((s) => [s.device, s.field, s.stats.count]), [
    ['meter1', 'energy', 0],
    ['meter1', 'power', 0],
    ['meter2', 'power', 24],
  ]);
  assert.deepEqual(data.series[0].tags, { site: 'north' });
  const before = asked.filter((r) => r.to === FROM);
  assert.equal(before.length, 1);
  assert.equal(before[0].from, FROM - 7 * 24 * HOUR);
});

test('a device retired in the device registry that sent nothing in the period is left out, by tag and by name, and the report says so', async (t) => {
  const isRetired = (device: string) => device === 'meter1' || device === 'meter2';
  // By tag: meter1 (silent, retired) left out; meter2 (retired during the period, but it sent readings) kept.
  const byTag = await report(t, readings(), { devices: { mode: 'tag', tag: 'site', value: 'north' } }, isRetired);
  assert.deepEqual(byTag.data.devices, ['meter2']);
  assert.deepEqual(byTag.data.retired, ['meter1']);
  assert.deepEqual(byTag.data.series.map((s) => [s.device, s.field, s.stats.count]), [['meter2', 'power', 24]]);
  assert.match(reportHtml(byTag.data, 'r1'), /Left out: 1 device retired in the device registry that sent nothing in this period \(meter1\)/);
  assert.deepEqual((JSON.parse(reportJson(byTag.data, 'r1')) as { retired: string[] }).retired, ['meter1']);
  // By name, fields named: the same, whether or not the directory was needed for the others.
  const byName = await report(t, readings(), { devices: { mode: 'list', list: ['meter1', 'meter2', 'meter9'] }, fields: ['power'] }, isRetired);
  assert.deepEqual(byName.data.series.map((s) => [s.device, s.field, s.stats.count]), [['meter2', 'power', 24], ['meter9', 'power', 0]]);
  assert.deepEqual(byName.data.retired, ['meter1']);
  // Without retired devices nothing changes, and the report says nothing of them.
  const none = await report(t, readings(), { devices: { mode: 'tag', tag: 'site', value: 'north' } }, () => false);
  assert.deepEqual(none.data.devices, ['meter1', 'meter2']);
  assert.equal(none.data.retired, undefined);
  assert.doesNotMatch(reportHtml(none.data, 'r1'), /Left out/);
});
