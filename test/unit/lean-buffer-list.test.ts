import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { installLeanBufferList } from '../../nodes/lib/lean-buffer-list';

// The bl copy mqtt-packet loads for MQTT.js, and that mqtt-packet.
const fromMqtt = createRequire(require.resolve('mqtt'));
const packetRequire = createRequire(fromMqtt.resolve('mqtt-packet'));
type List = {
  append(b: Buffer): unknown;
  readUInt8(o?: number): number;
  readUInt16BE(o?: number): number;
  readUInt32BE(o?: number): number;
  toString(enc?: BufferEncoding, s?: number, e?: number): string;
  slice(s?: number, e?: number): Buffer;
};
type Bl = (() => List) & { prototype: Record<string, unknown>; BufferList: { prototype: Record<string, unknown> } };
const bl = packetRequire('bl') as Bl;
const mqttPacket = fromMqtt('mqtt-packet') as {
  parser(opts?: object): { on(ev: string, fn: (p: Record<string, unknown>) => void): void; parse(b: Buffer): number };
  generate(packet: object, opts?: object): Buffer;
};

// bl's own methods, kept before installing, to compare every answer and error with.
const METHODS = ['readUInt8', 'readUInt16BE', 'readUInt32BE', 'toString'] as const;
const original = Object.fromEntries(METHODS.map((m) => [m, bl.prototype[m]])) as Record<(typeof METHODS)[number], (...a: unknown[]) => unknown>;
assert.equal(installLeanBufferList(), true);

function listOf(chunks: Buffer[]): List {
  const list = bl();
  for (const c of chunks) list.append(c);
  return list;
}

function outcome(fn: () => unknown): { value?: unknown; error?: string } {
  try {
    return { value: fn() };
  } catch (err) {
    return { error: err instanceof Error ? `${err.name}: ${(err as { code?: string }).code ?? ''}` : String(err) };
  }
}

const chunksArb = fc.array(fc.uint8Array({ minLength: 0, maxLength: 12 }).map((a) => Buffer.from(a)), { maxLength: 6 });

test('reads give what bl gives, for every offset (across chunks, at the ends, out of range)', () => {
  fc.assert(
    fc.property(chunksArb, fc.integer({ min: -3, max: 80 }), (chunks, offset) => {
      const list = listOf(chunks);
      for (const m of ['readUInt8', 'readUInt16BE', 'readUInt32BE'] as const) {
        assert.deepEqual(outcome(() => list[m](offset)), outcome(() => original[m].call(list, offset)), `${m}(${offset})`);
      }
      assert.deepEqual(outcome(() => list.readUInt8()), outcome(() => original.readUInt8.call(list)));
    }),
    { numRuns: 2000 },
  );
});

test('toString gives what bl gives, for every range and encoding', () => {
  fc.assert(
    fc.property(
      chunksArb,
      fc.option(fc.integer({ min: -2, max: 70 }), { nil: undefined }),
      fc.option(fc.integer({ min: -2, max: 70 }), { nil: undefined }),
      fc.constantFrom<BufferEncoding | undefined>('utf8', 'hex', 'latin1', 'base64', undefined),
      (chunks, start, end, enc) => {
        const list = listOf(chunks);
        assert.deepEqual(outcome(() => list.toString(enc, start, end)), outcome(() => original.toString.call(list, enc, start, end)));
      },
    ),
    { numRuns: 2000 },
  );
});

test('a read within one buffer makes no Buffer: bl.slice is not called', () => {
  const list = listOf([Buffer.from([1, 2, 3, 4, 5, 6]), Buffer.from('topic/x')]);
  let slices = 0;
  const own = Object.getOwnPropertyDescriptor(list, 'slice');
  (list as unknown as Record<string, unknown>).slice = (...a: unknown[]) => {
    slices++;
    return (bl.prototype.slice as (...x: unknown[]) => unknown).apply(list, a);
  };
  assert.equal(list.readUInt8(2), 3);
  assert.equal(list.readUInt16BE(1), 0x0203);
  assert.equal(list.readUInt32BE(2), 0x03040506);
  assert.equal(list.toString('utf8', 6, 11), 'topic');
  assert.equal(slices, 0);
  // Across the two buffers it is bl's own read, which slices.
  assert.equal(list.readUInt16BE(5), 0x0674);
  assert.equal(slices, 1);
  if (own) Object.defineProperty(list, 'slice', own);
});

test('MQTT packets split anywhere across socket reads parse as they were generated', () => {
  const packets = [
    { cmd: 'publish', topic: 'devices/d1/telemetry', payload: Buffer.from('{"temperature":21.5}'), qos: 1, messageId: 258, retain: false, dup: false },
    { cmd: 'publish', topic: 'a/ü/b', payload: Buffer.alloc(300, 7), qos: 1, messageId: 65535, retain: false, dup: false },
    { cmd: 'puback', messageId: 4660 },
    { cmd: 'publish', topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false },
  ];
  const wire = Buffer.concat(packets.map((p) => mqttPacket.generate(p)));
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: wire.length - 1 }), { maxLength: 8 }), (cuts) => {
      const parser = mqttPacket.parser();
      const got: Array<Record<string, unknown>> = [];
      parser.on('packet', (p) => got.push(p));
      let from = 0;
      for (const at of [...cuts].sort((a, b) => a - b).concat(wire.length)) {
        parser.parse(wire.subarray(from, at));
        from = at;
      }
      assert.equal(got.length, packets.length);
      for (let i = 0; i < packets.length; i++) {
        for (const [k, v] of Object.entries(packets[i])) {
          if (k === 'dup' || k === 'retain') continue;
          assert.deepEqual(got[i][k], v, `packet ${i} ${k}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});
