/**
 * The MQTT topic rules of device-auth.ts, by principal: which topics it may
 * publish to, which filters it may subscribe to, and which deliveries it
 * receives (and masked how). Each rule says why it refuses, in words for the
 * client; DeviceAuth turns that into a refusal with its reason code and audit
 * entry, and judges device ids and rate limits itself.
 */
import { filtersIntersect, filterWithin, literalLevel } from './topics';
import { maskDelivery, type MaskedDelivery } from './mqtt-masking';
import type { DeviceAuthOptions, Principal } from './device-auth-types';

export const PUBLIC_MARKET = 'market/+/1m';
export const MARKET_LIVE = 'market/+/live';
const PROTECTED_SPACES = ['upperstack/#', 'devices/#', 'market/#'];

export function principalName(p: Principal): string {
  return p.kind === 'anonymous' ? 'anonymous' : `${p.kind}:${p.id}`;
}

function isAdminKey(who: Principal): boolean {
  return who.kind === 'key' && who.scopes.includes('admin');
}

/** `devices/{device}/commands` or a topic below it. */
function isCommandTopic(topic: string, device: string): boolean {
  const rest = topic.slice('devices/'.length + device.length);
  return rest === '/commands' || rest.startsWith('/commands/');
}

/**
 * A PUBLISH topic's rule: why `who` may not publish there, or the device it writes for (none outside
 * devices/), whose id and writer are for DeviceAuth.canWrite to judge, or the device an admin key's
 * command goes to (`command`), whose id DeviceAuth judges as well.
 */
export function publishRule(who: Principal, topic: string): { refused: string } | { device?: string; command?: string } {
  if (topic.startsWith('$') || topic.startsWith('upperstack/') || topic === 'upperstack' || topic.startsWith('market/') || topic === 'market') {
    return { refused: `"${topic.slice(0, 128)}" is published by Upperstack itself` };
  }
  const device = topic.startsWith('devices/') ? literalLevel(topic, 1) : undefined;
  // A command goes to its device, not into the pipeline: an admin key sends it as the command node does, to
  // registered devices too (only their own login may send their readings).
  if (device !== undefined && isAdminKey(who) && isCommandTopic(topic, device)) return { command: device };
  if (device === undefined) {
    if (who.kind === 'device') return { refused: `device "${who.id}" may only publish under devices/${who.id}/` };
    if (who.kind === 'client' || (who.kind === 'key' && !isAdminKey(who))) return { refused: `${principalName(who)} may not publish` };
    return {};
  }
  return { device };
}

/** Why `who` may not subscribe to `requested` (one filter), or undefined when it may. */
export function subscribeRefusal(who: Principal, requested: string, opts: Pick<DeviceAuthOptions, 'market' | 'registry'>): string | undefined {
  // A shared subscription ($share/<group>/<filter>) is judged by its filter.
  const filter = requested.startsWith('$share/') ? requested.split('/').slice(2).join('/') : requested;
  if (filterWithin(filter, PUBLIC_MARKET)) return undefined;
  // The broker's own status (client ids, their subscriptions, counters): for administrators only.
  if (filter === '$SYS' || filter.startsWith('$SYS/')) {
    return who.kind === 'key' && who.scopes.includes('admin') ? undefined : `"${requested.slice(0, 128)}" is the broker's own status: log in with an admin API key to read it`;
  }
  if (who.kind === 'device') {
    if (filterWithin(filter, `devices/${who.id}/commands/#`)) return undefined;
    return `device "${who.id}" may only subscribe to devices/${who.id}/commands/# and ${PUBLIC_MARKET}`;
  }
  if (who.kind === 'key') {
    // What it may see of each device is decided per delivery (mayReceive), by its scopes.
    if (who.scopes.some((sc) => sc === 'admin' || sc === 'read' || sc.startsWith('read:'))) return undefined;
    return 'this API key has no read scope';
  }
  if (who.kind === 'client') {
    const device = literalLevel(filter, 1);
    if (device !== undefined && filter === `market/${device}/live`) {
      if (opts.market?.granted(who.id, device)) return undefined;
      return `client "${who.id}" holds no grant for ${device}'s live data`;
    }
    return `client "${who.id}" may subscribe to ${PUBLIC_MARKET} and, with a grant, market/{device}/live`;
  }
  // Anonymous and the shared login: commands of a device that is not registered, and what is not device data.
  const device = filter.startsWith('devices/') ? literalLevel(filter, 1) : undefined;
  if (device !== undefined && filterWithin(filter, `devices/${device}/commands/#`)) {
    if (!opts.registry.isRegistered(device)) return undefined;
    return `device "${device}" is registered: log in as it to receive its commands`;
  }
  for (const space of PROTECTED_SPACES) {
    if (filtersIntersect(filter, space)) return `"${requested.slice(0, 128)}" would receive ${space === 'upperstack/#' ? "Upperstack's own messages" : 'device data'}; log in as a device or use the query API`;
  }
  return undefined;
}

/**
 * Each delivery to a client (aedes authorizeForward): the live market needs a grant that is still valid;
 * an API key sees the devices its scopes allow (`devices/{id}/…`, `upperstack/<kind>/{id}…`).
 */
export function mayReceive(who: Principal, topic: string, opts: Pick<DeviceAuthOptions, 'market' | 'ownTopic' | 'keySees'>): boolean {
  if (topic.startsWith('market/') && topic.endsWith('/live')) {
    if (who.kind === 'key') return who.scopes.includes('admin');
    if (who.kind !== 'client') return false;
    const device = literalLevel(topic, 1);
    return device !== undefined && opts.market?.granted(who.id, device) === true;
  }
  if (who.kind !== 'key' || who.scopes.includes('admin') || who.scopes.includes('read')) return true;
  // devices/{id}/…, upperstack/deadletter/{id}, upperstack/alerts/{id}…, and the configured dead-letter/alert topics.
  const own = opts.ownTopic?.(topic);
  const device = own ? own.device : topic.startsWith('devices/') ? literalLevel(topic, 1) : topic.startsWith('upperstack/') ? literalLevel(topic, 2) : undefined;
  if (device === undefined) return false;
  return opts.keySees ? opts.keySees(who.scopes, device) : false;
}

/**
 * Each delivery mayReceive let through: an API key without the right to see sensitive fields gets
 * them masked (mqtt-masking.ts). `undefined`: deliver as published; `null`: withhold.
 */
export function delivery(who: Principal, topic: string, payload: Buffer, contentType: string | undefined, opts: Pick<DeviceAuthOptions, 'keyMasks' | 'ownTopic'>): MaskedDelivery {
  if (who.kind !== 'key') return undefined;
  const masks = opts.keyMasks?.(who.scopes);
  return masks && masks.size ? maskDelivery(topic, payload, contentType, masks, opts.ownTopic?.(topic)) : undefined;
}
