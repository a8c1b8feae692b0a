/** The locale key for a count: the singular key for exactly one, the plain key for none and for many. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { countKey } from '../../nodes/shared/count-key';

test('exactly one takes the "One" key; none and many the plain key', () => {
  assert.equal(countKey('upperstack-report.status.done', 1), 'upperstack-report.status.doneOne');
  assert.equal(countKey('upperstack-report.status.done', 0), 'upperstack-report.status.done');
  assert.equal(countKey('upperstack-report.status.done', 2), 'upperstack-report.status.done');
});

test('every key the report and invoice nodes count with has its singular in the locale', () => {
  const root = join(__dirname, '..', '..', '..');
  const words = (node: string) => JSON.parse(readFileSync(join(root, 'nodes', node, 'locales', 'en-US', `${node}.json`), 'utf8')) as Record<string, Record<string, Record<string, string>>>;
  const at = (tree: Record<string, unknown>, key: string) => key.split('.').reduce<unknown>((t, k) => (t as Record<string, unknown> | undefined)?.[k], tree);
  for (const [node, key] of [['report', 'status.done'], ['report', 'message.body'], ['invoice', 'status.done']]) {
    const tree = words(node)[`upperstack-${node}`];
    for (const n of [1, 2]) assert.equal(typeof at(tree, countKey(key, n)), 'string', `${node} ${countKey(key, n)}`);
  }
});
