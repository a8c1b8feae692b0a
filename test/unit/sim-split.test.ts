import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode } from '../../nodes/lib/codec';
import { decodeReadings } from '../../nodes/lib/codec/readings';
import type { Reading } from '../../nodes/lib/reading';
import { refusedForSize, sendInParts } from '../../nodes/lib/sim/split';
import type { Transport } from '../../nodes/lib/sim/transports';

test('a message refused for its size goes again in parts that are each within the server\'s limit', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 2, max: 300 }), fc.integer({ min: 1, max: 40 }), async (n, perPart) => {
      const readings: Reading[] = Array.from({ length: n }, (_, i) => ({ device: 'd1', ts: 1_700_000_000_000 + i, fields: { t: 20.5 + i }, tags: {} }));
      const limit = encode('json', readings.slice(0, Math.min(n, perPart + 1))).length - 1;
      const refused: number[] = [];
      const transport = {
        async send(_d: unknown, payload: Buffer): Promise<void> {
          if (payload.length > limit) {
            refused.push(payload.length);
            throw refusedForSize('too large', payload.length, limit);
          }
        },
      } as unknown as Transport;
      let failed: unknown;
      await sendInParts(transport, { id: 'd1', profile: 'env', index: 0 }, readings, 'json', 'application/json', {
        sent() {},
        acked() {},
        split() {},
        failed(err) { failed = err; },
        abandoned: () => false,
      });
      assert.equal(failed, undefined);
      // Only the whole message is refused: none of its parts is.
      assert.ok(refused.length <= 1, `parts refused: ${refused.join(', ')} (limit ${limit})`);
    }),
    { numRuns: 200 },
  );
});

test('over a transport with a message limit (MQTT), a batch over it goes as consecutive messages each within it, every reading once', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 1, max: 60 }), fc.constantFrom('json', 'cbor', 'msgpack', 'senml'), async (n, perPart, format) => {
      const readings: Reading[] = Array.from({ length: n }, (_, i) => ({ device: 'd1', ts: 1_700_000_000_000 + i * 1000, fields: { temperature: 20.5 + i / 7, humidity: 40 + (i % 9) }, tags: {} }));
      const limit = Math.max(256, encode(format, readings.slice(0, Math.min(n, perPart))).length);
      const sizes: number[] = [];
      const got: number[] = [];
      const transport = {
        maxMessageBytes: limit,
        async send(_d: unknown, payload: Buffer): Promise<void> {
          sizes.push(payload.length);
          // What the input stores of it: the readings decoded from the message, as the MQTT input would.
          const decoded = decodeReadings(payload, { format, device: 'd1', receivedAt: Date.now(), maxBytes: limit });
          assert.deepEqual(decoded.rejected, []);
          for (const r of decoded.readings) got.push(r.ts);
        },
      } as unknown as Transport;
      const counts = { sent: 0, acked: 0, split: 0 };
      let failed: unknown;
      await sendInParts(transport, { id: 'd1', profile: 'env', index: 0 }, readings, format, 'application/json', {
        sent: () => void counts.sent++,
        acked: () => void counts.acked++,
        split: () => void counts.split++,
        failed(err) { failed = err; },
        abandoned: () => false,
      });
      assert.equal(failed, undefined);
      assert.ok(sizes.every((s) => s <= limit), `sizes ${sizes.join(', ')} over ${limit}`);
      assert.deepEqual(got, readings.map((r) => r.ts));
      // Nothing was refused: the parts were cut before sending.
      assert.deepEqual(counts, { sent: sizes.length, acked: sizes.length, split: 0 });
    }),
    { numRuns: 100 },
  );
});
