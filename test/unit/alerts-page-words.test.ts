/**
 * The words of /upperstack/alerts come from the alert node's locale files (page.*, beside the form's form.ui.*):
 * every key the page asks for is in each locale file, and the page's markup holds no words of its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SEVERITIES } from '../../nodes/lib/rules/types';

const ROOT = join(__dirname, '..', '..', '..');
const PAGE = readFileSync(join(ROOT, 'nodes', 'alert', 'page', 'alerts-page.html'), 'utf8');
const LOCALES = join(ROOT, 'nodes', 'alert', 'locales');
const SCRIPT = /<script>([\s\S]*?)<\/script>/.exec(PAGE)![1];

/** The keys under page.* the page uses: in its markup (data-words) and its script (say('...')). */
function pageKeys(): string[] {
  const keys = new Set<string>();
  for (const m of PAGE.matchAll(/data-words="([^"]+)"/g)) keys.add(m[1]);
  for (const m of SCRIPT.matchAll(/\bsay\('([^']+)'(\s*[,)])/g)) keys.add(m[1]);
  // Keys put together from a prefix and the values it is given.
  for (const m of SCRIPT.matchAll(/\bsay\(([^)]*?)\?\s*'([^']+)'\s*:\s*'([^']+)'/g)) keys.add(m[2]).add(m[3]);
  for (const span of ['1h', '4h', '1d', '7d']) keys.add(`silenceSpan.${span}`);
  for (const h of ['when', 'device', 'rule', 'what', 'severity', 'why']) keys.add(`column.${h}`);
  for (const s of ['pending', 'firing', 'acknowledged', 'escalated', 'reminder', 'flapping', 'cleared', 'inactive']) keys.add(`state.${s}`);
  for (const s of SEVERITIES) keys.add(`severity.${s}`);
  return [...keys].sort();
}

test('the prefixed keys the page builds are the ones this test lists', () => {
  // A new say('x.' + ...) the list above does not know of would go unchecked.
  const built = [...SCRIPT.matchAll(/\bsay\('([^']+)' \+/g)].map((m) => m[1]).sort();
  assert.deepEqual(built, ['column.', 'severity.', 'severity.', 'silenceSpan.', 'state.', 'state.']);
});

test('every word the page shows is in each locale file of the alert node', () => {
  const keys = pageKeys();
  // The words the page had before they moved, a sample to be sure the keys are found at all.
  for (const k of ['acknowledge', 'silence', 'noAlerts', 'logIn', 'tab.rules', 'login.wrong', 'role.operator', 'meta', 'ago.minutes']) assert.ok(keys.includes(k), k);
  const locales = readdirSync(LOCALES);
  assert.ok(locales.includes('en-US'));
  for (const lang of locales) {
    const catalog = JSON.parse(readFileSync(join(LOCALES, lang, 'alert.json'), 'utf8')) as { 'upperstack-alert': { page: Record<string, unknown> } };
    const missing = keys.filter((k) => {
      const v = k.split('.').reduce<unknown>((o, p) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[p] : undefined), catalog['upperstack-alert'].page);
      return typeof v !== 'string' || v === '';
    });
    assert.deepEqual(missing, [], `${lang}/alert.json lacks page words`);
  }
  const en = JSON.parse(readFileSync(join(LOCALES, 'en-US', 'alert.json'), 'utf8'))['upperstack-alert'].page;
  assert.deepEqual([en.acknowledge, en.silence, en.noAlerts], ['Acknowledge', 'Silence', 'No active alerts.']);
});

test('the page\'s markup and script hold no words of their own', () => {
  const markup = PAGE.replace(/<script>[\s\S]*?<\/script>/, '').replace(/<style>[\s\S]*?<\/style>/, '');
  const text = markup.replace(/<[^>]*>/g, '').replace(/<!DOCTYPE[^>]*>/i, '').trim();
  assert.equal(text, '');
  for (const words of ['Acknowledge', 'Silence', 'No active alerts', 'Log in', 'Log out', 'wrong user name', 'acknowledged by', ' · occurrence', 'rules editor', '1 hour']) {
    assert.ok(!SCRIPT.includes(words), `"${words}" is in the page's script`);
  }
});
