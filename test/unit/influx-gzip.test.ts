/**
 * Bodies to an InfluxDB on this machine go uncompressed whatever "gzip above"
 * says; to any other host they are gzipped above it. What went over the wire
 * cannot be asked of influxd, so a small server that answers as InfluxDB 1.x
 * does records each write's headers and bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { gzipThreshold, isLoopbackUrl } from '../../nodes/lib/influx/loopback';
import { InfluxSink } from '../../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';
import { influxSink } from '../../nodes/lib/store/sinks-influx';
import type { Reading } from '../../nodes/lib/reading';
import { removeTempDir, tempDir } from '../helpers/temp';

test('loopback URLs are told apart from other hosts', () => {
  for (const url of ['http://127.0.0.1:8086', 'http://localhost:8086/', 'https://LOCALHOST', 'http://127.8.9.10', 'http://[::1]:8086', 'http://influx.localhost:8086']) {
    assert.equal(isLoopbackUrl(url), true, url);
    assert.equal(gzipThreshold(url, 65536), 0, url);
  }
  for (const url of ['http://10.0.0.5:8086', 'https://influx.example.com', 'http://127.0.0.1.example.com', 'http://[::2]:8086', 'not a url', '']) {
    assert.equal(isLoopbackUrl(url), false, url);
    assert.equal(gzipThreshold(url, 65536), 65536, url);
  }
});

test('a sink configured for a loopback server sends plain bodies; a sink told to gzip sends gzip that holds the same lines', async () => {
  const writes: Array<{ headers: IncomingHttpHeaders; body: Buffer }> = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (url.pathname === '/ping') return res.writeHead(204, { 'x-influxdb-version': '1.6.7' }).end();
      if (url.pathname === '/write') {
        writes.push({ headers: req.headers, body: Buffer.concat(chunks) });
        return res.writeHead(204).end();
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = tempDir('us-influx-gzip-');
  const readings: Reading[] = Array.from({ length: 2000 }, (_, i) => ({ device: `dev-${i % 10}`, ts: 1_700_000_000_000 + i, fields: { t: i / 10, n: i }, tags: {} }));
  try {
    // As the store config builds it: "gzip above" 1 KB, the server on loopback.
    const ctx = { dataDir: dir, siblings: [] };
    const config = influxSink.normalize({ ...influxSink.defaults(), id: 'i1', kind: 'influxdb', url, create: false, gzipAbove: 1024 }, ctx);
    const viaConfig = influxSink.create(config, ctx);
    await viaConfig.open();
    await viaConfig.write(readings);
    await viaConfig.close();
    assert.equal(writes.length, 1);
    assert.equal(writes[0].headers['content-encoding'], undefined, 'no gzip to a server on this machine');
    const plain = writes[0].body.toString('utf8');
    assert.ok(plain.length > 1024 && plain.startsWith('telemetry,device=dev-0 '), plain.slice(0, 80));

    // What a sink to another host does with the same setting.
    const direct = new InfluxSink({ server: 'influxdb', url, api: 'v1', database: 'upperstack', precision: 'ms', mapping: DEFAULT_MAPPING, types: new FieldTypeRegistry(), gzipAbove: 1024, timeoutMs: 5000, create: false, retentionMs: 0 });
    await direct.open();
    await direct.write(readings);
    await direct.close();
    assert.equal(writes.length, 2);
    assert.equal(writes[1].headers['content-encoding'], 'gzip');
    assert.ok(writes[1].body.length < plain.length / 3, `${writes[1].body.length} gzipped bytes for ${plain.length}`);
    assert.equal(gunzipSync(writes[1].body).toString('utf8'), plain);
  } finally {
    server.close();
    removeTempDir(dir);
  }
});
