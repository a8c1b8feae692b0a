/**
 * The device registry of the runtime, one for every protocol. The deployed
 * `upperstack-devices` config node puts its registry and access rules here;
 * the broker and the HTTP and CoAP inputs ask here on every connection and
 * request. While none is deployed, the rules of earlier releases hold (no
 * device is registered: the shared device login, or anonymous on loopback).
 */
import { randomBytes } from 'node:crypto';
import { DeviceAuth } from '../lib/security/device-auth';
import { DeviceRegistry } from '../lib/devices/registry';
import { MemoryBackend } from '../lib/devices/types';
import type { AuditLog } from '../lib/audit/audit';
import type { TimeSeriesStore } from '../lib/store/types';

/** What the deployed devices node offers the routes and the other nodes. */
export interface DevicesRuntime {
  readonly owner: object;
  readonly auth: DeviceAuth;
  readonly registry: DeviceRegistry;
  readonly audit?: AuditLog;
  /** The store the registry lives in (also where device metadata readings are). */
  readonly store?: TimeSeriesStore;
}

let deployed: DevicesRuntime | undefined;
let fallback: { requireAuth: boolean; auth: DeviceAuth } | undefined;
let listeners: Array<(rt: DevicesRuntime | undefined) => void> = [];

/** Called by the devices node; returns the function that takes it back. */
export function useDevices(rt: DevicesRuntime): () => void {
  deployed = rt;
  for (const l of listeners) l(rt);
  return () => {
    if (deployed?.owner !== rt.owner) return;
    deployed = undefined;
    for (const l of listeners) l(undefined);
  };
}

/** The deployed devices node's runtime, if any. */
export function deployedDevices(): DevicesRuntime | undefined {
  return deployed;
}

/** Told whenever a devices node is deployed or removed (the broker follows the access rules in force). */
export function onDevicesChange(listener: (rt: DevicesRuntime | undefined) => void): () => void {
  listeners.push(listener);
  return () => {
    listeners = listeners.filter((l) => l !== listener);
  };
}

/** `UPPERSTACK_REQUIRE_AUTH=true`: no anonymous clients, loopback included. */
export function requireAuthFromEnv(): boolean {
  return /^(1|true|yes|on)$/i.test(process.env.UPPERSTACK_REQUIRE_AUTH ?? '');
}

/** The access rules in force: the deployed registry's, else those of a runtime without registered devices. */
export function deviceAuth(): DeviceAuth {
  if (deployed) return deployed.auth;
  const requireAuth = requireAuthFromEnv();
  if (!fallback || fallback.requireAuth !== requireAuth) {
    const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    fallback = { requireAuth, auth: new DeviceAuth({ registry, requireAuth }) };
  }
  return fallback.auth;
}

let infoStore: { owner: object; store: TimeSeriesStore } | undefined;

/** The store GET /api/v1/devices/{id} reads device metadata from while no devices node is deployed (http-in's). */
export function useInfoStore(owner: object, store: TimeSeriesStore): () => void {
  infoStore = { owner, store };
  return () => {
    if (infoStore?.owner === owner) infoStore = undefined;
  };
}

export function metadataStore(): TimeSeriesStore | undefined {
  return deployed?.store ?? infoStore?.store;
}

/**
 * Copies the registry's tags of each reading's device onto it (the store node does this before writing, so
 * every protocol and every flow gets them). The registry's tags win over tags of the same name the device
 * sent: a device cannot place itself under another customer.
 */
export function applyRegistryTags(readings: ReadonlyArray<{ device: string; tags?: Record<string, string> }>): void {
  const registry = deployed?.registry;
  if (!registry || registry.size === 0) return;
  for (const r of readings) {
    const d = registry.get(r.device);
    if (!d) continue;
    if (Object.keys(d.tags).length > 0) (r as { tags?: Record<string, string> }).tags = { ...r.tags, ...d.tags };
  }
}
