/** STORE_REJECTED dead letters as a key with masked fields sees them: the refused values told by kind. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { isolate } from '../../nodes/lib/store/writer-refusals';
import type { WriterSink } from '../../nodes/lib/store/writer-types';
import type { DeadLetter } from '../../nodes/lib/store/types';
import type { Reading } from '../../nodes/lib/reading';
import { encodeReadings, refusalError, type EncodeOptions, type FieldType } from '../../nodes/lib/influx/line';
import { StoreRejectedError, StoreFailedError } from '../../nodes/lib/errors';
import { redactReason } from '../../nodes/lib/security/reason-redaction';
import { tempDir } from '../helpers/temp';

const SECRET = 'JaneDoe5551234';
const TS = Date.UTC(2026, 0, 1);

let dir = '';
let store: DuckDbStore;

before(async () => {
  dir = tempDir('us-redact-store-');
  store = new DuckDbStore({ path: join(dir, 'redact.duckdb') });
  await store.open();
});

after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The dead letters the writer makes of what `sink` refuses of `readings`. */
async function refusedBy(sink: WriterSink, kind: string, readings: Reading[]): Promise<DeadLetter[]> {
  const refused: DeadLetter[] = [];
  const outage = await isolate(sink, kind, readings, refused, () => {});
  assert.equal(outage, undefined);
  return refused;
}

/** An InfluxDB sink as far as the writer sees it: the real line protocol encoder, its refusals thrown as the sink throws them. */
function influxLike(types: Record<string, FieldType>, dialect: 'v1' | 'v2' = 'v2'): WriterSink {
  const opts: EncodeOptions = {
    dialect,
    precision: 'ms',
    mapping: { measurement: 'telemetry', measurementTag: 'measurement', deviceTag: 'device' },
    types: { get: (_m, f) => types[f], learn: () => {} },
  };
  return {
    write: async (readings) => {
      const enc = encodeReadings(readings, opts);
      if (enc.refused.length) throw refusalError(enc.refused, 'InfluxDB at http://127.0.0.1:8086');
    },
    health: async () => ({ ok: true, detail: 'up' }),
  } as WriterSink;
}

test('a DuckDB refusal of a value keeps where the value stands in the STORE_REJECTED letter, stored and read back, so it is masked', async () => {
  const readings: Reading[] = [
    { device: 'd1', ts: TS, fields: { temp: 21.5 }, tags: {} },
    // An array is no field value DuckDB takes; its text is the sender's.
    { device: 'd1', ts: TS + 1, fields: { owner: [SECRET] as unknown as string }, tags: {} },
  ];
  const letters = await refusedBy(store, 'duckdb', readings);
  assert.equal(letters.length, 1);
  const [l] = letters;
  assert.equal(l.code, 'STORE_REJECTED');
  assert.match(l.reason, new RegExp(SECRET));
  assert.deepEqual(l.quoted?.map((q) => [q.field, q.kind, l.reason.slice(q.at, q.at + q.text.length)]), [['owner', 'an array', SECRET]]);

  await store.writeDeadLetters(letters);
  const [back] = await store.deadLetters({ codes: ['STORE_REJECTED'], limit: 10 });
  const masked = redactReason(back.reason, back.quoted);
  assert.equal(masked.includes(SECRET), false);
  assert.match(masked, /field "owner" is an array; only finite numbers/);
});

test('line protocol refusals of field and tag values keep their places through the sink and STORE_REJECTED prefixes, so they are masked', async () => {
  const readings: Reading[] = [
    { device: 'd1', ts: TS, fields: { owner: SECRET }, tags: {} },
    { device: 'd1', ts: TS, fields: { n: 2.5 }, tags: {} },
    { device: 'd1', ts: TS, fields: { ok: 1 }, tags: { site: `${SECRET}\nx` } },
    { device: 'd1', ts: TS, fields: { n: 3 }, tags: {} },
  ];
  const letters = await refusedBy(influxLike({ owner: 'integer', n: 'integer' }), 'influxdb', readings);
  assert.deepEqual(
    letters.map((l) => l.code),
    ['STORE_REJECTED', 'STORE_REJECTED', 'STORE_REJECTED'],
  );
  const masked = letters.map((l) => redactReason(l.reason, l.quoted));
  for (const [i, l] of letters.entries()) {
    assert.equal(l.quoted?.length, 1, l.reason);
    assert.equal(masked[i].includes(SECRET), false, masked[i]);
  }
  assert.match(letters[0].reason, new RegExp(`"${SECRET}"`));
  assert.match(masked[0], /^the influxdb store refused this reading of device "d1": InfluxDB at \S+ cannot take device "d1": field "owner" is a string \(string\), but the field is an integer field/);
  assert.match(masked[1], /field "n" is a number, but the field is an integer/);
  assert.match(masked[2], /tag "site": the tag value a string contains a line break/);
  assert.equal(letters[2].quoted?.[0].field, 'site');
});

test('STORE_REJECTED moves the places of what a reason quotes by its prefix, and by the blank it trims', () => {
  const reason = '  field "x" is SECRET; no';
  const e = new StoreRejectedError('duckdb', 'd1', reason, [{ at: 15, text: 'SECRET', kind: 'a string', field: 'x' }]);
  const [q] = e.details.quoted as Array<{ at: number; text: string }>;
  assert.equal(e.message.slice(q.at, q.at + q.text.length), 'SECRET');
  // A store error that quotes nothing adds nothing.
  assert.equal('quoted' in new StoreRejectedError('duckdb', 'd1', new StoreFailedError('no').message).details, false);
});
