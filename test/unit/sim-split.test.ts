import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encode } from '../../nodes/lib/codec';
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
