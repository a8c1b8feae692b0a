/**
 * The alert rule form (resources/alert-form*.js, run in the browser) checks a rule's name and its listed device
 * ids before asking the server, with copies of the lib's rules. Both run here over the same cases: the form
 * never refuses what the server takes, nor lets through what it refuses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { conditionsOf, ruleNameKey, validateRule, watchedFields } from '../../nodes/lib/rules/validate';
import type { Condition, Group } from '../../nodes/lib/rules/types';
import type { RuleInvalidError } from '../../nodes/lib/errors';
import { deviceIdProblem } from '../../nodes/lib/devices/record';

interface Form {
  nameKey(name: string): string;
  fieldsOf(conds: Condition[]): string[];
  leaves(when: Condition | Group): { list: Condition[] };
  isDeviceId(id: string): boolean;
  slug(name: string): string;
  numberProblem(input: { value: string }): string | null;
  numberOf(input: { value: string }): number | undefined;
}

const source = readFileSync(join(__dirname, '..', '..', '..', 'resources', 'alert-form-kit.js'), 'utf8');
const window: { UpperstackAlertFormKit?: Form } = {};
runInNewContext(source, { window });
const form = window.UpperstackAlertFormKit!;

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

test('every word the form shows is in the alert node\'s locale file, so a locale file alone adds a language', () => {
  const dir = join(__dirname, '..', '..', '..', 'resources');
  const code = readdirSync(dir)
    .filter((f) => f.startsWith('alert-form'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  const locale = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'nodes', 'alert', 'locales', 'en-US', 'alert.json'), 'utf8')) as {
    'upperstack-alert': { form: { ui: Record<string, unknown> } };
  };
  const ui = locale['upperstack-alert'].form.ui;
  const at = (key: string): unknown => key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), ui);
  const keys = new Set<string>();
  const families = new Set<string>();
  // The keys in ui(...) and words(...) calls: ui('save'), ui(a ? 'on' : 'off'), ui('op.' + o) (a family); not the compared values.
  for (const m of code.matchAll(/\b(?:ui|words)\(([^,)]*)/g)) {
    for (const k of m[1].matchAll(/(?<!=== )'([\w.]+)'(\s*\+)?/g)) (k[2] ? families : keys).add(k[1]);
  }
  assert.ok(keys.size > 50, `the form's words were found (${keys.size})`);
  for (const k of keys) assert.equal(typeof at(k), 'string', `form.ui.${k}`);
  for (const f of families) assert.equal(typeof at(f.replace(/\.$/, '')), 'object', `form.ui.${f}*`);
  // The families' members: what the kit asks for when it draws its dropdowns.
  const window: { UpperstackAlertFormKit?: { wordsOf(t: (k: string) => string | null): { ops(): string[][]; units(): string[][] } } } = {};
  runInNewContext(source, { window });
  const asked: string[] = [];
  const words = window.UpperstackAlertFormKit!.wordsOf((k) => {
    asked.push(k);
    return null;
  });
  words.ops();
  words.units();
  for (const k of asked) assert.equal(typeof at(k.replace(/^form\.ui\./, '')), 'string', k);
  for (const x of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) assert.equal(typeof at(`day.${x}`), 'string', x);
});

/** The form's files as its loader lists them, the one list the dialog and the page load. */
function listed(): string[] {
  const window: { UpperstackAlertFormFiles?: { files: string[] } } = {};
  runInNewContext(readFileSync(join(__dirname, '..', '..', '..', 'resources', 'alert-form-load.js'), 'utf8'), { window });
  return window.UpperstackAlertFormFiles!.files;
}

test('the loader lists every file of the form, the kit first and the form last', () => {
  const files = listed();
  const present = readdirSync(join(__dirname, '..', '..', '..', 'resources'))
    .filter((f) => /^alert-form.*\.js$/.test(f) && f !== 'alert-form-load.js')
    .map((f) => f.replace(/\.js$/, ''));
  assert.deepEqual([...files].sort(), present.sort());
  assert.equal(files[0], 'alert-form-kit');
  assert.equal(files.at(-1), 'alert-form');
});

test("the form's files work in another order than the loader's", () => {
  const dir = join(__dirname, '..', '..', '..', 'resources');
  const window: { UpperstackAlertForm?: { mount: unknown }; UpperstackAlertFormKit?: Record<string, unknown> } = {};
  for (const f of [...listed()].reverse()) runInNewContext(readFileSync(join(dir, `${f}.js`), 'utf8'), { window });
  const kit = window.UpperstackAlertFormKit!;
  for (const n of ['conditionRow', 'readRule', 'errorWords', 'elementFor', 'el', 'wordsOf']) assert.equal(typeof kit[n], 'function', n);
  assert.deepEqual(Object.keys(window.UpperstackAlertForm!), ['mount'], 'what the dialog and the page call, and nothing else');
});

test("a preview's error names the field's label whether it points into the rule or into the whole request", () => {
  const dir = join(__dirname, '..', '..', '..', 'resources');
  const window: { UpperstackAlertFormKit?: Record<string, unknown> } = {};
  for (const f of listed()) runInNewContext(readFileSync(join(dir, `${f}.js`), 'utf8'), { window });
  const kit = window.UpperstackAlertFormKit!;
  const words: Record<string, string> = { 'form.ui.labels.when-value': 'Value' };
  const w = (kit.wordsOf as (t: (k: string) => string | null) => unknown)((k) => words[k] ?? null);
  const errorWords = kit.errorWords as (e: { pointer?: string; message: string }, rule: unknown, target: null, w: unknown) => string;
  const rule = { when: { field: 't', op: 'above', value: 30 } };
  for (const message of ['/when/value is too large a number to keep', '/rule/when/value is too large a number to keep']) {
    assert.equal(errorWords({ pointer: '/rule/when/value', message }, rule, null, w), 'Value: is too large a number to keep', message);
  }
});

test('an escalation without a time or a value is said once, in the form\'s words, naming both fields', () => {
  const dir = join(__dirname, '..', '..', '..', 'resources');
  const window: { UpperstackAlertFormKit?: Record<string, unknown> } = {};
  for (const f of listed()) runInNewContext(readFileSync(join(dir, `${f}.js`), 'utf8'), { window });
  const kit = window.UpperstackAlertFormKit!;
  const ui = (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'nodes', 'alert', 'locales', 'en-US', 'alert.json'), 'utf8')) as { 'upperstack-alert': { form: { ui: unknown } } })['upperstack-alert'].form.ui;
  const at = (key: string): string | null => {
    const v = key.replace(/^form\.ui\./, '').split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), ui);
    return typeof v === 'string' ? v : null;
  };
  const w = (kit.wordsOf as (t: (k: string) => string | null) => unknown)(at);
  const errorWords = kit.errorWords as (e: { pointer?: string; message: string; keyword?: string }, rule: unknown, target: null, w: unknown) => string;
  let problem: { field: string; message: string; keyword: string } | undefined;
  try {
    validateRule({ id: 'e', name: 'E', devices: { all: true }, when: { field: 't', op: 'above', value: 30 }, severity: 'warning', escalate: { severity: 'critical' } });
  } catch (err) {
    problem = ((err as RuleInvalidError).details.errors as Array<typeof problem>)[0];
  }
  assert.ok(problem);
  assert.equal(
    errorWords({ pointer: problem.field, message: problem.message, keyword: problem.keyword }, {}, null, w),
    'Escalate after: give a time here, or a value in "or past this value": one of them says when the alert escalates',
  );
});

test('a rule\'s id from its name keeps letters with diacritics as their base letters', () => {
  assert.equal(form.slug('Température congélateur'), 'temperature-congelateur');
  assert.equal(form.slug('Tempe\u0301rature'), 'temperature');
  assert.equal(form.slug('Too hot!'), 'too-hot');
  assert.equal(form.slug('温度过高'), 'rule');
});

const WHENS: Array<Condition | Group> = [
  { field: 'temperature', op: 'above', value: 30 },
  { op: 'not-reported', for: '10m' },
  { all: [{ field: 'temp', op: 'above', value: 30 }, { field: 'hum', op: 'above', value: 80 }] },
  { any: [{ field: 'temp', op: 'above', value: 30 }, { field: 'temp', op: 'below', value: 5 }] },
  { all: [{ op: 'anomalous' }, { field: 'power', op: 'outside', low: 1, high: 5 }, { field: '', op: 'above', value: 1 }] },
  { all: [{ any: [{ field: 'b', op: 'above', value: 1 }, { field: 'a', op: 'above', value: 1 }] }, { field: 'b', op: 'below', value: 0 }, { field: 'c', op: 'equal', value: 'x' }] },
  { all: [] },
];

test("the form offers a group's recovery and escalation thresholds the fields the lib says the group watches", () => {
  // The form's arrays are of the script's realm: compared as copies.
  const offered = (when: Condition | Group): string[] => [...form.fieldsOf(form.leaves(when).list)];
  for (const when of WHENS) assert.deepEqual(offered(when), watchedFields(conditionsOf(when)), JSON.stringify(when));
  assert.deepEqual(offered(WHENS[5]), ['b', 'a', 'c']);
});

test("a group's recovery or escalation threshold without a field is said in the form's words, naming what to choose", () => {
  const dir = join(__dirname, '..', '..', '..', 'resources');
  const window: { UpperstackAlertFormKit?: Record<string, unknown> } = {};
  for (const f of listed()) runInNewContext(readFileSync(join(dir, `${f}.js`), 'utf8'), { window });
  const kit = window.UpperstackAlertFormKit!;
  const ui = (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'nodes', 'alert', 'locales', 'en-US', 'alert.json'), 'utf8')) as { 'upperstack-alert': { form: { ui: unknown } } })['upperstack-alert'].form.ui;
  const at = (key: string): string | null => {
    const v = key.replace(/^form\.ui\./, '').split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), ui);
    return typeof v === 'string' ? v : null;
  };
  const w = (kit.wordsOf as (t: (k: string) => string | null) => unknown)(at);
  const errorWords = kit.errorWords as (e: { pointer?: string; message: string; keyword?: string }, rule: unknown, target: null, w: unknown) => string;
  const rule = {
    id: 'g',
    name: 'G',
    devices: { all: true },
    when: { all: [{ field: 'temp', op: 'above', value: 30 }, { field: 'hum', op: 'above', value: 80 }] },
    clear: { op: 'below', value: 25 },
    escalate: { severity: 'critical', op: 'above', value: 90 },
    severity: 'warning',
  };
  let problems: Array<{ field: string; message: string; keyword?: string }> = [];
  try {
    validateRule(rule);
  } catch (err) {
    problems = (err as RuleInvalidError).details.errors as typeof problems;
  }
  // The API keeps its pointer and says which fields the group watches; the form says what to do, without a pointer.
  assert.deepEqual(problems.map((p) => [p.field, p.keyword]), [['/clear/field', 'required'], ['/escalate/field', 'required']]);
  assert.match(problems[0].message, /^\/clear\/field is required: the condition watches no single field \(it watches "temp", "hum"\)/);
  assert.deepEqual(
    problems.map((p) => errorWords({ pointer: p.field, message: p.message, keyword: p.keyword }, rule, null, w)),
    [
      'Recovery field: choose which field the recovery threshold watches: the conditions watch more than one',
      'Escalation field: choose which field the escalation value watches: the conditions watch more than one',
    ],
  );
  assert.doesNotThrow(() => validateRule({ ...rule, clear: { ...rule.clear, field: 'hum' }, escalate: { ...rule.escalate, field: 'temp' } }));

  // A condition that clears by itself takes no threshold: said once each, with the operator as the form names it.
  assert.throws(
    () => validateRule({ ...rule, when: { op: 'not-reported', for: '10m' } }),
    (err: RuleInvalidError) => Boolean((problems = err.details.errors as typeof problems)),
  );
  assert.deepEqual(
    problems.map((p) => errorWords({ pointer: p.field, message: p.message, keyword: p.keyword }, rule, null, w)),
    [
      'Recovery threshold: is not used with "has not reported for": the alert clears when the device reports again (give only "for" to wait longer)',
      'Escalation value: is not used with "has not reported for"; escalate after a time instead',
    ],
  );
});

test('a number box reads only a plain number: a decimal comma, a unit or other text is marked, never read as another number', () => {
  const cases: Array<[string, string | null, number | undefined]> = [
    ['', null, undefined],
    ['  21.5 ', null, 21.5],
    ['-3', null, -3],
    ['.5', null, 0.5],
    ['2e3', null, 2000],
    ['21,5', 'decimalComma', NaN],
    ['1,000', 'decimalComma', NaN],
    ['1,234.5', 'decimalComma', NaN],
    ['30 °C', 'withUnit', NaN],
    ['30°C', 'withUnit', NaN],
    ['5 min', 'withUnit', NaN],
    ['abc', 'notNumber', NaN],
    ['1e309', 'notNumber', Infinity],
    ['0x10', 'notNumber', NaN],
    ['1 2', 'notNumber', NaN],
  ];
  for (const [text, problem, value] of cases) {
    assert.equal(form.numberProblem({ value: text }), problem, JSON.stringify(text));
    assert.equal(form.numberOf({ value: text }), value, JSON.stringify(text));
  }
  // Every word the form says for a number box is in the locale file.
  const locale = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'nodes', 'alert', 'locales', 'en-US', 'alert.json'), 'utf8')) as Record<string, unknown>;
  const text = JSON.stringify(locale);
  for (const key of ['decimalComma', 'withUnit', 'notNumber']) assert.match(text, new RegExp(`"${key}":"[^"]+`), key);
});
