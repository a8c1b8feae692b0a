/**
 * The alert rule form (resources/alert-form.js, run in the browser) checks a rule's name and its listed device
 * ids before asking the server, with copies of the lib's rules. Both run here over the same cases: the form
 * never refuses what the server takes, nor lets through what it refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { ruleNameKey } from '../../nodes/lib/rules/validate';
import { deviceIdProblem } from '../../nodes/lib/devices/record';

interface Form {
  nameKey(name: string): string;
  isDeviceId(id: string): boolean;
}

const source = readFileSync(join(__dirname, '..', '..', '..', 'resources', 'alert-form.js'), 'utf8');
const window: { UpperstackAlertForm?: Form } = {};
runInNewContext(source, { window });
const form = window.UpperstackAlertForm!;

const NAMES = [
  'Too hot',
  '  too HOT\t',
  'Température',
  'Tempe\u0301rature',
  'TEMPE\u0301RATURE',
  '\u00a0Boiler\u3000',
  '\u2003\n',
  '',
  'Straße',
  'STRASSE',
  'ΣΊΣΥΦΟΣ',
  'İstanbul',
  'ﬁre',
  'Ａｌａｒｍ',
  '温度过高',
  'emoji 🔥 HOT',
  'ǅ digraph',
];

test('the form compares rule names as the server does: accents composed or not, spaces around, case', () => {
  for (const n of NAMES) assert.equal(form.nameKey(n), ruleNameKey(n), JSON.stringify(n));
  assert.equal(form.nameKey(' TEMPE\u0301RATURE '), form.nameKey('température'), 'one name typed two ways');
});

const IDS = [
  'pump-7',
  'a.b_c-d:e@f',
  'x'.repeat(128),
  'x'.repeat(129),
  '',
  ' pump-7',
  'pump 7',
  'pump-7\n',
  'dév-1',
  'pump\u00a07',
  'Ｐump',
  '\u0661\u0662',
  'devices/+/telemetry',
  '+',
  '#',
  'a/b',
  'a,b',
  '温度',
  '🔥',
];

test('the form takes the device ids the server takes and refuses the others', () => {
  for (const id of IDS) assert.equal(form.isDeviceId(id), deviceIdProblem(id) === undefined, JSON.stringify(id));
  assert.equal(form.isDeviceId('pump-7'), true);
  assert.equal(form.isDeviceId('dév-1'), false);
});
