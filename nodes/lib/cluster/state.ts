/**
 * Per-device analytics state that moves with a cluster partition
 * (docs/scaling.md): nodes that keep state per device (anomaly, alerts)
 * register a holder; the partition node exports a partition's devices from
 * every holder into one checkpoint on the cluster broker, and imports it on
 * the member that takes the partition over.
 */
import { deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import type { Decoder as DecoderType, Encoder as EncoderType } from 'cbor-x' with { 'resolution-mode': 'import' };

// cbor-x's types are ESM-only; the runtime require of its CommonJS build is fine (as in nodes/lib/codec/cbor.ts).
const { Decoder, Encoder } = require('cbor-x') as { Decoder: typeof DecoderType; Encoder: typeof EncoderType };

/** A node's per-device state, as the cluster code sees it. */
export interface DeviceStateHolder {
  /** The same on every member (they run the same flows): node type and id. */
  readonly key: string;
  /** Plain JSON of the devices `keep` accepts. */
  exportDevices(keep: (device: string) => boolean): Promise<unknown>;
  /** Replaces what the holder has for the devices in `state` (an exportDevices() result, maybe from another member). */
  importDevices(state: unknown): Promise<void>;
  /** Drops the devices `drop` accepts. */
  forgetDevices(drop: (device: string) => boolean): Promise<void>;
}

/** The holders of one runtime, and the gate the partition node sets while it runs. */
export class DeviceStateRegistry {
  readonly holders = new Map<string, DeviceStateHolder>();
  /**
   * Set by the partition node: resolves once the partitions of these devices
   * are checkpointed. A holder about to announce a state change (an alert
   * firing) waits for it, so a member that dies right after cannot leave its
   * successor a checkpoint from before the change (which would fire again).
   */
  gate?: (holder: string, devices: readonly string[]) => Promise<void>;
  /**
   * Set by the partition node: whether a device's partition is this member's
   * now (its checkpoint imported, not handed on). What time alone decides (a
   * dead-man silence) is judged only for those devices; unset: all of them.
   */
  owns?: (device: string) => boolean;

  register(h: DeviceStateHolder): () => void {
    this.holders.set(h.key, h);
    return () => {
      if (this.holders.get(h.key) === h) this.holders.delete(h.key);
    };
  }
}

const registries = new Map<string, DeviceStateRegistry>();

/** One registry per runtime (its data folder). */
export function deviceStateRegistry(scope: string): DeviceStateRegistry {
  let r = registries.get(scope);
  if (!r) {
    r = new DeviceStateRegistry();
    registries.set(scope, r);
  }
  return r;
}

/**
 * What a partition's owner leaves on the broker (retained), for the next
 * owner: one message per holder, so an alert transition rewrites the alert
 * engine's share of the partition and not the (much larger) detectors'.
 */
export interface Checkpoint {
  /** 2 when written by this version; 1 when read from a member of an older version (gzip'd JSON). */
  version: 1 | 2;
  partition: number;
  /** The holder whose state it is. */
  holder: string;
  /** The member that wrote it. */
  member: string;
  /** Epoch ms it was written. */
  at: number;
  /** The holder's exportDevices() for the partition's devices. */
  state: unknown;
}

/** The retained topic of a holder's checkpoint of a partition. */
export function checkpointTopic(group: string, partition: number, holder: string): string {
  return `upperstack/cluster/${group}/state/${partition}/${encodeURIComponent(holder)}`;
}

/*
 * Format 2: "USCP", a format byte (2), then raw deflate of CBOR. Detector
 * state is mostly long arrays of numbers (a series' window of times and
 * values): JSON writes each as decimal text, which is slow to produce and
 * large. Here an array of at least PACK_MIN finite numbers becomes raw bytes
 * (an RFC 8746 typed array): integers (times a few seconds apart, counts) and
 * decimals with up to six places (a sensor's 21.37) as the first value and
 * Int32 steps, which deflate to little (almost nothing at a steady cadence);
 * anything else as Float64, bit for bit. The reader gives back the plain
 * arrays the holder exported, so an import sees exactly what it would have
 * seen from JSON.
 */
const MAGIC = Buffer.from('USCP', 'latin1');
const FORMAT = 2;
const PACK_MIN = 16;
/** Marks a packed array in the CBOR tree: { [STEPS]: first, s: Int32Array } or { [FLOATS]: Float64Array }. */
const STEPS = '\u0000i';
const FLOATS = '\u0000f';
/** Deeper than any holder's state: a tree past it is not a checkpoint. */
const MAX_DEPTH = 64;
/** What one checkpoint may inflate to (a partition of many busy devices is tens of MB). */
const MAX_INFLATED = 1 << 30;

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Decimal places tried for values that are decimals written with few digits (21.37 is 2137 / 10^2, exactly). */
const MAX_PLACES = 6;
const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000];

/**
 * A list of finite numbers as { [STEPS]: first, s: Int32Array steps, e?: places }:
 * value i is (first + s[1] + ... + s[i]) / 10^places, exactly the number that
 * went in (the writer checks each one); Float64 bytes when no such form fits.
 */
function packNumbers(a: unknown[]): unknown {
  let places = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) return undefined;
    while (places <= MAX_PLACES && !(Math.abs(x * POW10[places]) <= Number.MAX_SAFE_INTEGER && Math.round(x * POW10[places]) / POW10[places] === x)) places++;
  }
  if (places <= MAX_PLACES) {
    const scale = POW10[places];
    const steps = new Int32Array(a.length);
    let prev = Math.round((a[0] as number) * scale);
    let ok = true;
    for (let i = 1; i < a.length; i++) {
      const cur = Math.round((a[i] as number) * scale);
      const d = cur - prev;
      if (d !== (d | 0)) {
        ok = false;
        break;
      }
      steps[i] = d;
      prev = cur;
    }
    if (ok) return places ? { [STEPS]: Math.round((a[0] as number) * scale), s: steps, e: places } : { [STEPS]: a[0], s: steps };
  }
  return { [FLOATS]: Float64Array.from(a as number[]) };
}

function unpackNumbers(o: Record<string, unknown>): number[] | undefined {
  const f = o[FLOATS];
  if (f instanceof Float64Array) return Array.from(f);
  const first = o[STEPS];
  const s = o.s;
  const places = o.e ?? 0;
  if (typeof first !== 'number' || !(s instanceof Int32Array) || typeof places !== 'number' || !(places >= 0 && places <= MAX_PLACES && Number.isInteger(places))) return undefined;
  const scale = POW10[places];
  const out = new Array<number>(s.length);
  let v = first;
  for (let i = 0; i < s.length; i++) {
    if (i > 0) v += s[i];
    out[i] = places ? v / scale : v;
  }
  return out;
}

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

/**
 * Copies a JSON tree with its long number arrays packed (pack) or unpacked
 * (!pack), iteratively (no recursion over what another member wrote) and
 * only as deep as MAX_DEPTH.
 */
function transform(root: unknown, pack: boolean): unknown {
  const box: unknown[] = [root];
  const work: Array<{ value: unknown; slot: Slot; depth: number }> = [{ value: root, slot: { parent: box, key: 0 }, depth: 0 }];
  while (work.length) {
    const { value, slot, depth } = work.pop()!;
    if (depth > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} levels`);
    let out: unknown = value;
    if (Array.isArray(value)) {
      const packed = pack && value.length >= PACK_MIN && typeof value[0] === 'number' ? packNumbers(value) : undefined;
      if (packed !== undefined) out = packed;
      else {
        const copy = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) {
          const v = value[i];
          if (v !== null && typeof v === 'object') work.push({ value: v, slot: { parent: copy, key: i }, depth: depth + 1 });
          else copy[i] = v === undefined ? null : v;
        }
        out = copy;
      }
    } else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
      const o = value as Record<string, unknown>;
      const unpacked = !pack && (STEPS in o || FLOATS in o) ? unpackNumbers(o) : undefined;
      if (unpacked) out = unpacked;
      else {
        const copy: Record<string, unknown> = {};
        for (const k of Object.keys(o)) {
          const v = o[k];
          if (v === undefined) continue;
          if (v !== null && typeof v === 'object') work.push({ value: v, slot: { parent: copy, key: k }, depth: depth + 1 });
          else copy[k] = v;
        }
        out = copy;
      }
    }
    (slot.parent as Record<string | number, unknown>)[slot.key] = out;
  }
  return box[0];
}

/** Format 2 (see above); deflate level 1: most of the size for a fraction of gzip -6's time. */
export function encodeCheckpoint(c: Checkpoint): Buffer {
  const body = encoder.encode({ ...c, version: FORMAT, state: transform(c.state, true) });
  return Buffer.concat([MAGIC, Buffer.of(FORMAT), deflateRawSync(body, { level: 1 })]);
}

/** The format 1 writer (gzip'd JSON), kept to test that checkpoints of older members are still read. */
export function encodeCheckpointV1(c: Checkpoint): Buffer {
  return gzipSync(Buffer.from(JSON.stringify({ ...c, version: 1 }), 'utf8'));
}

function valid(c: Checkpoint | undefined): Checkpoint | undefined {
  return c && typeof c === 'object' && typeof c.holder === 'string' && typeof c.partition === 'number' && typeof c.state === 'object' && c.state !== null ? c : undefined;
}

/**
 * A checkpoint from its message, in either format (a member of the previous
 * version writes gzip'd JSON: a rolling upgrade reads both); undefined for an
 * empty (cleared) or unreadable one.
 */
export function decodeCheckpoint(payload: Buffer): Checkpoint | undefined {
  if (payload.length === 0) return undefined;
  try {
    if (payload[0] === 0x1f && payload[1] === 0x8b) {
      const c = JSON.parse(gunzipSync(payload, { maxOutputLength: MAX_INFLATED }).toString('utf8')) as Checkpoint;
      return c?.version === 1 ? valid(c) : undefined;
    }
    if (payload.length < MAGIC.length + 1 || !payload.subarray(0, MAGIC.length).equals(MAGIC) || payload[MAGIC.length] !== FORMAT) return undefined;
    const c = decoder.decode(inflateRawSync(payload.subarray(MAGIC.length + 1), { maxOutputLength: MAX_INFLATED })) as Checkpoint;
    if (!c || typeof c !== 'object' || c.version !== FORMAT) return undefined;
    return valid({ ...c, state: transform(c.state, false) });
  } catch {
    return undefined;
  }
}
