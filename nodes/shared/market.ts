/**
 * The data market inside the devices node: its clients and grants live in the
 * same registry tables, its clients log in through the same access rules, and
 * when a grant ends the broker is told to end that client's live subscription.
 */
import { Market } from '../lib/devices/market';
import type { DeviceRegistry } from '../lib/devices/registry';
import type { RegistryBackend } from '../lib/devices/types';
import type { AuditLog } from '../lib/audit/audit';
import { marketTopics } from '../lib/market/average';
import { API_KEY_USER } from '../lib/security/device-auth';

export function createMarket(registry: DeviceRegistry, backend: RegistryBackend): Market {
  return new Market(backend, {
    load: () => registry.open(),
    deviceProblem: (id) => registry.idProblem(id),
    isDevice: (id) => registry.isRegistered(id),
    reserved: [API_KEY_USER],
  });
}

/** What the access rules must be able to do when a grant ends. */
interface Revoker {
  revoke(who: { kind: 'client'; id: string }, filters: string[] | 'all'): void;
}

/** Ends a client's `market/{device}/live` subscription when its grant ends; returns the function that stops it. */
export function endSubscriptionsOnExpiry(market: Market, auth: Revoker, audit?: AuditLog): () => void {
  return market.onEnded((client, device, why) => {
    auth.revoke({ kind: 'client', id: client }, [marketTopics(device).live]);
    if (why === 'expired') audit?.record({ actor: 'market', action: 'grant.expired', via: 'flow', target: device, outcome: 'ok', note: `client ${client}` });
  });
}
