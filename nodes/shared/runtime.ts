/**
 * Shared state of the Upperstack nodes inside one Node-RED runtime: the embedded
 * brokers (so MQTT inputs subscribe in-process), health checks for /health, and
 * where on disk journals live.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import type { ComponentSample } from '../lib/api/health';
import type { InProcessPacket } from '../lib/broker/options';

/** What an in-process subscriber needs of an embedded broker. */
export interface EmbeddedBroker {
  readonly id: string;
  /**
   * Calls deliver for each matching publish; the publisher is acknowledged only after ack(). fail(): the
   * message could not be made durable and ack() will not come (a QoS 2 copy resent then is delivered anew).
   * The returned function unsubscribes; pass it `false` for a node being restarted, not removed (Node-RED's
   * `removed` flag on close): publishes on the filter then wait for the restarted node's subscribe.
   */
  subscribe(filter: string, deliver: (packet: InProcessPacket, ack: () => void, fail?: () => void) => void): (removed?: boolean) => void;
  /** In-process publish (not checked by the access rules); `retain` keeps it for later subscribers. */
  publish(topic: string, payload: Buffer, qos?: 0 | 1, retain?: boolean): Promise<void>;
  listening(): boolean;
  /** Bound ports by listener: tcp, tls, ws. */
  addresses(): Record<string, number>;
  /** The address it listens on (e.g. 127.0.0.1 or 0.0.0.0), for in-runtime clients. */
  bind?: string;
}

export type { InProcessPacket };

/**
 * A component's state for /health: ok and a detail, and optionally what the
 * thresholds of nodes/lib/api/health.ts need (kind 'store', failing since,
 * last error, disk use against a budget).
 */
export type HealthCheck = ComponentSample;

const brokers = new Map<string, EmbeddedBroker>();
const brokerWaiters = new Map<string, Array<(b: EmbeddedBroker) => void>>();
interface HealthEntry {
  name: string;
  owner: string;
  check: () => Promise<HealthCheck> | HealthCheck;
}
// Entries are kept apart by registration, not by name: two nodes may carry one name (an import copies a pack's
// named config nodes), and one must not hide the other.
const health = new Set<HealthEntry>();

export function registerBroker(broker: EmbeddedBroker): void {
  brokers.set(broker.id, broker);
  for (const key of [broker.id, ANY]) {
    for (const w of brokerWaiters.get(key) ?? []) w(broker);
    brokerWaiters.delete(key);
  }
}

export function unregisterBroker(broker: EmbeddedBroker): void {
  if (brokers.get(broker.id) === broker) brokers.delete(broker.id);
}

/** The embedded broker with this node id, or the only one when id is empty. */
export function findBroker(id: string | undefined): EmbeddedBroker | undefined {
  if (id) return brokers.get(id);
  return brokers.size === 1 ? brokers.values().next().value : undefined;
}

/** How many embedded brokers run: with more than one, a node must name the one it means. */
export function brokerCount(): number {
  return brokers.size;
}

const ANY = '*';

/**
 * Calls back once that broker (empty id: the first one) has started; nodes start
 * in no guaranteed order and a broker listens only after an async start.
 */
export function whenBroker(brokerId: string, cb: (b: EmbeddedBroker) => void): () => void {
  const id = brokerId || ANY;
  const found = id === ANY ? findBroker(undefined) : brokers.get(id);
  if (found) {
    cb(found);
    return () => undefined;
  }
  const list = brokerWaiters.get(id) ?? [];
  list.push(cb);
  brokerWaiters.set(id, list);
  return () => {
    const l = brokerWaiters.get(id);
    if (l) brokerWaiters.set(id, l.filter((x) => x !== cb));
  };
}

/**
 * Adds a component to /health under `name`; `owner` (the node's id) tells apart two components registered
 * under one name: both are then listed as `name (owner)`. Returns the function that removes this entry.
 */
export function registerHealth(name: string, owner: string, check: () => Promise<HealthCheck> | HealthCheck): () => void {
  const entry: HealthEntry = { name, owner, check };
  health.add(entry);
  return () => {
    health.delete(entry);
  };
}

export async function checkHealth(): Promise<Record<string, HealthCheck>> {
  const named = new Map<string, number>();
  for (const e of health) named.set(e.name, (named.get(e.name) ?? 0) + 1);
  const keyed: Array<[string, HealthEntry]> = [];
  const keys = new Set<string>();
  for (const e of health) {
    let key = (named.get(e.name) ?? 0) > 1 ? `${e.name} (${e.owner})` : e.name;
    // An owner registering one name twice still gets both entries.
    for (let n = 2; keys.has(key); n++) key = `${e.name} (${e.owner} #${n})`;
    keys.add(key);
    keyed.push([key, e]);
  }
  // Asked together: /health takes as long as its slowest component, not the sum of them.
  const checks = await Promise.all(
    keyed.map(async ([key, e]): Promise<[string, HealthCheck]> => {
      try {
        return [key, await e.check()];
      } catch (err) {
        return [key, { ok: false, detail: err instanceof Error ? err.message : String(err) }];
      }
    }),
  );
  return Object.fromEntries(checks);
}

export interface UpperstackSettings {
  dataDir?: string;
  apiKey?: string;
  /** GET /metrics: `auth` "key" (default: bearer API key or `token`) or "none"; env UPPERSTACK_METRICS_AUTH / _TOKEN. */
  metrics?: { auth?: string; token?: string };
}

export function upperstackSettings(RED: NodeAPI): UpperstackSettings {
  const s = RED.settings as unknown as { upperstack?: UpperstackSettings };
  return s.upperstack ?? {};
}

/** Where journals and the embedded database live. */
export function dataDir(RED: NodeAPI): string {
  const s = RED.settings as unknown as { userDir?: string };
  return upperstackSettings(RED).dataDir ?? process.env.UPPERSTACK_DATA ?? s.userDir ?? join(tmpdir(), 'upperstack');
}
