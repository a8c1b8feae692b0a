/**
 * The InfluxDB sink's health when the server answers but refuses the sink's login: InfluxDB 1.x answers `/ping`
 * without credentials, so a probe of `/ping` alone called the sink healthy while every write was refused (401)
 * and spooled. A small server that answers as 1.8 does (/ping, /query, /write with Basic credentials) stands in
 * for it, so the password can be corrected on the server while the sink runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InfluxSink } from '../../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';
import { StoreUnavailableError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';

interface Influx1 {
  url: string;
  /** The password the server takes for user "writer"; changed while the sink runs. */
  password: { value: string };
  writes: string[];
  close: () => Promise<void>;
}

async function influx1(): Promise<Influx1> {
  const password = { value: 'right' };
  const writes: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/ping') return res.writeHead(204, { 'x-influxdb-version': '1.8.10' }).end();
      const expected = `Basic ${Buffer.from(`writer:${password.value}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"authorization failed"}');
      if (url.pathname === '/query') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"statement_id":0}]}');
      if (url.pathname === '/write') {
        writes.push(Buffer.concat(chunks).toString('utf8'));
        return res.writeHead(204).end();
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, password, writes, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const reading: Reading = { device: 'meter-1', ts: 1_767_225_600_000, fields: { kwh: 1.5 }, tags: {} };

test('a sink whose writes are refused for their credentials is not healthy, says why, and is again once a write goes through', async () => {
  const s = await influx1();
  s.password.value = 'changed-on-the-server';
  const sink = new InfluxSink({
    server: 'influxdb',
    url: s.url,
    api: 'auto',
    database: 'upperstack',
    user: 'writer',
    password: 'right',
    precision: 'ms',
    mapping: DEFAULT_MAPPING,
    types: new FieldTypeRegistry(),
    gzipAbove: 0,
    timeoutMs: 5_000,
    create: false,
    retentionMs: 0,
  });
  try {
    await sink.open();
    assert.equal((await sink.health()).ok, true, 'nothing refused yet');
    // An outage for the writer (spooled and retried), not data it blames.
    await assert.rejects(sink.write([reading]), (err: Error) => err instanceof StoreUnavailableError && /refused the credentials \(HTTP 401\)/.test(err.message));
    const refused = await sink.health();
    assert.equal(refused.ok, false);
    assert.match(refused.detail, /answers but refuses the writes: .*refused the credentials \(HTTP 401\): authorization failed/);
    s.password.value = 'right';
    await sink.write([reading]);
    assert.equal(s.writes.length, 1);
    assert.equal((await sink.health()).ok, true);
  } finally {
    await sink.close();
    await s.close();
  }
});
