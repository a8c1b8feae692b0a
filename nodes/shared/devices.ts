/**
 * The device registry of the runtime, one for every protocol. The deployed
 * `upperstack-devices` config node puts its registry and access rules here;
 * the broker and the HTTP and CoAP inputs ask here on every connection and
 * request. While none is deployed, the rules of earlier releases hold (no
 * device is registered: the shared device login, or anonymous on loopback).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DeviceAuth, type KeyCheck, type Principal } from '../lib/security/device-auth';
import type { BrokerAuth } from '../lib/broker/auth';
import { DeviceRegistry } from '../lib/devices/registry';
import { MemoryBackend } from '../lib/devices/types';
import { Traffic } from '../lib/security/traffic';
import type { AuditLog } from '../lib/audit/audit';
import type { TimeSeriesStore } from '../lib/store/types';
import type { Market } from '../lib/devices/market';

/** What the deployed devices node offers the routes and the other nodes. */
export interface DevicesRuntime {
  readonly owner: object;
  /** Who it is, for people: `devices node "device registry" (us_devices)`. */
  readonly label?: string;
  readonly auth: DeviceAuth;
  readonly registry: DeviceRegistry;
  readonly audit?: AuditLog;
  /** The store the registry lives in (also where device metadata readings are). */
  readonly store?: TimeSeriesStore;
  /** The data market's clients and grants (nodes/shared/market.ts). */
  readonly market?: Market;
}

/**
 * The registry in force: the deployed devices node's runtime, and whether a deploy is changing it. One holder
 * because the broker's judgement of wills reads both: a deploy that deletes a devices node and adds another has no
 * registry between the two, so the judgement waits for the deploy's flows:started and takes the registry after it.
 */
class RegistryInForce {
  /** The deployed devices node's runtime; undefined while none is deployed. */
  runtime: DevicesRuntime | undefined;
  /** While a deploy changes the registry: settled once the deploy is over. */
  private change: { over: Promise<void>; settle: () => void } | undefined;

  /** Marks the registry as changing; returns the function that settles it (once the deploy is over). */
  changing(): () => void {
    if (!this.change) {
      let settle!: () => void;
      const over = new Promise<void>((resolve) => (settle = resolve));
      const entry = {
        over,
        settle: () => {
          if (this.change === entry) this.change = undefined;
          settle();
        },
      };
      this.change = entry;
    }
    return this.change.settle;
  }

  /** Resolves once no deploy is changing the registry (another may begin while one settles). */
  async settled(): Promise<void> {
    while (this.change) await this.change.over;
  }
}

const inForce = new RegistryInForce();
let fallback: { key: string; auth: DeviceAuth } | undefined;
let listeners: Array<(rt: DevicesRuntime | undefined, interim: boolean) => void> = [];

/**
 * Called by the devices node; returns the function that takes it back: `interim` when it is only being deployed
 * anew or the runtime stops (Node-RED closes it without "removed"), so another takes its place.
 */
export function useDevices(rt: DevicesRuntime): (interim?: boolean) => void {
  inForce.runtime = rt;
  for (const l of listeners) l(rt, false);
  return (interim = false) => {
    if (inForce.runtime?.owner !== rt.owner) return;
    inForce.runtime = undefined;
    for (const l of listeners) l(undefined, interim);
  };
}

/**
 * A devices node is closing in a deploy: the rules in force are those of the moment between until the deploy is
 * over (a devices node deleted and another added in one deploy has no registry in between), so wills are judged by
 * the rules after it. Returns the function to call once the deploy is over (flows:started).
 */
export function devicesChanging(): () => void {
  return inForce.changing();
}

/** The rules in force once no deploy is changing them. */
async function settledAuth(): Promise<DeviceAuth> {
  await inForce.settled();
  return deviceAuth();
}

/** The deployed devices node's runtime, if any. */
export function deployedDevices(): DevicesRuntime | undefined {
  return inForce.runtime;
}

/**
 * Whether a device is retired (disabled) in the deployed registry, asked at the time of the call: a report
 * run after a device was retired leaves it out without a redeploy. Without a devices node, none is.
 */
export function retiredInRegistry(device: string): boolean {
  return inForce.runtime?.registry.get(device)?.enabled === false;
}

/** Told whenever a devices node is deployed or removed (the broker follows the access rules in force). */
export function onDevicesChange(listener: (rt: DevicesRuntime | undefined, interim: boolean) => void): () => void {
  listeners.push(listener);
  return () => {
    listeners = listeners.filter((l) => l !== listener);
  };
}

/** `UPPERSTACK_REQUIRE_AUTH=true`: no anonymous clients, loopback included. */
export function requireAuthFromEnv(): boolean {
  return /^(1|true|yes|on)$/i.test(process.env.UPPERSTACK_REQUIRE_AUTH ?? '');
}

function envCount(name: string): number {
  const n = Number(process.env[name] ?? '');
  return Number.isInteger(n) && n > 0 ? n : 0;
}

/**
 * Rate limits and signature checks for a registry: the node's limits, or where it says 0 (and
 * without a devices node) UPPERSTACK_RATE_PER_DEVICE / UPPERSTACK_RATE_PER_ADDRESS.
 */
export function trafficFor(registry: DeviceRegistry, limits: { perDevice?: number; perAddress?: number } = {}): Traffic {
  return new Traffic({
    perDevice: limits.perDevice || envCount('UPPERSTACK_RATE_PER_DEVICE'),
    perAddress: limits.perAddress || envCount('UPPERSTACK_RATE_PER_ADDRESS'),
    signingKey: (id) => registry.signingKey(id),
  });
}

let keySource: (() => string) | undefined;

/** Where the API key of the settings (or of the deployed API node) comes from; set by nodes that know the runtime. */
export function setKeySource(source: () => string): void {
  keySource = source;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** An API key presented as a password (MQTT `apikey` login): the settings' key is an admin key. */
export const checkApiKey: KeyCheck = (secret) => {
  const key = keySource?.() ?? '';
  if (key && secret && timingSafeEqual(digest(secret), digest(key))) return Promise.resolve({ id: 'admin', scopes: ['admin'] });
  return Promise.resolve(undefined);
};

/** The access rules in force: the deployed registry's, else those of a runtime without registered devices. */
export function deviceAuth(): DeviceAuth {
  if (inForce.runtime) return inForce.runtime.auth;
  const requireAuth = requireAuthFromEnv();
  const key = `${requireAuth}|${process.env.UPPERSTACK_RATE_PER_DEVICE ?? ''}|${process.env.UPPERSTACK_RATE_PER_ADDRESS ?? ''}`;
  if (!fallback || fallback.key !== key) {
    const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    fallback = { key, auth: new DeviceAuth({ registry, requireAuth, keys: checkApiKey, traffic: trafficFor(registry) }) };
  }
  return fallback.auth;
}

/**
 * The rules in force as the broker sees them: always the current ones, and a revocation from whichever
 * registry is deployed. Deploying or removing a registry tells the broker to drop every client, so nobody
 * keeps a session made under the old rules, and to drop the wills of logins the new rules no longer let in
 * (not while a registry is only being deployed anew: its devices are about to log in again). Wills are judged by
 * the rules as they are once the deploy that changed them is over.
 */
export const brokerAuth: BrokerAuth = {
  authenticate: (info) => deviceAuth().authenticate(info),
  authorizePublish: (who, p, remote) => deviceAuth().authorizePublish(who, p, remote),
  authorizePublishNow: (who, p, remote) => deviceAuth().authorizePublishNow(who, p, remote),
  authorizeSubscribe: (who, filter, remote) => deviceAuth().authorizeSubscribe(who, filter, remote),
  mayReceive: (who, topic) => deviceAuth().mayReceive(who, topic),
  delivery: (who, topic, payload, contentType) => deviceAuth().delivery(who, topic, payload, contentType),
  willHolds: async (will, loopback, shared) => (await settledAuth()).willHolds(will, loopback, shared),
  onRevoke(listener: (who: Principal | undefined, filters: string[] | 'all', interim?: boolean) => void) {
    let stopCurrent = deviceAuth().onRevoke(listener);
    const stopChanges = onDevicesChange((_rt, interim) => {
      stopCurrent();
      stopCurrent = deviceAuth().onRevoke(listener);
      listener(undefined, 'all', interim);
    });
    return () => {
      stopCurrent();
      stopChanges();
    };
  },
};

let infoStore: { owner: object; store: TimeSeriesStore } | undefined;

/** The store GET /api/v1/devices/{id} reads device metadata from while no devices node is deployed (http-in's). */
export function useInfoStore(owner: object, store: TimeSeriesStore): () => void {
  infoStore = { owner, store };
  return () => {
    if (infoStore?.owner === owner) infoStore = undefined;
  };
}

export function metadataStore(): TimeSeriesStore | undefined {
  return inForce.runtime?.store ?? infoStore?.store;
}

/**
 * Whether the deployed registry knows this device id: its readings may come only from it (the inputs check
 * who logged in; decode checks a payload that names another device than its topic). A cheap no when nobody
 * is registered.
 */
export function isRegisteredDevice(id: string): boolean {
  const registry = inForce.runtime?.registry;
  return registry !== undefined && registry.size > 0 && registry.isRegistered(id);
}

/**
 * Copies the registry's tags of each reading's device onto it (the store node does this before writing, so
 * every protocol and every flow gets them). The registry's tags win over tags of the same name the device
 * sent: a device cannot place itself under another customer.
 */
export function applyRegistryTags(readings: ReadonlyArray<{ device: string; tags?: Record<string, string> }>): void {
  const registry = inForce.runtime?.registry;
  if (!registry || registry.size === 0) return;
  for (const r of readings) {
    const d = registry.get(r.device);
    if (!d) continue;
    if (Object.keys(d.tags).length > 0) (r as { tags?: Record<string, string> }).tags = { ...r.tags, ...d.tags };
  }
}
