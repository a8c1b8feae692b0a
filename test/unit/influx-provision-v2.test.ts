/**
 * The InfluxDB sink against an InfluxDB 2.x server: with "create" on it makes
 * the bucket with the sink's retention when the token may, says so in the log
 * and in its stats, and when the token may not (or the organisation is
 * unknown) it says what to do and still writes. InfluxDB 2.x is not packaged
 * for Debian nor downloadable here, so a small server that answers as 2.7 does
 * (/ping, /api/v2/orgs, /api/v2/buckets, /api/v2/write) stands in for it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InfluxSink } from '../../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';
import type { Reading } from '../../nodes/lib/reading';

interface Influx2 {
  url: string;
  /** Buckets by name, with their retention in seconds (0: forever). */
  buckets: Map<string, number>;
  writes: Array<{ bucket: string | null; org: string | null; auth: string | undefined; body: string }>;
  close: () => Promise<void>;
}

/** Tokens: `allToken` may create buckets, `writeToken` may only write. */
async function influx2(): Promise<Influx2> {
  const buckets = new Map<string, number>();
  const writes: Influx2['writes'] = [];
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (url.pathname === '/ping') return res.writeHead(204, { 'x-influxdb-version': 'v2.7.11' }).end();
      const auth = req.headers.authorization;
      if (auth !== 'Token allToken' && auth !== 'Token writeToken') return json(res, 401, { code: 'unauthorized', message: 'unauthorized access' });
      if (url.pathname === '/api/v2/orgs' && req.method === 'GET') {
        return json(res, 200, { orgs: url.searchParams.get('org') === 'plant' ? [{ id: '0a1b2c3d4e5f6071', name: 'plant' }] : [] });
      }
      if (url.pathname === '/api/v2/buckets' && req.method === 'GET') {
        if (auth !== 'Token allToken') return json(res, 200, { buckets: [] });
        const name = url.searchParams.get('name') ?? '';
        return json(res, 200, { buckets: buckets.has(name) ? [{ id: '1', name }] : [] });
      }
      if (url.pathname === '/api/v2/buckets' && req.method === 'POST') {
        if (auth !== 'Token allToken') return json(res, 403, { code: 'forbidden', message: 'insufficient permissions for write:orgs/0a1b2c3d4e5f6071/buckets' });
        const b = JSON.parse(body) as { orgID: string; name: string; retentionRules: Array<{ type: string; everySeconds: number }> };
        assert.equal(b.orgID, '0a1b2c3d4e5f6071');
        buckets.set(b.name, b.retentionRules.find((r) => r.type === 'expire')?.everySeconds ?? 0);
        return json(res, 201, { id: '1', name: b.name });
      }
      if (url.pathname === '/api/v2/write' && req.method === 'POST') {
        const bucket = url.searchParams.get('bucket');
        if (!bucket || !buckets.has(bucket)) return json(res, 404, { code: 'not found', message: `bucket "${bucket}" not found` });
        writes.push({ bucket, org: url.searchParams.get('org'), auth, body });
        return res.writeHead(204).end();
      }
      json(res, 404, { code: 'not found', message: 'path not found' });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    buckets,
    writes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function sink(s: Influx2, o: { token: string; org: string; bucket: string; retentionMs: number }, notices: string[]): InfluxSink {
  return new InfluxSink({
    server: 'influxdb',
    url: s.url,
    api: 'auto',
    ...o,
    precision: 'ms',
    mapping: DEFAULT_MAPPING,
    types: new FieldTypeRegistry(),
    gzipAbove: 0,
    timeoutMs: 5_000,
    create: true,
    onNotice: (t) => notices.push(t),
  });
}

const reading: Reading = { device: 'meter-1', ts: 1_767_225_600_000, fields: { kwh: 1.5 }, tags: {} };

test('InfluxDB 2.x: a missing bucket is created with the sink\'s retention when the token may, and said so; the readings are written to it', async () => {
  const s = await influx2();
  const notices: string[] = [];
  try {
    const sk = sink(s, { token: 'allToken', org: 'plant', bucket: 'telemetry', retentionMs: 30 * 86_400_000 }, notices);
    await sk.open();
    assert.equal(s.buckets.get('telemetry'), 30 * 86_400, 'created with a 30-day expiry');
    assert.ok(notices.some((n) => /bucket "telemetry" created with a retention of 30d/.test(n)), notices.join('\n'));
    await sk.write([reading]);
    await sk.close();
    assert.equal(s.writes.length, 1);
    assert.deepEqual([s.writes[0].bucket, s.writes[0].org, s.writes[0].auth], ['telemetry', 'plant', 'Token allToken']);
    assert.match(s.writes[0].body, /^telemetry,device=meter-1 kwh=1\.5 1767225600000$/m);
    // Opened again, the bucket is found, not created twice.
    const again = sink(s, { token: 'allToken', org: 'plant', bucket: 'telemetry', retentionMs: 30 * 86_400_000 }, notices);
    await again.open();
    await again.close();
    assert.ok(notices.some((n) => /bucket "telemetry" exists/.test(n)), notices.join('\n'));
  } finally {
    await s.close();
  }
});

test('InfluxDB 2.x: a token that may not create buckets, or an unknown organisation, is said clearly, and writes go ahead to a bucket made by hand', async () => {
  const s = await influx2();
  const notices: string[] = [];
  try {
    const sk = sink(s, { token: 'writeToken', org: 'plant', bucket: 'made-by-hand', retentionMs: 0 }, notices);
    await sk.open();
    assert.equal(s.buckets.size, 0, 'nothing created');
    const refused = notices.find((n) => /cannot check or create bucket "made-by-hand"/.test(n));
    assert.ok(refused, notices.join('\n'));
    assert.match(refused, /create it yourself or use a token allowed to read and write buckets/);
    // The operator makes the bucket; the writes that follow go through.
    s.buckets.set('made-by-hand', 0);
    await sk.write([reading]);
    await sk.close();
    assert.equal(s.writes.length, 1);
    assert.equal(s.writes[0].bucket, 'made-by-hand');

    const unknownOrg = sink(s, { token: 'allToken', org: 'nobody', bucket: 'x', retentionMs: 0 }, notices);
    await unknownOrg.open();
    await unknownOrg.close();
    assert.ok(notices.some((n) => /cannot check or create bucket "x": organisation "nobody" not found/.test(n)), notices.join('\n'));
  } finally {
    await s.close();
  }
});
