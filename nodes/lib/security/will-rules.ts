/**
 * Whether a will the broker keeps may still be published once the access rules
 * change as a whole (a device registry deployed or removed). A will outlives
 * the connection that left it, waiting for its Will Delay or in the data folder
 * for a restart, and is then published with nobody logged in to check it
 * against; so it is judged here by the login kept with it, without that
 * login's password: the login must still be one these rules let in (a
 * registered, enabled device; a market client that exists; the listener's
 * shared login; anonymous where anonymous clients are let in), and the will's
 * topic one that login may publish to now.
 *
 * Wills stored by releases that kept no login with them are judged as the
 * login that could have left them: the registered device their topic names
 * (`devices/{id}/…`, else their client id), otherwise the listener's shared
 * login, otherwise anonymous.
 */
import type { DeviceRegistry } from '../devices/registry';
import type { MarketAccess, Principal, SharedLogin } from './device-auth-types';
import { publishRule } from './mqtt-rules';
import { literalLevel } from './topics';

/** A will as the broker keeps it. */
export interface StoredWill {
  topic: string;
  clientId?: string;
  /** Who left it (mqtt-rules.ts principalName); absent on wills of earlier releases. */
  login?: string;
}

export interface WillRules {
  registry: DeviceRegistry;
  market?: MarketAccess;
  /** Anonymous clients are let in on the listener the will came through. */
  anonymousAllowed: boolean;
  shared?: SharedLogin;
}

/** The device a will without a login is judged by: its topic's, else its client id. */
export function legacyWillDevice(will: StoredWill): string | undefined {
  const device = will.topic.startsWith('devices/') ? literalLevel(will.topic, 1) : undefined;
  return device ?? will.clientId;
}

function parseLogin(login: string): Principal | undefined {
  if (login === 'anonymous') return { kind: 'anonymous' };
  const colon = login.indexOf(':');
  const kind = login.slice(0, colon);
  const id = login.slice(colon + 1);
  if (colon <= 0 || id === '') return undefined;
  if (kind === 'device' || kind === 'client' || kind === 'shared') return { kind, id };
  // A key's scopes are not kept with its will; keys are not the registry's to decide.
  if (kind === 'key') return { kind, id, scopes: [] };
  return undefined;
}

function legacyLogin(will: StoredWill, r: WillRules): Principal {
  const id = legacyWillDevice(will);
  if (id !== undefined && r.registry.isRegistered(id)) return { kind: 'device', id };
  if (r.shared?.username) return { kind: 'shared', id: r.shared.username };
  return { kind: 'anonymous' };
}

function loginHolds(who: Principal, r: WillRules): boolean {
  switch (who.kind) {
    case 'device':
      return r.registry.get(who.id)?.enabled === true;
    case 'client':
      return r.market?.hasClient(who.id) === true;
    case 'shared':
      return r.shared?.username === who.id;
    case 'anonymous':
      return r.anonymousAllowed;
    case 'key':
      return true;
  }
}

export function willHolds(will: StoredWill, r: WillRules): boolean {
  const who = will.login === undefined ? legacyLogin(will, r) : parseLogin(will.login);
  if (!who || !loginHolds(who, r)) return false;
  if (who.kind === 'key') return true;
  const rule = publishRule(who, will.topic);
  if ('refused' in rule) return false;
  if (rule.device === undefined) return true;
  // As DeviceAuth.canWrite judges a PUBLISH under devices/{id}/.
  if (r.registry.checkDigits && r.registry.idProblem(rule.device) !== undefined) return false;
  if (who.kind === 'device') return rule.device === who.id;
  if (who.kind === 'client') return false;
  return !r.registry.isRegistered(rule.device);
}
