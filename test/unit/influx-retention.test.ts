/**
 * InfluxDB's "points beyond retention policy dropped=N" answer becomes a
 * RetentionRefusedError naming the N oldest readings of the write. The 1.x
 * answer is checked against influxd itself in
 * test/integration/influx-sink.test.ts; InfluxDB 2.x cannot run here, so its
 * answer (422 with the message InfluxDB 2.7 sends, and the bucket's retention
 * from /api/v2/buckets) comes from a small HTTP server that answers as 2.x does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { droppedBeyondRetention, goDurationMs, oldestIndexes } from '../../nodes/lib/influx/retention';
import { InfluxSink } from '../../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';
import { RetentionRefusedError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';

const at = (ts: number): Reading => ({ device: 'd', ts, fields: { v: 1 }, tags: {} });

test('the 1.x and 2.x answers are read; other partial writes are not', () => {
  assert.equal(droppedBeyondRetention('partial write: points beyond retention policy dropped=2'), 2);
  assert.equal(droppedBeyondRetention('failure writing points to database: partial write: points beyond retention policy dropped=17'), 17);
  assert.equal(droppedBeyondRetention('unexpected error writing points to database: partial write: points beyond retention policy dropped=1'), 1);
  assert.equal(droppedBeyondRetention('partial write: field type conflict: input field "v" on measurement "m" is type string, already exists as type float dropped=1'), undefined);
  assert.equal(droppedBeyondRetention('partial write: points beyond retention policy dropped=0'), undefined);
});

test('the dropped points are the oldest of the write, named in write order; an ambiguous count names none', () => {
  assert.deepEqual(oldestIndexes([at(50), at(10), at(40), at(20)], 2), [1, 3]);
  assert.deepEqual(oldestIndexes([at(50), at(10)], 2), [0, 1]);
  assert.equal(oldestIndexes([at(10), at(20), at(20)], 2), undefined);
  assert.equal(oldestIndexes([at(10)], 2), undefined);
});

test('Go durations as InfluxQL shows them', () => {
  assert.equal(goDurationMs('1h0m0s'), 3_600_000);
  assert.equal(goDurationMs('720h0m0s'), 30 * 86_400_000);
  assert.equal(goDurationMs('0s'), 0);
  assert.equal(goDurationMs('1m30s'), 90_000);
  assert.equal(goDurationMs('INF'), undefined);
  assert.equal(goDurationMs(''), undefined);
});

test('a 2.x sink: the 422 answer names the old readings, with the cutoff of the bucket retention', async () => {
  const now = Date.now();
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    req.resume();
    req.on('end', () => {
      if (url.pathname === '/ping') return res.writeHead(204, { 'x-influxdb-version': 'v2.7.11' }).end();
      if (url.pathname === '/api/v2/buckets' && url.searchParams.get('name') === 'b') {
        return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ buckets: [{ name: 'b', retentionRules: [{ type: 'expire', everySeconds: 86_400 }] }] }));
      }
      if (url.pathname === '/api/v2/write') {
        return res
          .writeHead(422, { 'content-type': 'application/json; charset=utf-8' })
          .end(JSON.stringify({ code: 'unprocessable entity', message: 'failure writing points to database: partial write: points beyond retention policy dropped=2' }));
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sink = new InfluxSink({ server: 'influxdb', url, api: 'v2', org: 'o', bucket: 'b', token: 't', precision: 'ms', mapping: DEFAULT_MAPPING, types: new FieldTypeRegistry(), gzipAbove: 0, timeoutMs: 5000, create: false, retentionMs: 0 });
  try {
    const err = await sink.write([at(now), at(now - 3 * 86_400_000), at(now - 1000), at(now - 2 * 86_400_000)]).then(
      () => assert.fail('the write is refused'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof RetentionRefusedError, String(err));
    assert.equal(err.code, 'BEYOND_RETENTION');
    assert.deepEqual(err.indexes, [1, 3]);
    assert.ok(err.cutoff <= Date.now() - 86_400_000 && err.cutoff >= now - 86_400_000, `cutoff ${err.cutoff}`);
    assert.match(err.message, /bucket "b" keeps 1d/);
  } finally {
    await sink.close();
    server.close();
  }
});
