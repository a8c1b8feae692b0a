/**
 * A deterministic mix of hostile MQTT messages next to ordinary ones, for the
 * hostile-mix integration test and its `npm run bench` row. Each message is
 * built so that it ends in exactly one way: one stored reading (device
 * `hm-ok-<i>`, ts T0 + i) or one dead letter (device `hm-bad-<i>`), which lets a
 * test account for every message sent.
 */
import { encode } from '../../nodes/lib/codec';

export interface HostileMessage {
  topic: string;
  payload: Buffer;
  /** 'stored': one reading of device `hm-ok-<i>`; 'dead': one dead letter of device `hm-bad-<i>`. */
  expect: 'stored' | 'dead';
  kind: string;
}

export const HOSTILE_T0 = 1767225600000;

/** mulberry32: the same mix for the same seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const wideCache = new Map<number, Buffer>();
function wide(fields: number): Buffer {
  let b = wideCache.get(fields);
  if (!b) {
    b = Buffer.from(JSON.stringify(Object.fromEntries(Array.from({ length: fields }, (_, k) => [`f${k}`, k]))));
    wideCache.set(fields, b);
  }
  return b;
}

let many: Buffer | undefined;
function tooMany(): Buffer {
  many ??= Buffer.from(`[${Array.from({ length: 10_001 }, (_, k) => `{"v":${k}}`).join(',')}]`);
  return many;
}

/** Message i of the mix. About half are ordinary readings in every format, half are hostile. */
export function hostileMessage(i: number, random: () => number): HostileMessage {
  const ts = HOSTILE_T0 + i;
  const ok = (kind: string, payload: Buffer, topic = `devices/hm-ok-${i}/telemetry`): HostileMessage => ({ topic, payload, expect: 'stored', kind });
  const bad = (kind: string, payload: Buffer): HostileMessage => ({ topic: `devices/hm-bad-${i}/telemetry`, payload, expect: 'dead', kind });
  const r = random();
  if (r < 0.5) {
    const v = Math.round(random() * 1e6) / 100;
    switch (i % 5) {
      case 0:
        return ok('json', Buffer.from(JSON.stringify({ ts, v, n: { a: i } })));
      case 1:
        return ok('cbor', encode('cbor', { ts, v, ok: i % 2 === 0 }));
      case 2:
        return ok('msgpack', encode('msgpack', { ts, v, s: `x${i}` }));
      case 3:
        return ok('lineprotocol', Buffer.from(`hm-ok-${i} v=${v} ${ts}000000`));
      default:
        return ok('protobuf', encode('protobuf', { device: `hm-ok-${i}`, ts, fields: { v }, tags: {} }), `devices/hm-ok-${i}/protobuf`);
    }
  }
  const h = random();
  const depth = h < 0.02 ? 100_000 : 5_000 + Math.floor(random() * 15_000);
  if (h < 0.12) return bad('deep-json-array', Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`));
  if (h < 0.2) return bad('deep-json-object', Buffer.from(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));
  if (h < 0.3) return bad('deep-msgpack', Buffer.concat([Buffer.alloc(depth, 0x91), Buffer.from([0x01])]));
  if (h < 0.36) return bad('deep-cbor', Buffer.concat([Buffer.alloc(depth, 0x81), Buffer.from([0x01])]));
  if (h < 0.37) return bad('wide-20000', wide(20_000));
  if (h < 0.42) return bad('wide-1500', wide(1500));
  if (h < 0.47) return bad('long-string', Buffer.from(JSON.stringify({ ts, s: 'x'.repeat(70_000 + Math.floor(random() * 1000)) })));
  if (h < 0.52) return bad('nan-json', Buffer.from(`{"ts":${ts},"v":NaN}`));
  if (h < 0.57) return bad('nan-msgpack', encode('msgpack', { ts, v: random() < 0.5 ? Number.NaN : Number.POSITIVE_INFINITY }));
  if (h < 0.62) return bad('invalid-utf8', Buffer.concat([Buffer.from(`{"ts":${ts},"s":"`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]));
  if (h < 0.67) return bad('lone-surrogate', Buffer.from(`{"ts":${ts},"s":"\\ud800"}`));
  if (h < 0.74) {
    const full = encode('cbor', { ts, temperature: 1, humidity: 2, pressure: 3 });
    return bad('truncated-cbor', full.subarray(0, 1 + Math.floor(random() * (full.length - 2))));
  }
  if (h < 0.8) return bad('truncated-json', Buffer.from(`{"ts":${ts},"v":1`.slice(0, 3 + Math.floor(random() * 10))));
  if (h < 0.86) {
    const junk = Buffer.alloc(16 + Math.floor(random() * 512));
    for (let k = 0; k < junk.length; k++) junk[k] = 0xc1; // never valid in MessagePack, not text
    return bad('junk', junk);
  }
  if (h < 0.9) return bad('schema', Buffer.from(JSON.stringify({ ts, 'bad name!': 1 })));
  if (h < 0.905) return bad('too-many-readings', tooMany());
  if (h < 0.907) return bad('too-large', Buffer.alloc(1_100_000, 0x20));
  if (h < 0.97) return bad('bad-timestamp', Buffer.from(JSON.stringify({ ts: 'yesterday', v: 1 })));
  return bad('empty-fields', Buffer.from(JSON.stringify({ ts, n: {} })));
}

/** The messages one by one, built as they are taken (a whole mix held at once would be 100 MB). */
export function* hostileMix(count: number, seed = 8): Generator<HostileMessage> {
  const random = rng(seed);
  for (let i = 0; i < count; i++) yield hostileMessage(i, random);
}

/**
 * Publishes the mix at QoS 1 with `inflight` messages unacknowledged at a time;
 * resolves with what was sent once every PUBACK is in.
 */
export async function publishMix(client: { publishAsync(topic: string, payload: Buffer, opts: { qos: 1 }): Promise<unknown> }, count: number, inflight = 32, seed = 8): Promise<{ stored: number; dead: number; bytes: number; kinds: Record<string, number> }> {
  const sent = { stored: 0, dead: 0, bytes: 0, kinds: {} as Record<string, number> };
  const it = hostileMix(count, seed);
  const worker = async () => {
    for (let next = it.next(); !next.done; next = it.next()) {
      const m = next.value;
      sent[m.expect]++;
      sent.bytes += m.payload.length;
      sent.kinds[m.kind] = (sent.kinds[m.kind] ?? 0) + 1;
      await client.publishAsync(m.topic, m.payload, { qos: 1 });
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  return sent;
}
