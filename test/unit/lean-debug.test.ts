import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { format } from 'node:util';
import { installLeanDebug, leanDebug, type DebugLogger } from '../../nodes/lib/lean-debug';

// The `debug` copy MQTT.js and mqtt-packet load.
const fromPacket = createRequire(createRequire(require.resolve('mqtt')).resolve('mqtt-packet'));
type CreateDebug = ((ns: string) => DebugLogger) & { enable(ns: string): void; disable(): string };

function capture(d: DebugLogger): string[] {
  const lines: string[] = [];
  d.log = (...args: unknown[]) => lines.push(format(...args));
  d.useColors = false;
  return lines;
}

test('a lean logger stays silent while its namespace is off and writes what the package would once it is on', () => {
  const createDebug = fromPacket('debug') as CreateDebug;
  const plain = createDebug('upperstack-test:plain');
  const lean = leanDebug(createDebug('upperstack-test:lean'));
  const plainLines = capture(plain);
  const leanLines = capture(lean);
  lean('packet %d of %s', 7, 'topic');
  assert.deepEqual(leanLines, []);
  createDebug.enable('upperstack-test:*');
  try {
    assert.equal(lean.enabled, true);
    plain('packet %d of %s', 7, 'topic');
    lean('packet %d of %s', 7, 'topic');
    plain('%O', { a: 1 });
    lean('%O', { a: 1 });
    plain('no arguments');
    lean('no arguments');
    const strip = (l: string) => l.replace(/^\S+Z /, '').replace(/upperstack-test:(plain|lean)/, 'NS');
    assert.deepEqual(leanLines.map(strip), plainLines.map(strip));
    assert.equal(leanLines.length, 3);
    // extend() keeps the logger lean and on.
    const child = lean.extend('child');
    const childLines = capture(child);
    child('x=%d', 1);
    assert.equal(childLines.length, 1);
    assert.match(childLines[0], /upperstack-test:lean:child x=1/);
  } finally {
    createDebug.disable();
  }
  lean('after disable');
  assert.equal(leanLines.length, 3);
  // Setting `enabled` on the wrapper reaches the logger it wraps.
  lean.enabled = true;
  lean('forced');
  assert.equal(leanLines.length, 4);
});

test('installLeanDebug makes the loggers MQTT.js and mqtt-packet create from then on lean, and enable() of the package still reaches them', () => {
  const before = (fromPacket('debug') as CreateDebug)('upperstack-test:before');
  // debug's own logger takes a rest parameter (an array per call, on or off).
  assert.equal(before.length, 0);
  assert.equal(installLeanDebug(), true);
  assert.equal(installLeanDebug(), true);
  const createDebug = fromPacket('debug') as CreateDebug & { default: CreateDebug };
  assert.equal(createDebug('upperstack-test:after').length, 8);
  assert.equal(createDebug.default('upperstack-test:default').length, 8);
  // The package's shared state is still its own: enable() through the lean module reaches every logger.
  const after = createDebug('upperstack-test:after');
  const lines = capture(after);
  createDebug.enable('upperstack-test:after');
  try {
    after('on');
  } finally {
    createDebug.disable();
  }
  assert.equal(lines.length, 1);
});
