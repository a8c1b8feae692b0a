/**
 * API keys of the runtime: the store of the deployed devices node (its
 * registry's `api_keys` table), which devices a key's scopes let it see (by
 * the registry's tags), the sensitive fields of the deployed schemas, and the
 * audit log the API writes to.
 */
import type { Node, NodeAPI } from 'node-red';
import { ApiKeyStore, looksLikeStoredKey } from '../lib/security/keys';
import type { KeyCheck } from '../lib/security/device-auth';
import { scopesSee, seesSensitive } from '../lib/security/scopes';
import { mergeMasks, sensitiveFields, type FieldMasks } from '../lib/security/masking';
import { auditLogFor, type AuditLog } from '../lib/audit/audit';
import type { DeviceRegistry } from '../lib/devices/registry';
import { checkApiKey, deployedDevices } from './devices';
import { dataDir } from './runtime';
import { onClose } from './input';

const stores = new WeakMap<DeviceRegistry, ApiKeyStore>();

/** The key store of the deployed devices node, or undefined while none is deployed (only the settings' key works then). */
export function keyStore(): ApiKeyStore | undefined {
  const rt = deployedDevices();
  if (!rt) return undefined;
  let s = stores.get(rt.registry);
  if (!s) {
    const registry = rt.registry;
    s = new ApiKeyStore(registry.backend, () => registry.open());
    stores.set(registry, s);
  }
  return s;
}

/** The registry's tags of a device; undefined when it is not registered. */
export function deviceTags(device: string): Readonly<Record<string, string>> | undefined {
  return deployedDevices()?.registry.get(device)?.tags;
}

/** Whether a key with these scopes may read the device's data (admin and read: every device). */
export function keySeesDevice(scopes: readonly string[], device: string): boolean {
  return scopesSee(scopes, deviceTags(device));
}

/** The audit log of the runtime's data folder (the devices node writes to the same one). */
export function auditOf(RED: NodeAPI): AuditLog {
  return deployedDevices()?.audit ?? auditLogFor(dataDir(RED));
}

const sensitive = new Map<object, FieldMasks>();

/** Called by each validate node with the sensitive fields of its schema; returns the function that takes them back. */
export function useSensitiveFields(owner: object, masks: FieldMasks): () => void {
  if (masks.size > 0) sensitive.set(owner, masks);
  else sensitive.delete(owner);
  return () => {
    sensitive.delete(owner);
  };
}

/** Every deployed schema's sensitive fields (a field marked in two schemas gets the stricter mask). */
export function sensitiveMasks(): FieldMasks {
  return mergeMasks(sensitive.values());
}

/** The masks for a key with these scopes: none for admin and read:sensitive keys (MQTT deliveries, as the query API). */
export function keyMasks(scopes: readonly string[]): FieldMasks | undefined {
  return seesSensitive(scopes) ? undefined : sensitiveMasks();
}

/**
 * For the nodes that validate with a schema (validate, http in, coap in): the
 * schema's sensitive fields are masked while the node is deployed. A wrong
 * marking is a ConfigError naming the field (the node reports it like a bad schema).
 */
export function maskSensitiveOf(node: Node, schema: unknown): void {
  const release = useSensitiveFields(node, sensitiveFields(schema));
  onClose(node, release);
}

/**
 * An API key presented as a password (the broker's `apikey` login): the key of
 * the settings (admin), or a stored key with its scopes. What it then sees is
 * decided per delivery by `keySeesDevice`.
 */
export const checkAnyApiKey: KeyCheck = async (secret) => {
  const settings = await checkApiKey(secret);
  if (settings) return settings;
  if (!looksLikeStoredKey(secret)) return undefined;
  const found = await keyStore()?.verify(secret);
  return found ? { id: found.id, scopes: found.scopes } : undefined;
};

/** Ends the broker sessions a key logged in (called when it is revoked). */
export function endKeySessions(id: string): void {
  deployedDevices()?.auth.revoke({ kind: 'key', id, scopes: [] }, 'all');
}
