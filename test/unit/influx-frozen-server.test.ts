/**
 * The InfluxDB/VictoriaMetrics sink against a server that takes connections and never answers: influxd stopped
 * with SIGSTOP (the kernel still accepts for it), a hung process, a proxy whose backend is gone. A request that
 * timed out used to keep its keep-alive socket, so after four of them (the agent's sockets) every later write and
 * every health probe waited for a socket for as long as the server stayed frozen: `/health` never answered and
 * the store was never reported failing. A small server that answers as 1.8 does until it is frozen stands in
 * for influxd, so it can be frozen and thawed while the sink runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InfluxSink } from '../../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';
import { StoreUnavailableError } from '../../nodes/lib/errors';
import type { Reading } from '../../nodes/lib/reading';

interface Freezable {
  url: string;
  frozen: { value: boolean };
  /** Requests held unanswered while frozen. */
  held: number;
  writes: string[];
  close: () => Promise<void>;
}

async function freezable(): Promise<Freezable> {
  const state: Freezable = { url: '', frozen: { value: false }, held: 0, writes: [], close: async () => undefined };
  const answer = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/ping') return res.writeHead(204, { 'x-influxdb-version': '1.8.10' }).end();
    if (url.pathname === '/query') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"statement_id":0}]}');
    if (url.pathname === '/write') {
      state.writes.push(body);
      return res.writeHead(204).end();
    }
    res.writeHead(404).end();
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.frozen.value) {
        state.held++;
        return;
      }
      answer(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

const reading = (i: number): Reading => ({ device: 'meter-1', ts: 1_767_225_600_000 + i, fields: { kwh: i }, tags: {} });

test('a server that stops answering: every write fails as an outage and the health check says so, however many requests timed out; once it answers again writes go through', { timeout: 30_000 }, async (t) => {
  const s = await freezable();
  const sink = new InfluxSink({
    server: 'influxdb',
    url: s.url,
    api: 'auto',
    database: 'upperstack',
    precision: 'ms',
    mapping: DEFAULT_MAPPING,
    types: new FieldTypeRegistry(),
    gzipAbove: 0,
    timeoutMs: 300,
    create: false,
    retentionMs: 0,
  });
  // Also after a timeout of this test (the sink waiting for good): the held connections would keep the file running.
  t.after(async () => {
    await sink.close();
    await s.close();
  });
  await sink.open();
  await sink.write([reading(0)]);
  s.frozen.value = true;
  // More timed-out requests than the sink keeps sockets (4): each must still end, as an outage the writer spools.
  for (let i = 1; i <= 8; i++) {
    await assert.rejects(sink.write([reading(i)]), (err: Error) => err instanceof StoreUnavailableError && /cannot be reached: .*no answer within 0\.3 s/.test(err.message), `write ${i}`);
  }
  const frozen = await sink.health();
  assert.equal(frozen.ok, false);
  assert.match(frozen.detail, /no answer within 0\.3 s/);
  assert.ok(s.held >= 9, `the server saw the requests (${s.held} held)`);
  s.frozen.value = false;
  await sink.write([reading(9)]);
  assert.equal((await sink.health()).ok, true);
  assert.deepEqual(
    s.writes.map((w) => w.trim()),
    [`telemetry,device=meter-1 kwh=0 1767225600000`, `telemetry,device=meter-1 kwh=9 1767225600009`],
  );
});
