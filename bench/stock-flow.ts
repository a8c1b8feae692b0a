/**
 * The stock Node-RED reference flow, built only from core nodes:
 *
 *   mqtt in (QoS 1, utf8) → json → join (1000 messages, or 100 ms) → function: DuckDB appender
 *   http in GET /bench/query → function: count or probe query → http response
 *
 * The writer appends to a `readings` table with the same columns and primary key
 * as Upperstack's, in one transaction per joined group, one group after another.
 * The read path has a connection of its own, as Upperstack's store has had since
 * 2026-11-30: the bench's count and probe scans (every 25 ms) must not queue in the
 * writes' chain, nor a write behind them (BENCH_STOCK_SHARED_CONN=1 puts them back
 * on the one connection, the method before 2026-12-02). It is what a careful user
 * would build by hand: no journal, no validation, no spool.
 *
 * startStockRed() runs such a flow (these, or bench/influx-flows.ts) in a stock
 * Node-RED with bench/stock-settings.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../test/helpers/runtime';
import { sleep } from './common';

const ROOT = join(__dirname, '..', '..');

const SCHEMA = `CREATE TABLE IF NOT EXISTS readings (
  device VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, field VARCHAR NOT NULL,
  value_double DOUBLE, value_bool BOOLEAN, value_text VARCHAR, tags JSON,
  PRIMARY KEY (device, ts, field))`;

const WRITER_INIT = `
const duck = global.get('duckdb');
const instance = await duck.DuckDBInstance.create(global.get('benchDbPath'));
const conn = await instance.connect();
await conn.run(${JSON.stringify(SCHEMA)});
// Writes go one after another on their chain; reads on a connection of their own, so a query never waits behind the writes' backlog
// (nor holds them up).
const qconn = global.get('benchSharedConn') ? conn : await instance.connect();
global.set('benchDb', { instance, conn, qconn, chain: Promise.resolve() });
`;

const WRITER = `
const duck = global.get('duckdb');
const db = global.get('benchDb');
const groups = msg.payload;
const run = async () => {
  await db.conn.run('BEGIN TRANSACTION');
  let ap;
  try {
    ap = await db.conn.createAppender('readings');
    for (const group of groups) {
      const list = Array.isArray(group) ? group : [group];
      for (const r of list) {
        const ts = new duck.DuckDBTimestampValue(BigInt(r.ts) * 1000n);
        const tags = JSON.stringify(r.tags || {});
        for (const k in r) {
          if (k === 'device' || k === 'ts' || k === 'tags') continue;
          const v = r[k];
          const t = typeof v;
          ap.appendVarchar(r.device);
          ap.appendTimestamp(ts);
          ap.appendVarchar(k);
          if (t === 'number') ap.appendDouble(v); else ap.appendNull();
          if (t === 'boolean') ap.appendBoolean(v); else ap.appendNull();
          if (t === 'string') ap.appendVarchar(v); else ap.appendNull();
          ap.appendVarchar(tags);
          ap.endRow();
        }
      }
    }
    ap.closeSync();
    ap = undefined;
    await db.conn.run('COMMIT');
  } catch (err) {
    if (ap) { try { ap.clear(); ap.closeSync(); } catch (e) {} }
    await db.conn.run('ROLLBACK').catch(() => {});
    throw err;
  }
};
db.chain = db.chain.then(run).then(() => node.done(), (err) => node.done(err));
return null;
`;

const QUERY = `
const db = global.get('benchDb');
if (!db) { msg.statusCode = 503; msg.payload = { error: 'starting' }; return msg; }
const q = msg.req.query;
const run = async () => {
  if (q.count !== undefined) {
    const r = await db.qconn.runAndReadAll("SELECT count(*)::DOUBLE FROM readings WHERE field = 'temperature' AND starts_with(device, $p)", { p: String(q.count) });
    msg.payload = { count: r.getRows()[0][0] };
  } else {
    const r = await db.qconn.runAndReadAll("SELECT epoch_ms(ts)::DOUBLE FROM readings WHERE device = $d AND field = 'temperature' AND ts > epoch_ms($after::BIGINT) ORDER BY ts", { d: String(q.probe), after: String(q.after || 0) });
    msg.payload = { ts: r.getRows().map((row) => row[0]) };
  }
};
const ran = db.qconn === db.conn ? (db.chain = db.chain.then(run)) : run();
ran.then(
  () => node.send(msg),
  (err) => { msg.statusCode = 500; msg.payload = { error: String(err) }; node.send(msg); },
);
return null;
`;

/**
 * What both stock references end in: a join of up to joinCount messages into the DuckDB writer, and the
 * query endpoint the bench reads counts from (GET /bench/query), on the row below.
 */
function joinWriteQuery(z: string, join: { id: string; x: number; y: number }, opts: { joinCount?: number; joinTimeoutS?: number }): unknown[] {
  const { y } = join;
  return [
    {
      id: join.id, type: 'join', z, name: 'join 1000', mode: 'custom', build: 'array', property: 'payload', propertyType: 'msg',
      key: 'topic', joiner: '\\n', joinerType: 'str', useparts: false, accumulate: false,
      timeout: String(opts.joinTimeoutS ?? 0.1), count: String(opts.joinCount ?? 1000), reduceRight: false, reduceExp: '',
      reduceInit: '', reduceInitType: '', reduceFixup: '', x: join.x, y, wires: [['bench_write']],
    },
    { id: 'bench_write', type: 'function', z, name: 'DuckDB write', func: WRITER, outputs: 0, timeout: 0, noerr: 0, initialize: WRITER_INIT, finalize: '', libs: [], x: 630, y, wires: [] },
    { id: 'bench_http', type: 'http in', z, name: '', url: '/bench/query', method: 'get', upload: false, swaggerDoc: '', x: 140, y: y + 80, wires: [['bench_query']] },
    { id: 'bench_query', type: 'function', z, name: 'DuckDB query', func: QUERY, outputs: 1, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [], x: 350, y: y + 80, wires: [['bench_resp']] },
    { id: 'bench_resp', type: 'http response', z, name: '', statusCode: '', headers: {}, x: 540, y: y + 80, wires: [] },
  ];
}

export function stockFlow(opts: { brokerPort: number; filter: string; joinCount?: number; joinTimeoutS?: number }): unknown[] {
  const z = 'bench_tab';
  return [
    { id: z, type: 'tab', label: 'stock reference', disabled: false, info: '' },
    {
      id: 'bench_broker', type: 'mqtt-broker', name: 'bench broker', broker: '127.0.0.1', port: String(opts.brokerPort),
      clientid: `bench-stock-${process.pid}`, autoConnect: true, usetls: false, protocolVersion: '4', keepalive: '60',
      cleansession: true, autoUnsubscribe: true, birthTopic: '', birthQos: '0', birthPayload: '', birthMsg: {},
      closeTopic: '', closeQos: '0', closePayload: '', closeMsg: {}, willTopic: '', willQos: '0', willPayload: '', willMsg: {},
      userProps: '', sessionExpiry: '',
    },
    { id: 'bench_in', type: 'mqtt in', z, name: 'telemetry', topic: opts.filter, qos: '1', datatype: 'utf8', broker: 'bench_broker', nl: false, rap: true, rh: 0, inputs: 0, x: 120, y: 80, wires: [['bench_json']] },
    { id: 'bench_json', type: 'json', z, name: '', property: 'payload', action: 'obj', pretty: false, x: 290, y: 80, wires: [['bench_join']] },
    ...joinWriteQuery(z, { id: 'bench_join', x: 450, y: 80 }, opts),
  ];
}

/**
 * The stock HTTP reference: `http in` POST /bench/ingest → `json` → `http response`
 * (202) and → the same join and DuckDB writer as the MQTT row. It answers before
 * anything is stored, as such a hand-built flow does.
 */
export function stockHttpFlow(opts: { joinCount?: number; joinTimeoutS?: number } = {}): unknown[] {
  const z = 'bench_http_tab';
  return [
    { id: z, type: 'tab', label: 'stock HTTP reference', disabled: false, info: '' },
    { id: 'bench_hin', type: 'http in', z, name: '', url: '/bench/ingest/:device', method: 'post', upload: false, swaggerDoc: '', x: 140, y: 80, wires: [['bench_hjson']] },
    { id: 'bench_hjson', type: 'json', z, name: '', property: 'payload', action: 'obj', pretty: false, x: 300, y: 80, wires: [['bench_hok', 'bench_hjoin']] },
    { id: 'bench_hok', type: 'change', z, name: '202', rules: [{ t: 'set', p: 'statusCode', pt: 'msg', to: '202', tot: 'num' }, { t: 'set', p: 'payload', pt: 'msg', to: '{}', tot: 'json' }], x: 460, y: 40, wires: [['bench_hresp']] },
    { id: 'bench_hresp', type: 'http response', z, name: '', statusCode: '', headers: {}, x: 620, y: 40, wires: [] },
    ...joinWriteQuery(z, { id: 'bench_hjoin', x: 460, y: 120 }, opts),
  ];
}

export interface StockRed {
  proc: ChildProcess;
  /** The port of its HTTP endpoints (/bench/query, /bench/ready, /bench/ingest). */
  port: number;
  /** The last 20,000 characters it printed. */
  output(): string;
  /** GET /bench/query?<q> (the DuckDB flows' count and probe queries), parsed. */
  query(q: string): Promise<unknown>;
  /** SIGINT, SIGKILL after 10 s; removes `dir` when asked to at the start. */
  stop(): Promise<void>;
}

/**
 * Starts a stock Node-RED over the flows already written to `dir` (flows.json, and
 * flows_cred.json where the flow has credentials) on a free port, and resolves once
 * GET `readyPath` answers 200; it gives up after 60 s or when the process exits.
 */
export async function startStockRed(opts: { dir: string; readyPath: string; removeDir?: boolean; env?: Record<string, string> }): Promise<StockRed> {
  const { dir } = opts;
  const port = await freePort();
  const proc = spawn(process.execPath, [join(ROOT, 'node_modules', 'node-red', 'red.js'), '-s', join(__dirname, 'stock-settings.js'), '-u', dir], {
    cwd: dir,
    env: { ...process.env, NODE_OPTIONS: '', ...opts.env, BENCH_STOCK_PORT: String(port), BENCH_STOCK_DB: join(dir, 'stock.duckdb') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stock: StockRed = {
    proc,
    port,
    output: () => out,
    async query(q) {
      const res = await fetch(`http://127.0.0.1:${port}/bench/query?${q}`);
      if (res.status !== 200) throw new Error(`stock query ${q}: ${res.status} ${await res.text()}`);
      return res.json();
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGINT');
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      if (opts.removeDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  const end = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`stock Node-RED exited with ${proc.exitCode}:\n${out}`);
    const ok = await fetch(`http://127.0.0.1:${port}${opts.readyPath}`).then((r) => r.status === 200, () => false);
    if (ok) return stock;
    if (Date.now() > end) {
      await stock.stop();
      throw new Error(`stock Node-RED did not start in 60 s:\n${out}`);
    }
    await sleep(200);
  }
}
