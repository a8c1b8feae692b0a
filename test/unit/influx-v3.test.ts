/**
 * The InfluxDB sink against an InfluxDB 3 server: it tells 3.x from its /ping
 * version, writes to /api/v3/write_lp with the database and the precision
 * spelled as 3.x wants it, sends the token, and falls back to the v2 route
 * (the database as the bucket) when the v3 route answers 404. InfluxDB 3 is
 * neither packaged for Debian nor downloadable here, so a small server that
 * answers as InfluxDB 3 Core does stands in for it and records each request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InfluxSink } from '../../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';
import type { Precision } from '../../nodes/lib/influx/line';
import type { Reading } from '../../nodes/lib/reading';

interface Request {
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

/** An InfluxDB 3 Core stand-in: version 3.2.0 on /ping; `v3Route` false answers the v3 write route 404, as a proxy passing only v2 would. */
async function influx3(v3Route: boolean): Promise<{ url: string; requests: Request[]; close: () => Promise<void> }> {
  const requests: Request[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ path: url.pathname, query: url.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (url.pathname === '/ping') return res.writeHead(200, { 'x-influxdb-version': '3.2.0', 'content-type': 'application/json' }).end('{"version":"3.2.0"}');
      if ((url.pathname === '/api/v3/write_lp' && v3Route) || url.pathname === '/api/v2/write') return res.writeHead(204).end();
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function sink(url: string, precision: Precision, notices: string[]): InfluxSink {
  return new InfluxSink({
    server: 'influxdb',
    url,
    api: 'auto',
    database: 'plant',
    token: 'apiv3_secret',
    precision,
    mapping: DEFAULT_MAPPING,
    types: new FieldTypeRegistry(),
    gzipAbove: 0,
    timeoutMs: 5_000,
    create: true,
    retentionMs: 0,
    onNotice: (t) => notices.push(t),
  });
}

const readings: Reading[] = [
  { device: 'boiler 1', ts: 1_767_225_600_123, fields: { temp: 20.5, on: true, count: 3 }, tags: { site: 'a,b' } },
  { device: 'boiler 1', ts: 1_767_225_601_123, fields: { temp: 21 }, tags: { site: 'a,b' } },
];

test('InfluxDB 3: detected from /ping, written to /api/v3/write_lp with db, precision and the token', async () => {
  const s3 = await influx3(true);
  const notices: string[] = [];
  const expected: Record<Precision, { precision: string; ts: string }> = {
    ms: { precision: 'millisecond', ts: '1767225600123' },
    s: { precision: 'second', ts: '1767225600' },
    us: { precision: 'microsecond', ts: '1767225600123000' },
    ns: { precision: 'nanosecond', ts: '1767225600123000000' },
  };
  try {
    for (const precision of ['ms', 's', 'us', 'ns'] as const) {
      const sk = sink(s3.url, precision, notices);
      await sk.open();
      await sk.write(readings);
      await sk.close();
      const writes = s3.requests.filter((r) => r.path.startsWith('/api/'));
      const w = writes[writes.length - 1];
      assert.equal(w.path, '/api/v3/write_lp', precision);
      assert.equal(w.query.get('db'), 'plant');
      assert.equal(w.query.get('precision'), expected[precision].precision);
      assert.equal(w.headers.authorization, 'Token apiv3_secret');
      const lines = w.body.trim().split('\n');
      assert.equal(lines.length, 2);
      // The v2 dialect of line protocol: the tag value's comma escaped, the device a tag, the integer typed once seen.
      assert.match(lines[0], /^telemetry,/);
      assert.ok(lines[0].includes('site=a\\,b'), lines[0]);
      assert.ok(lines[0].includes('device=boiler\\ 1'), lines[0]);
      assert.ok(lines[0].endsWith(` ${expected[precision].ts}`), lines[0]);
    }
    assert.equal(s3.requests.filter((r) => r.path === '/api/v2/write').length, 0, 'nothing went through the v2 route');
    assert.ok(notices.some((n) => /InfluxDB 3\.2\.0 answers; writing with the v3 API/.test(n)), notices.join('\n'));
  } finally {
    await s3.close();
  }
});

test('InfluxDB 3 behind a proxy without the v3 route: a 404 there moves the sink to /api/v2/write with the database as the bucket, once, and nothing is lost', async () => {
  const s3 = await influx3(false);
  const notices: string[] = [];
  try {
    const sk = sink(s3.url, 'ms', notices);
    await sk.open();
    await sk.write(readings);
    await sk.write([{ device: 'boiler 2', ts: 1_767_225_700_000, fields: { temp: 19 }, tags: {} }]);
    await sk.close();
    const v3 = s3.requests.filter((r) => r.path === '/api/v3/write_lp');
    const v2 = s3.requests.filter((r) => r.path === '/api/v2/write');
    assert.equal(v3.length, 1, 'the v3 route was tried once');
    assert.equal(v2.length, 2);
    assert.equal(v2[0].query.get('bucket'), 'plant');
    assert.equal(v2[0].query.get('precision'), 'ms');
    assert.equal(v2[0].body, v3[0].body, 'the refused batch was sent again whole');
    assert.match(v2[1].body, /device=boiler\\ 2/);
    assert.equal(notices.filter((n) => /has no \/api\/v3\/write_lp; writing through \/api\/v2\/write/.test(n)).length, 1, notices.join('\n'));
  } finally {
    await s3.close();
  }
});
