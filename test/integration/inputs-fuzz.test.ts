/**
 * Property-based fuzzing of the HTTP and CoAP inputs on the real runtime (the
 * default pack): 10,000 generated and mutated requests per protocol (fast-check,
 * fixed seeds). Every request is answered 2xx/4xx (2.xx/4.xx), never 5xx, HTML
 * or silence; every request whose body was read is accounted for (its answer's
 * dead-letter count arrives on upperstack/deadletter/#, its accepted readings are
 * stored under the device its body names, a gateway's body under the devices behind
 * it); the journal ends empty, the runtime stays up and its memory bounded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { generate, parse } from 'coap-packet';
import { encode } from '../../nodes/lib/codec';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

const N = 10_000;
const CONCURRENCY = 16;
let rt: Runtime;
let watcher: mqtt.MqttClient;
const letters = new Map<string, number>();
/**
 * The path device of each request whose body names a device of its own (a gateway's): that device's dead letters
 * (readings it names that fail validation) are the request's, counted under the path's device as its answer's are.
 */
const gatewayOf = new Map<string, string>();
/** A registered device: a body naming it under another device's path is refused whole (403 / 4.03 DEVICE_MISMATCH). */
const REGISTERED = 'someone-else';
let peakRss = 0;
let sampler: NodeJS.Timeout;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/**
 * Each protocol's run gets a runtime of its own, so its peak is what 10,000 hostile requests of that protocol
 * cost. The bound covers what the default pack keeps by design: per-device state of the anomaly node (up to
 * 10,000 series; these runs make about 4,500 devices), DuckDB's memory limit (64 MB by default) and V8's heap headroom.
 */
const RSS_LIMIT_MB = 900;

async function boot(): Promise<void> {
  if (rt) {
    clearInterval(sampler);
    await watcher?.endAsync();
    await rt.stop();
  }
  peakRss = 0;
  rt = await startRuntime();
  watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { username: 'apikey', password: rt.apiKey });
  watcher.on('message', (_t, p) => {
    const l = JSON.parse(p.toString()) as { device: string };
    const device = gatewayOf.get(l.device) ?? l.device;
    letters.set(device, (letters.get(device) ?? 0) + 1);
  });
  await watcher.subscribeAsync('upperstack/deadletter/#', { qos: 1 });
  const added = await fetch(`${rt.url}/api/v1/devices`, { method: 'POST', headers: { authorization: `Bearer ${rt.apiKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: REGISTERED }) });
  assert.equal(added.status, 201, await added.text());
  sampler = setInterval(() => (peakRss = Math.max(peakRss, rssMb(rt.proc.pid!))), 200);
}

before(boot);

after(async () => {
  clearInterval(sampler);
  await watcher?.endAsync();
  await rt?.stop();
});

const reading = fc.record({ t: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer(), fc.boolean(), fc.string({ maxLength: 20 })), ts: fc.option(fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), { nil: undefined }) });
const junk = fc.uint8Array({ maxLength: 300 });
const deep = fc.integer({ min: 10, max: 20_000 }).map((d) => '['.repeat(d) + ']'.repeat(d));

type FuzzReading = { t: number | boolean | string; ts?: number };
const xml = (rs: FuzzReading[], device: string) => encode('xml', rs.map((r) => ({ device, ts: r.ts ?? 1.7e12, fields: { t: r.t }, tags: {} })));

interface Body {
  ct: string;
  body: Buffer;
  /** The body with its readings naming this device (a gateway's, or an impostor's), for a format that names it. */
  naming?: (device: string) => Buffer;
}

/**
 * The device a body names instead of its path's, every other request (by its index): one nobody registered
 * (`<path>.gw`, stored under it as a gateway's reading) or the registered one (refused whole).
 */
const namedFor = (path: string, i: number) => (i % 2 ? `${path}.gw` : REGISTERED);

/** A body and its content type: well-formed in every format, then truncated, mutated, or nonsense. */
const httpBody: fc.Arbitrary<Body> = fc.oneof(
  fc.array(reading, { maxLength: 20 }).map((rs) => ({ ct: 'application/json', body: Buffer.from(JSON.stringify(rs)) })),
  reading.map((r) => ({ ct: 'application/cbor', body: encode('cbor', r) })),
  reading.map((r) => ({ ct: 'application/msgpack', body: encode('msgpack', r) })),
  fc.array(reading, { minLength: 1, maxLength: 5 }).map((rs) => ({ ct: 'application/xml', body: xml(rs, 'x'), naming: (device: string) => xml(rs, device) })),
  fc.array(reading, { minLength: 1, maxLength: 5 }).map((rs) => ({ ct: 'application/senml+json', body: Buffer.from(JSON.stringify(rs.map((r) => ({ n: 't', v: typeof r.t === 'number' ? r.t : 1 })))) })),
  // Line protocol without a device tag: its measurement names the device.
  fc.string({ maxLength: 200 }).map((s) => ({ ct: 'text/plain', body: Buffer.from(`m v=1\n${s}`), naming: (device: string) => Buffer.from(`${device} v=1\n${s}`) })),
  fc.tuple(fc.constantFrom('application/json', 'application/cbor', 'application/msgpack', 'application/x-protobuf', 'application/xml', 'text/plain', 'application/senml+cbor', 'image/png', ''), junk).map(([ct, b]) => ({ ct, body: Buffer.from(b) })),
  fc.tuple(fc.array(reading, { maxLength: 5 }), fc.nat()).map(([rs, cut]) => {
    const b = Buffer.from(JSON.stringify(rs));
    return { ct: 'application/json', body: b.subarray(0, cut % (b.length + 1)) };
  }),
  fc.tuple(fc.array(reading, { maxLength: 5 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([rs, at, byte]) => {
    const b = Buffer.from(JSON.stringify(rs));
    if (b.length) b[at % b.length] = byte;
    return { ct: 'application/json', body: b };
  }),
  deep.map((s) => ({ ct: 'application/json', body: Buffer.from(s) })),
  fc.integer({ min: 1, max: 3000 }).map((w) => ({ ct: 'application/json', body: Buffer.from(JSON.stringify(Object.fromEntries(Array.from({ length: w }, (_, i) => [`f${i}`, i])))) })),
);

const httpRequest = fc.record({ b: httpBody, gzip: fc.boolean(), other: fc.boolean() });

interface Tally {
  answered: number;
  /** Readings accepted, by the device they are stored under. */
  stored: Map<string, number>;
  expectLetters: Map<string, number>;
}

function expectLetters(t: Tally, device: string, n: number) {
  if (n > 0) t.expectLetters.set(device, (t.expectLetters.get(device) ?? 0) + n);
}

async function pool<T>(items: T[], worker: (item: T, i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) {
      const i = next++;
      await worker(items[i], i);
    }
  }));
}

async function accountedFor(t: Tally) {
  await eventually(async () => {
    for (const [device, n] of t.expectLetters) if ((letters.get(device) ?? 0) < n) return undefined;
    return true;
  }, 120_000, 'every dead letter');
  for (const [device, n] of t.expectLetters) assert.equal(letters.get(device), n, `dead letters of ${device}`);
  // Every request with accepted readings has them in the store (a sample: a query per device costs), gateways' too.
  const stored = [...t.stored.keys()];
  const sample = [...stored.filter((d) => !gatewayOf.has(d)), ...stored.filter((d) => gatewayOf.has(d))].filter((_, i) => i % 25 === 0);
  assert.ok(sample.some((d) => gatewayOf.has(d)), 'readings stored under a device a body names');
  for (const device of sample) {
    await eventually(async () => {
      const res = await rt.get(`/api/v1/readings?device=${encodeURIComponent(device)}&limit=10000`);
      const body = (await res.json()) as { readings: unknown[] };
      return body.readings.length > 0 ? true : undefined;
    }, 60_000, `readings of ${device}`);
  }
  await eventually(async () => {
    const h = (await (await fetch(`${rt.url}/health`)).json()) as { journal?: { pending: number } };
    return h.journal?.pending === 0 ? true : undefined;
  }, 120_000, 'an empty journal');
}

test(`HTTP: ${N} generated and mutated requests, each answered and accounted for`, async () => {
  const requests = fc.sample(httpRequest, { numRuns: N, seed: 9001 });
  const t: Tally = { answered: 0, stored: new Map(), expectLetters: new Map() };
  const statuses = new Map<number, number>();
  await pool(requests, async (r, i) => {
    const device = `fuzz-h-${i}`;
    // XML and line protocol bodies, and a third of the valid-looking JSON ones, name another device in the body: a
    // registered one (403), or, as a gateway's body, one nobody registered (stored under it).
    const other = r.b.naming || (r.other && r.b.ct === 'application/json' && !r.gzip && r.b.body[0] === 0x7b) ? namedFor(device, i) : undefined;
    const raw = other === undefined ? r.b.body : r.b.naming?.(other) ?? Buffer.from(JSON.stringify({ device: other, t: 1 }));
    const payload = r.gzip ? gzipSync(raw) : raw;
    const names = other === REGISTERED ? undefined : other;
    if (names) gatewayOf.set(names, device);
    const headers: Record<string, string> = {};
    if (r.b.ct) headers['content-type'] = r.b.ct;
    if (r.gzip) headers['content-encoding'] = 'gzip';
    let res: Response;
    for (;;) {
      try {
        res = await fetch(`${rt.url}/ingest/${device}`, { method: 'POST', headers, body: new Uint8Array(payload) });
      } catch (err) {
        // Say why the connection failed and what the runtime said, not just "fetch failed".
        const cause = (err as Error & { cause?: unknown }).cause;
        throw new Error(`request ${i} (${r.b.ct || 'no type'}, ${payload.length} bytes${r.gzip ? ', gzip' : ''}): ${String(err)}; cause: ${String(cause)}; runtime exit ${rt.proc.exitCode ?? rt.proc.signalCode ?? 'none'}; runtime output:\n${rt.output().slice(-4000)}`, { cause: err });
      }
      if (res.status !== 503) break;
      await new Promise((w) => setTimeout(w, 200));
    }
    const text = await res.text();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    assert.ok(res.status >= 200 && res.status < 500, `request ${i}: ${res.status} ${text.slice(0, 200)}`);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/, `request ${i}`);
    // A gateway's body naming a device nobody registered is never refused as an impostor's.
    assert.ok(!(names && res.status === 403), `request ${i} naming ${names}: ${res.status} ${text.slice(0, 200)}`);
    const j = JSON.parse(text) as { accepted?: number; deadLettered?: number; error?: { code: string } };
    t.answered++;
    if (res.status === 202) {
      if ((j.accepted ?? 0) > 0) t.stored.set(names ?? device, j.accepted!);
      expectLetters(t, device, j.deadLettered ?? 0);
    } else if (res.status === 422) expectLetters(t, device, j.deadLettered ?? 0);
    else if (res.status === 400 || res.status === 403 || res.status === 415) {
      // Refused before the body was read (content encoding) keeps nothing; otherwise one dead letter.
      if (!(res.status === 415 && /Encoding/.test(j.error?.code ?? ''))) expectLetters(t, device, 1);
    }
  });
  assert.equal(t.answered, N);
  await accountedFor(t);
  assert.ok(peakRss < RSS_LIMIT_MB, `peak RSS ${peakRss.toFixed(0)} MB`);
  assert.equal(rt.proc.exitCode, null);
  console.log(`HTTP fuzz: ${[...statuses].map(([s, n]) => `${s}×${n}`).join(' ')}; peak RSS ${peakRss.toFixed(0)} MB`);
});

const coapRequest = fc.record({
  format: fc.constantFrom(50, 60, 110, 112, 42, 0, 41, 40, 9999),
  body: httpBody,
  con: fc.boolean(),
  method: fc.constantFrom('POST', 'PUT'),
});

function uint(n: number): Buffer {
  return n < 256 ? Buffer.from([n]) : Buffer.from([n >> 8, n & 255]);
}

test(`CoAP: ${N} generated and mutated requests, each answered and accounted for`, async () => {
  await boot();
  const requests = fc.sample(coapRequest, { numRuns: N, seed: 4242 });
  const t: Tally = { answered: 0, stored: new Map(), expectLetters: new Map() };
  const codes = new Map<string, number>();
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const waiting = new Map<number, (p: ReturnType<typeof parse>) => void>();
  sock.on('message', (m) => {
    const p = parse(m);
    if (p.code === '0.00') return; // an empty ACK: the answer follows separately
    if (!p.ack && p.confirmable) sock.send(generate({ messageId: p.messageId, ack: true, code: '0.00' }), rt.coapPort, '127.0.0.1');
    const key = p.token.length ? p.token.readUInt16BE(0) : -1;
    waiting.get(key)?.(p);
  });
  try {
    await pool(requests, async (r, i) => {
      const device = `fuzz-c-${i}`;
      const other = r.body.naming ? namedFor(device, i) : undefined;
      const names = other === REGISTERED ? undefined : other;
      if (names) gatewayOf.set(names, device);
      // One datagram: bodies larger than that are cut (block-wise has its own test).
      const payload = (other === undefined ? r.body.body : r.body.naming!(other)).subarray(0, 1000);
      const token = Buffer.alloc(2);
      token.writeUInt16BE(i % 65536);
      let answer: ReturnType<typeof parse> | undefined;
      for (let attempt = 0; attempt < 20 && !answer; attempt++) {
        const got = new Promise<ReturnType<typeof parse> | undefined>((resolve) => {
          waiting.set(i % 65536, resolve);
          setTimeout(() => resolve(undefined), 3000);
        });
        const options = [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from(device) }, { name: 'Content-Format', value: uint(r.format) }];
        // A retry is a retransmission (same message ID), which the input stores once.
        sock.send(generate({ code: r.method, messageId: i % 65536, token, confirmable: r.con, payload, options }), rt.coapPort, '127.0.0.1');
        answer = await got;
        if (answer?.code === '5.03') {
          answer = undefined;
          await new Promise((w) => setTimeout(w, 200));
        }
      }
      waiting.delete(i % 65536);
      assert.ok(answer, `request ${i} got no answer`);
      codes.set(answer.code, (codes.get(answer.code) ?? 0) + 1);
      assert.match(answer.code, /^[24]\./, `request ${i}: ${answer.code} ${answer.payload.toString().slice(0, 100)}`);
      assert.ok(!(names && answer.code === '4.03'), `request ${i} naming ${names}: ${answer.payload.toString().slice(0, 200)}`);
      t.answered++;
      if (answer.code === '2.04') {
        const j = JSON.parse(answer.payload.toString()) as { accepted: number; deadLettered: number };
        if (j.accepted > 0) t.stored.set(names ?? device, j.accepted);
        expectLetters(t, device, j.deadLettered);
      } else if (answer.code === '4.00' || answer.code === '4.03' || answer.code === '4.15' || answer.code === '4.22') {
        const many = /^[A-Z_]+: (\d+) rejected;/.exec(answer.payload.toString());
        expectLetters(t, device, many ? Number(many[1]) : 1);
      }
    });
  } finally {
    sock.close();
  }
  assert.equal(t.answered, N);
  await accountedFor(t);
  assert.ok(peakRss < RSS_LIMIT_MB, `peak RSS ${peakRss.toFixed(0)} MB`);
  assert.equal(rt.proc.exitCode, null);
  console.log(`CoAP fuzz: ${[...codes].map(([s, n]) => `${s}×${n}`).join(' ')}; peak RSS ${peakRss.toFixed(0)} MB`);
});
