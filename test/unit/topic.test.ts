import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTopicTemplate, topicMatches } from '../../nodes/lib/mqtt/topic';
import { decodeRecord, encodeRecord } from '../../nodes/lib/mqtt/record';
import { BadTopicError, ConfigError } from '../../nodes/lib/errors';
import { literalLevel } from '../../nodes/lib/security/topics';

test('a topic template becomes a filter and names the device', () => {
  const t = parseTopicTemplate('devices/{device}/telemetry');
  assert.equal(t.filter, 'devices/+/telemetry');
  assert.equal(t.deviceOf('devices/boiler-7/telemetry'), 'boiler-7');
  assert.ok(t.matches('devices/x/telemetry'));
  assert.ok(!t.matches('devices/x/status'));
});

test('bad templates are refused with the reason', () => {
  assert.throws(() => parseTopicTemplate('a/{device}/{device}'), ConfigError);
  assert.throws(() => parseTopicTemplate('a/#/b'), /must be the last level/);
  assert.throws(() => parseTopicTemplate('a/dev{device}'), /whole level/);
});

test('a device segment that was not UTF-8 is a BadTopicError, not a device called "\uFFFD"', () => {
  const t = parseTopicTemplate('devices/{device}/telemetry');
  // The MQTT packet parser turns invalid bytes into U+FFFD.
  const topic = Buffer.from([0x64, 0xff, 0xfe]).toString('utf8');
  assert.throws(() => t.deviceOf(`devices/${topic}/telemetry`), (e: unknown) => e instanceof BadTopicError && /not valid UTF-8/.test(e.message));
});

test('wildcards and shared subscriptions match like a broker', () => {
  assert.ok(topicMatches('a/+/c', 'a/b/c'));
  assert.ok(topicMatches('a/#', 'a/b/c'));
  assert.ok(topicMatches('$share/g/a/+', 'a/b'));
  assert.ok(!topicMatches('#', '$SYS/x'));
  assert.ok(!topicMatches('a/+', 'a/b/c'));
  assert.ok(topicMatches('a/b/#', 'a/b'), '# also matches the parent level');
  assert.ok(topicMatches('a/+', 'a/'), '+ matches an empty level');
  assert.ok(!topicMatches('a/+', 'a'));
  assert.ok(!topicMatches('a', 'a/b'));
  assert.ok(!topicMatches('a/b', 'a/bc'));
  assert.ok(!topicMatches('a/bc', 'a/b'));
  assert.ok(topicMatches('a//c', 'a//c'));
  assert.ok(!topicMatches('+/x', '$SYS/x'));
  assert.ok(topicMatches('devices/+/telemetry', 'devices/dévice-ü/telemetry'));
});

test('journal records keep topic, content type, QoS, time and bytes', () => {
  const m = { topic: 'devices/d1/telemetry', payload: Buffer.from([0, 1, 2, 255]), contentType: 'application/cbor', qos: 1, receivedAt: 1760000000123 };
  assert.deepEqual(decodeRecord(encodeRecord(m)), m);
  const noCt = { ...m, contentType: undefined };
  assert.deepEqual(decodeRecord(encodeRecord(noCt)), noCt);
  const unicode = { ...m, topic: 'devices/dévice-ü/telemetry', contentType: 'text/plain; charset=utf-8' };
  assert.deepEqual(decodeRecord(encodeRecord(unicode)), unicode);
});

test('deviceOf names the same device, or refuses for the same reason, as splitting the topic at "/"', () => {
  // The reference: what deviceOf did before it stopped splitting every topic.
  const reference = (deviceLevel: number, topic: string): string => {
    const seg = topic.split('/')[deviceLevel];
    if (seg === undefined || seg === '') return 'error: no device';
    if (seg.includes('\uFFFD')) return 'error: not valid UTF-8';
    // Length and characters are the device id rule's (the MQTT input's BAD_DEVICE_ID), not the topic's.
    return seg;
  };
  const actual = (t: ReturnType<typeof parseTopicTemplate>, topic: string): string => {
    try {
      return t.deviceOf(topic) as string;
    } catch (err) {
      assert.ok(err instanceof BadTopicError);
      const m = /no device|not valid UTF-8/.exec(err.message);
      return `error: ${m ? m[0] : err.message}`;
    }
  };
  const templates = ['{device}', 'devices/{device}/telemetry', 'a/b/{device}', 'x/{device}/#'];
  const level = fc.oneof(fc.constantFrom('', 'd1', 'boiler-7', '\uFFFD', 'a\u0000b', 'x\u007f', 'é', 'a'.repeat(129), 'a'.repeat(128)), fc.string({ maxLength: 6 }));
  fc.assert(
    fc.property(fc.constantFrom(...templates), fc.array(level, { minLength: 0, maxLength: 5 }), (template, levels) => {
      const t = parseTopicTemplate(template);
      const deviceLevel = template.split('/').indexOf('{device}');
      const topic = levels.join('/');
      assert.equal(actual(t, topic), reference(deviceLevel, topic));
    }),
    { numRuns: 2000 },
  );
});

test('literalLevel names the same level as splitting the filter on "/" (property)', () => {
  const bySplit = (f: string, i: number) => {
    const l = f.split('/')[i];
    return l === undefined || l === '+' || l === '#' ? undefined : l;
  };
  const level = fc.constantFrom('', 'a', 'devices', 'boiler-7', '+', '#', 'x/y', '//');
  fc.assert(
    fc.property(fc.array(level, { maxLength: 6 }), fc.nat(7), (parts, i) => {
      const f = parts.join('/');
      assert.equal(literalLevel(f, i), bySplit(f, i));
    }),
    { numRuns: 2000 },
  );
  assert.equal(literalLevel('devices/boiler-7/telemetry', 1), 'boiler-7');
  assert.equal(literalLevel('devices/+/telemetry', 1), undefined);
  assert.equal(literalLevel('devices', 1), undefined);
  assert.equal(literalLevel('devices/', 1), '');
});
