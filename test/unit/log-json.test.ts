/** UPPERSTACK_LOG_FORMAT=json: what a log shipper gets, one JSON object per line. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLogLine, loggingSettings, type LogMessage } from '../../nodes/lib/log/json';

test('a node\'s message carries time, level, text, the node and its flow; an error its stack', () => {
  const line = formatLogLine({ level: 30, msg: 'store unreachable', type: 'upperstack-store', id: 'n1', name: 'store', z: 'tab1', timestamp: Date.UTC(2026, 0, 1) });
  assert.equal(line.includes('\n'), false);
  assert.deepEqual(JSON.parse(line), { time: '2026-01-01T00:00:00.000Z', level: 'warn', msg: 'store unreachable', node: { id: 'n1', type: 'upperstack-store', name: 'store' }, flow: 'tab1' });
  const err = JSON.parse(formatLogLine({ level: 20, msg: new Error('boom\nsecond line') })) as Record<string, string>;
  assert.equal(err.level, 'error');
  assert.equal(err.msg, 'boom\nsecond line');
  assert.match(err.stack, /Error: boom/);
  assert.equal(JSON.parse(formatLogLine({ level: 40, msg: { a: 1 } })).msg, '{"a":1}');
});

test('json replaces the console logger with a handler that keeps the level; text keeps the console', () => {
  assert.deepEqual(loggingSettings(undefined, 'debug'), { console: { level: 'debug', metrics: false, audit: false } });
  const lines: string[] = [];
  const s = loggingSettings('JSON', 'warn', (l) => lines.push(l)) as { console: { level: string }; json: { handler: () => (m: LogMessage) => void } };
  assert.equal(s.console.level, 'off');
  const log = s.json.handler();
  log({ level: 20, msg: 'an error' });
  log({ level: 30, msg: 'a warning' });
  log({ level: 40, msg: 'info is below warn' });
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { msg: string }).msg), ['an error', 'a warning']);
});
