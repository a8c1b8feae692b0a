/**
 * Property: whatever bytes arrive, in any format and however mangled, every
 * journaled message ends stored or dead-lettered. The real decode, validate,
 * store and dead-letter nodes with a real DuckDB file and a real journal;
 * fast-check generates readings and hostile payloads (deep nesting, huge
 * widths, long strings, NaN/Infinity, invalid UTF-8, truncation, bit flips) in
 * JSON, CBOR, MessagePack, Protobuf and line protocol. After each run the
 * journal has nothing unsettled, the store is not spooling, and nothing was
 * rejected unhandled.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import fc from 'fast-check';
import { encode, type Format } from '../../nodes/lib/codec';
import { Journal } from '../../nodes/lib/journal/journal';
import { registerJournal, unregisterJournal } from '../../nodes/lib/ingest/receipts';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { tempDir } from '../helpers/temp';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [
  require('../../nodes/decode/decode'),
  require('../../nodes/validate/validate'),
  require('../../nodes/store-config/store-config'),
  require('../../nodes/store/store'),
  require('../../nodes/deadletter/deadletter'),
];

helper.init(require.resolve('node-red'));

const dataDir = tempDir('us-prop-');
const flow = [
  { id: 'tab', type: 'tab', label: 'property' },
  { id: 'cfg', type: 'upperstack-store-config', name: 'db', kind: 'duckdb', path: '', batchSize: 100, flushMs: 5, configVersion: 1 },
  { id: 'decode', type: 'upperstack-decode', z: 'tab', format: 'auto', maxBytes: 1048576, configVersion: 1, wires: [['validate'], ['dead']] },
  { id: 'validate', type: 'upperstack-validate', z: 'tab', schemaSource: 'default', configVersion: 1, wires: [['store'], ['dead']] },
  { id: 'store', type: 'upperstack-store', z: 'tab', store: 'cfg', configVersion: 1, wires: [[]] },
  { id: 'dead', type: 'upperstack-deadletter', z: 'tab', store: 'cfg', topic: 'upperstack/deadletter', configVersion: 1, wires: [[]] },
];

const T0 = 1767225600000;
const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/);
const scalar = fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.string({ maxLength: 20 }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, null));
/** Values a device might nest in a reading: objects and arrays a few levels deep. */
const nested = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('object'), tie('array')),
  object: fc.dictionary(name, tie('value'), { maxKeys: 4 }),
  array: fc.array(tie('value'), { maxLength: 4 }),
})).value;
const reading = fc.record(
  { device: fc.option(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { nil: undefined }), ts: fc.option(fc.integer({ min: T0, max: T0 + 1e9 }), { nil: undefined }), fields: fc.dictionary(name, nested, { minKeys: 1, maxKeys: 6 }), tags: fc.option(fc.dictionary(name, fc.string({ maxLength: 10 }), { maxKeys: 3 }), { nil: undefined }) },
  { requiredKeys: ['fields'] },
);
const flat = fc.dictionary(name, nested, { minKeys: 1, maxKeys: 8 });
const shape = fc.oneof(reading, flat, fc.array(fc.oneof(reading, flat), { maxLength: 5 }), nested);

/** Payloads that break a limit, built without recursion. */
const hostile = fc.oneof(
  fc.integer({ min: 33, max: 20_000 }).map((n) => ({ format: 'json' as const, bytes: Buffer.from(`${'['.repeat(n)}1${']'.repeat(n)}`) })),
  fc.integer({ min: 33, max: 20_000 }).map((n) => ({ format: 'json' as const, bytes: Buffer.from(`${'{"a":'.repeat(n)}1${'}'.repeat(n)}`) })),
  fc.integer({ min: 33, max: 20_000 }).map((n) => ({ format: 'msgpack' as const, bytes: Buffer.concat([Buffer.alloc(n, 0x91), Buffer.from([1])]) })),
  fc.integer({ min: 33, max: 20_000 }).map((n) => ({ format: 'cbor' as const, bytes: Buffer.concat([Buffer.alloc(n, 0x81), Buffer.from([1])]) })),
  fc.integer({ min: 1001, max: 5000 }).map((n) => ({ format: 'json' as const, bytes: Buffer.from(JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, i])))) })),
  fc.integer({ min: 65_537, max: 300_000 }).map((n) => ({ format: 'msgpack' as const, bytes: encode('msgpack', { s: 'x'.repeat(n) }) })),
  fc.integer({ min: 10_001, max: 12_000 }).map((n) => ({ format: 'cbor' as const, bytes: encode('cbor', Array.from({ length: n }, (_, i) => ({ v: i }))) })),
  fc.constantFrom(
    { format: 'json' as const, bytes: Buffer.from('{"v":NaN,"w":Infinity}') },
    { format: 'json' as const, bytes: Buffer.from('{"s":"\\ud800"}') },
    { format: 'json' as const, bytes: Buffer.from('[]') },
    { format: 'json' as const, bytes: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) },
    { format: 'lineprotocol' as const, bytes: Buffer.from('m v=1\nm v="\xff"') },
  ),
);

type Format5 = Exclude<Format, 'senml' | 'senml-cbor' | 'xml'>;
const FORMATS5: Format5[] = ['json', 'cbor', 'msgpack', 'protobuf', 'lineprotocol'];

/** A shape encoded in a format; values a format cannot carry fall back to JSON text. */
function encodeAs(format: Format5, value: unknown): Buffer {
  try {
    if (format === 'protobuf' || format === 'lineprotocol') {
      const r = value as { device?: unknown; fields?: unknown };
      const ok = r && typeof r === 'object' && !Array.isArray(r) && typeof r.fields === 'object' && Object.values(r.fields as object).every((v) => ['number', 'boolean', 'string'].includes(typeof v));
      return encode(format, ok ? { device: 'proto-dev', ts: T0, tags: {}, ...(value as object) } : { device: 'proto-dev', ts: T0, fields: { v: 1 }, tags: {} });
    }
    return encode(format, value);
  } catch {
    return Buffer.from(String(JSON.stringify(value) ?? 'null'));
  }
}

const mutation = fc.oneof(
  { weight: 4, arbitrary: fc.constant((b: Buffer) => b) },
  fc.nat().map((n) => (b: Buffer) => b.subarray(0, b.length ? n % b.length : 0)),
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([n, bit]) => (b: Buffer) => {
    const c = Buffer.from(b);
    if (c.length) c[n % c.length] ^= 1 << bit;
    return c;
  }),
  fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([n, junk]) => (b: Buffer) => {
    const at = b.length ? n % b.length : 0;
    return Buffer.concat([b.subarray(0, at), Buffer.from(junk), b.subarray(at)]);
  }),
);

const message = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...FORMATS5), shape, mutation).map(([format, value, mutate]) => ({ format, bytes: mutate(encodeAs(format, value)) })) },
  { weight: 2, arbitrary: hostile },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...FORMATS5), fc.uint8Array({ maxLength: 64 })).map(([format, bytes]) => ({ format, bytes: Buffer.from(bytes) })) },
);

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('property: every message ends stored or dead-lettered', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    helper.settings({ upperstack: { dataDir } });
    await helper.startServer();
    await helper.load(nodes, flow);
  });
  after(async () => {
    await helper.unload();
    await helper.stopServer();
    process.off('unhandledRejection', onUnhandled);
  });

  test('decode → validate → store with generated and mutated payloads in every format', async () => {
    const journal = new Journal({ dir: join(dataDir, 'journal', 'prop') });
    journal.open();
    registerJournal('prop', journal);
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    const decode = helper.getNode('decode') as unknown as { receive(msg: object): void };
    let sent = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 8 }), async (msgs) => {
          for (const m of msgs) {
            const seq = journal.append(m.bytes);
            sent++;
            // As mqtt-in hands them on: the device from the topic, the format when it is configured.
            decode.receive({ payload: m.bytes, device: `dev-${seq % 7}`, receivedAt: T0 + seq, format: m.format === 'protobuf' ? 'protobuf' : undefined, upperstack: { receipts: [{ j: 'prop', s: seq }] } });
          }
          await until(() => journal.backlog() === 0, `the journal to settle (${journal.backlog()} left of ${msgs.length})`);
          const s = cfg.writer.stats();
          assert.equal(s.spooled, 0, 'a payload was taken for an outage');
          assert.equal(s.failingSince, undefined);
        }),
        { numRuns: Number(process.env.PROPERTY_RUNS ?? 120), seed: process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : undefined, endOnFailure: true },
      );
    } finally {
      unregisterJournal('prop', journal);
      journal.close();
    }
    assert.ok(sent > 120, `${sent} messages`);
    if (process.env.PROPERTY_VERBOSE) console.log(sent, cfg.writer.stats(), (await cfg.store.deadLetters({ limit: 10000 })).reduce<Record<string, number>>((o, l) => ({ ...o, [l.code]: (o[l.code] ?? 0) + 1 }), {}));
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
    // Something of each kind got through: the generator is not only producing junk.
    const stored = await cfg.store.readings({ device: 'proto-dev', limit: 1 });
    assert.ok(stored.readings.length + (await cfg.store.deadLetters({ limit: 1 })).length > 0);
  });
});
