/**
 * Who may connect and what they may do, the same on MQTT, HTTP and CoAP. The
 * broker and the inputs only translate: they hand over what a client presents
 * and map the decision onto their protocol (CONNACK/PUBACK/SUBACK reason codes,
 * HTTP status, CoAP code).
 *
 * Principals:
 * - a registered **device** (its id and secret, or a TLS client certificate whose
 *   CN is its id): publishes only under `devices/{id}/…`, writes only its own
 *   readings, subscribes only to `devices/{id}/commands/#` (and the public market);
 * - a data-market **client** (a login made by a grant): subscribes to the public
 *   market topics and to `market/{device}/live` while it holds a grant;
 * - an **API key** (MQTT user name `apikey`, the key as password): reads device data and
 *   `upperstack/#` (dead letters, alerts) within its scopes; with the admin scope it may also
 *   publish what an anonymous client may, send commands to any device (`devices/{id}/commands…`,
 *   registered ones too) and read the broker's `$SYS/#` (nobody else may);
 * - the **shared** device login of earlier releases (one user name and password for
 *   every device) and **anonymous** clients (only on a listener bound to loopback,
 *   and only while no shared login or "authentication for everyone" is set): may
 *   write as devices that are not registered, never as registered ones, and may not
 *   subscribe to device data or to `upperstack/#`.
 * In-process publishers and subscribers (the pipeline's own nodes) are not checked.
 * The MQTT topic rules of each principal are in mqtt-rules.ts.
 */
import type { DeviceChange, DeviceRegistry } from '../devices/registry';
import type { AuditInput } from '../audit/audit';
import type { MaskedDelivery } from './mqtt-masking';
import { delivery, mayReceive, principalName, publishRule, subscribeRefusal } from './mqtt-rules';
import { FailedLogins } from './failed-logins';
import { willHolds, type StoredWill } from './will-rules';
import { BAD_LOGIN, BANNED, CONNECTION_RATE, loginName, NO_USER, NOT_AUTHORIZED, refuse, same, whenLoaded } from './login-refusals';
import type { AuthResult, ConnectInfo, Decision, DeviceAuthOptions, Principal, Protocol, PublishDecision, PublishPacket, Refusal, SharedLogin } from './device-auth-types';
export type { AuthResult, ConnectInfo, Decision, DeviceAuthOptions, KeyCheck, MarketAccess, Principal, Protocol, PublishDecision, PublishPacket, Refusal, SharedLogin, TrafficChecks } from './device-auth-types';

/** The MQTT user name with which an API key logs in (the key is the password): dashboards, tools. */
export const API_KEY_USER = 'apikey';

export { MARKET_LIVE, principalName, PUBLIC_MARKET } from './mqtt-rules';

const OK: Decision = { ok: true };
const ANONYMOUS: AuthResult = Object.freeze({ ok: true, principal: Object.freeze({ kind: 'anonymous' }) });

export class DeviceAuth {
  readonly ready: Promise<void>;
  private isLoaded = false;
  private readonly failures: FailedLogins;
  private revokeListeners: Array<(who: Principal, filters: string[] | 'all') => void> = [];
  private stopRegistry: () => void;

  constructor(private readonly opts: DeviceAuthOptions) {
    this.ready = opts.registry.open().then(() => {
      this.isLoaded = true;
    });
    this.ready.catch(() => undefined);
    this.failures = new FailedLogins({ perMinute: opts.failuresPerMinute ?? 20, perAddress: opts.failuresPerAddress, capacity: opts.failedAddressesKept });
    this.stopRegistry = opts.registry.onChange((id, change: DeviceChange) => {
      if (change === 'disabled' || change === 'rotated' || change === 'removed') this.revoke({ kind: 'device', id }, 'all');
    });
  }

  get registry(): DeviceRegistry {
    return this.opts.registry;
  }

  get requireAuth(): boolean {
    return this.opts.requireAuth === true;
  }

  close(): void {
    this.stopRegistry();
    this.revokeListeners = [];
  }

  /** Anonymous clients are let in on a listener: bound to loopback, without a shared login, and not "authentication for everyone". */
  anonymousAllowed(loopback: boolean, shared?: SharedLogin): boolean {
    return loopback && !this.opts.requireAuth && !shared?.username;
  }

  onRevoke(listener: (who: Principal, filters: string[] | 'all') => void): () => void {
    this.revokeListeners.push(listener);
    return () => {
      this.revokeListeners = this.revokeListeners.filter((l) => l !== listener);
    };
  }

  /** Whether a will the broker keeps may still be published under these rules (will-rules.ts), once they are loaded. */
  async willHolds(will: StoredWill, loopback: boolean, shared?: SharedLogin): Promise<boolean> {
    await this.ready;
    return willHolds(will, { registry: this.opts.registry, market: this.opts.market, anonymousAllowed: this.anonymousAllowed(loopback, shared), shared });
  }

  /** Tells the broker to end a principal's sessions (`all`) or some of its subscriptions. */
  revoke(who: Principal, filters: string[] | 'all'): void {
    for (const l of this.revokeListeners) {
      try {
        l(who, filters);
      } catch {
        // The broker's failure to drop one client must not keep the others connected.
      }
    }
  }

  private audit(entry: AuditInput, refusal = true): void {
    this.opts.audit?.(entry, refusal);
  }

  /** A failed login: counted per login name and address and per address (over a budget, refused before any check) and audited. */
  private async failed(info: ConnectInfo, actor: string, r: Refusal): Promise<Refusal> {
    this.audit({ actor, action: 'auth.failed', via: info.protocol, target: info.username || undefined, remote: info.remote, outcome: 'denied', reason: r.code, note: r.message });
    if (info.remote) await this.failures.failed(info.remote, loginName(info));
    return r;
  }

  /** Addresses with a failed login in the last two minutes that are kept track of (at most failedAddressesKept). */
  get failedAddresses(): number {
    return this.failures.tracked;
  }

  /**
   * authenticate() for a client that presents nothing, decided without waiting when
   * it can be: the registry is loaded, the listener lets anonymous clients in and the
   * address has no recent failed login. Undefined otherwise (then ask authenticate(),
   * which asks whether the address, or logging in without a name there, is over its budget).
   * HTTP and CoAP authenticate every request, most of them this way on loopback.
   */
  anonymousNow(remote: string | undefined, loopback: boolean, shared?: SharedLogin): AuthResult | undefined {
    if (!this.isLoaded || !this.anonymousAllowed(loopback, shared)) return undefined;
    if (remote && this.failures.suspect(remote)) return undefined;
    return ANONYMOUS;
  }

  async authenticate(info: ConnectInfo): Promise<AuthResult> {
    if (!this.isLoaded) {
      const notReady = await whenLoaded(this.ready, this.opts.readyTimeoutMs ?? 15_000);
      if (notReady) return notReady;
    }
    // An address that never failed (most, and HTTP and CoAP authenticate every request) skips the limiters' promise.
    if (info.remote && this.failures.suspect(info.remote)) {
      const name = loginName(info);
      const blocked = await this.failures.blockedFor(info.remote, name);
      if (blocked !== undefined) {
        this.audit({ actor: 'anonymous', action: 'auth.throttled', via: info.protocol, remote: info.remote, outcome: 'denied', reason: 'TOO_MANY_REQUESTS' });
        const who = blocked.scope === 'address' ? '' : name === '' ? ' without a user name' : ` as "${name.slice(0, 64)}"`;
        return refuse(429, CONNECTION_RATE, 'TOO_MANY_REQUESTS', `too many failed logins${who} from this address; retry in ${Math.ceil(blocked.ms / 1000)} s`, blocked.ms);
      }
    }
    const registry = this.opts.registry;
    if (info.certCN !== undefined) {
      const d = registry.get(info.certCN);
      if (!d) return this.failed(info, 'anonymous', refuse(401, NOT_AUTHORIZED, 'UNAUTHORIZED', `the client certificate names "${info.certCN.slice(0, 64)}", which is not a registered device`));
      if (!d.enabled) return this.failed(info, `device:${d.id}`, refuse(403, BANNED, 'DEVICE_DISABLED', `device "${d.id}" is disabled`));
      // The certificate decides who the client is; a login naming someone else as well is refused rather than
      // silently overruled, so a misconfigured client learns it at once, not from refused publishes later.
      const user = info.username ?? '';
      if (user !== '' && user !== d.id && user !== API_KEY_USER && !(info.shared?.username && same(user, info.shared.username))) {
        return this.failed(info, `device:${d.id}`, refuse(403, NOT_AUTHORIZED, 'DEVICE_MISMATCH', `the client certificate is device "${d.id}"'s, but the login names "${user.slice(0, 64)}"`));
      }
      return { ok: true, principal: { kind: 'device', id: d.id } };
    }
    const user = info.username ?? '';
    const pass = info.password === undefined ? '' : typeof info.password === 'string' ? info.password : info.password.toString('utf8');
    if (user === API_KEY_USER && info.protocol === 'mqtt') {
      const key = this.opts.keys ? await this.opts.keys(pass) : undefined;
      if (key) return { ok: true, principal: { kind: 'key', id: key.id, scopes: key.scopes } };
      return this.failed(info, 'anonymous', refuse(401, BAD_LOGIN, 'UNAUTHORIZED', 'that is not a valid API key'));
    }
    if (user !== '' || pass !== '') {
      if (user !== '' && registry.isRegistered(user)) {
        const check = await registry.check(user, pass);
        if (check === 'ok') return { ok: true, principal: { kind: 'device', id: user } };
        if (check === 'disabled') return this.failed(info, `device:${user}`, refuse(403, BANNED, 'DEVICE_DISABLED', `device "${user}" is disabled`));
        return this.failed(info, 'anonymous', refuse(401, BAD_LOGIN, 'UNAUTHORIZED', `wrong secret for device "${user}"`));
      }
      const market = this.opts.market;
      if (user !== '' && market?.hasClient(user)) {
        if (await market.checkClient(user, pass)) return { ok: true, principal: { kind: 'client', id: user } };
        return this.failed(info, 'anonymous', refuse(401, BAD_LOGIN, 'UNAUTHORIZED', `wrong password for client "${user}"`));
      }
      const shared = info.shared;
      if (shared?.username && same(user, shared.username)) {
        if (same(pass, shared.password)) return { ok: true, principal: { kind: 'shared', id: shared.username } };
        return this.failed(info, 'anonymous', refuse(401, BAD_LOGIN, 'UNAUTHORIZED', 'wrong device login'));
      }
      if (user !== '' && registry.checkDigits && registry.idProblem(user)) {
        return this.failed(info, 'anonymous', refuse(401, BAD_LOGIN, 'BAD_DEVICE_ID', registry.idProblem(user) as string));
      }
      // A login nobody has: on an open loopback listener it is ignored (clients often send a default one).
      if (this.anonymousAllowed(info.loopback, info.shared)) return { ok: true, principal: { kind: 'anonymous' } };
      return this.failed(info, 'anonymous', refuse(401, BAD_LOGIN, 'UNAUTHORIZED', user ? `"${user.slice(0, 64)}" is neither a registered device nor a known login` : NO_USER[info.protocol] ?? 'a user name is required'));
    }
    if (this.anonymousAllowed(info.loopback, info.shared)) return { ok: true, principal: { kind: 'anonymous' } };
    const why = this.opts.requireAuth
      ? 'authentication is required: log in with the device id and its secret'
      : info.shared?.username
        ? 'a device login is required'
        : 'this listener is reachable from the network: log in with the device id and its secret';
    return this.failed(info, 'anonymous', refuse(401, NOT_AUTHORIZED, 'UNAUTHORIZED', why));
  }

  /**
   * May `who` write readings of `device` (HTTP, CoAP, and MQTT under devices/{device}/…)?
   * A mistyped id (wrong check character) is refused for everyone.
   */
  canWrite(who: Principal, device: string, via: Protocol, remote?: string): Decision {
    // Names are judged at the edge only where the registry decides ids (check characters on). Otherwise a
    // name no device could register goes on to the pipeline, which stores it or dead-letters it with its
    // reason (a topic level that is not UTF-8: BAD_TOPIC), as it did before there was a registry.
    const problem = this.opts.registry.checkDigits ? this.opts.registry.idProblem(device) : undefined;
    if (problem) {
      this.audit({ actor: principalName(who), action: 'acl.denied', via, target: device, remote, outcome: 'denied', reason: 'BAD_DEVICE_ID' });
      return refuse(400, NOT_AUTHORIZED, 'BAD_DEVICE_ID', problem);
    }
    if (who.kind === 'device') {
      if (device === who.id) return OK;
      this.audit({ actor: principalName(who), action: 'acl.denied', via, target: device, remote, outcome: 'denied', reason: 'DEVICE_MISMATCH' });
      return refuse(403, NOT_AUTHORIZED, 'DEVICE_MISMATCH', `device "${who.id}" may only send its own readings, not those of "${device.slice(0, 128)}"`);
    }
    // An admin key may send what an anonymous client may (test data, tools); other keys and clients only read.
    if (who.kind === 'client' || (who.kind === 'key' && !who.scopes.includes('admin'))) {
      this.audit({ actor: principalName(who), action: 'acl.denied', via, target: device, remote, outcome: 'denied', reason: 'FORBIDDEN' });
      return refuse(403, NOT_AUTHORIZED, 'FORBIDDEN', `${who.kind === 'key' ? 'an API key without the admin scope' : `client "${who.id}"`} may not send readings`);
    }
    if (this.opts.registry.isRegistered(device)) {
      this.audit({ actor: principalName(who), action: 'acl.denied', via, target: device, remote, outcome: 'denied', reason: 'UNAUTHORIZED' });
      return refuse(401, NOT_AUTHORIZED, 'UNAUTHORIZED', `device "${device}" is registered: it must log in with its own id and secret`);
    }
    return OK;
  }

  /**
   * Audits a request sent under the path of `device` (which `who` may write) whose body names `claimed`
   * instead: refused as canWrite refuses writing as another device, and recorded the same way.
   */
  bodyNamesOther(who: Principal, device: string, claimed: string | undefined, via: Protocol, remote?: string): void {
    const named = claimed === undefined ? 'another device' : `device "${claimed}"`;
    this.audit({ actor: principalName(who), action: 'acl.denied', via, target: claimed ?? device, remote, outcome: 'denied', reason: 'DEVICE_MISMATCH', note: `the body sent for device "${device}" names ${named}` });
  }

  /**
   * Audits an MQTT message on the topic of `device` whose payload names the registered device `claimed`:
   * refused by the decode node (DEVICE_MISMATCH), once the broker had taken it, so the sender is known only as
   * the broker told it (`actor`, `remote`); without one, the topic's device if registered, as only it may publish there.
   *
   * `replay` says the runtime sent the message again (`dead letter <id>`, `journal`): the entry is marked
   * `replay: true` and names no sender, since the login is not kept with a message and the topic's device
   * may not have been registered when it came, so guessing would accuse it of a send it never made again.
   */
  messageNamesOther(actor: string | undefined, device: string, claimed: string | undefined, topic: string, remote?: string, replay?: string): void {
    const named = claimed === undefined ? 'another device' : `device "${claimed}"`;
    const note = `the message on topic "${topic.slice(0, 200)}" names ${named}`;
    if (replay !== undefined) {
      const again = replay === 'journal' ? 'sent again from the journal after a restart' : `a replay of ${replay}`;
      this.audit({ actor: 'unknown', action: 'acl.denied', via: 'mqtt', target: claimed ?? device, remote, outcome: 'denied', reason: 'DEVICE_MISMATCH', note: `${note} (${again}, not a new message)`, replay: true });
      return;
    }
    const who = actor ?? (this.opts.registry.isRegistered(device) ? `device:${device}` : 'unknown');
    this.audit({ actor: who, action: 'acl.denied', via: 'mqtt', target: claimed ?? device, remote, outcome: 'denied', reason: 'DEVICE_MISMATCH', note });
  }

  /** The rate limits of one message of `device` (after canWrite); `device` undefined: only its address counts. */
  /** Whether admit() counts anything (a rate limit per device or per address is set); when not, it always admits. */
  get limitsTraffic(): boolean {
    const traffic = this.opts.traffic;
    if (!traffic) return false;
    const limits = traffic.limits;
    return limits === undefined || limits.perDevice > 0 || limits.perAddress > 0;
  }

  async admit(who: Principal, device: string | undefined, remote: string | undefined, via?: Protocol): Promise<Decision> {
    const traffic = this.opts.traffic;
    if (!traffic) return OK;
    const d = await traffic.consume(device, remote);
    if (!d.ok) this.audit({ actor: principalName(who), action: 'rate.limited', via, target: device, remote, outcome: 'denied', reason: d.code, note: d.message });
    return d;
  }

  /**
   * The per-device limits of the devices a body names line by line (the InfluxDB routes, whose path names none):
   * each counts one message, as a request on its own /ingest path would. The first device over its limit refuses
   * the request whole (and is audited); `admit()` counted its address when it arrived.
   */
  async admitNamed(who: Principal, devices: Iterable<string>, remote: string | undefined, via?: Protocol): Promise<Decision> {
    const traffic = this.opts.traffic;
    if (!traffic) return OK;
    const d = await traffic.consumeDevices(devices);
    if (d.ok) return d;
    const { device, ...refusal } = d;
    this.audit({ actor: principalName(who), action: 'rate.limited', via, target: device, remote, outcome: 'denied', reason: refusal.code, note: refusal.message });
    return refusal;
  }

  /** The signing requirement of a device, for HTTP (headers) and for envelopes. */
  signs(device: string): boolean {
    return this.opts.traffic !== undefined && this.opts.registry.get(device)?.signing === true;
  }

  /** A body signed in HTTP headers: refused (and audited) unless a device that signs sent it fresh and unaltered. */
  verifySigned(who: Principal, device: string, body: Buffer, signed: { ts?: string; nonce?: string; sig?: string }, via: Protocol, remote?: string): Decision {
    if (!this.opts.traffic || !this.signs(device)) return OK;
    const d = this.opts.traffic.verify(device, body, signed);
    if (!d.ok) this.audit({ actor: principalName(who), action: 'signature.refused', via, target: device, remote, outcome: 'denied', reason: d.code, note: d.message });
    return d;
  }

  /** A signed envelope (MQTT, CoAP) of a device that signs, verified and unwrapped; others pass unchanged. */
  unwrapSigned(who: Principal, device: string, payload: Buffer, contentType: string | undefined, via: Protocol, remote?: string): PublishDecision {
    if (!this.opts.traffic || !this.signs(device)) return OK;
    const u = this.opts.traffic.unwrap(device, payload, contentType);
    if (!u.ok) this.audit({ actor: principalName(who), action: 'signature.refused', via, target: device, remote, outcome: 'denied', reason: u.code, note: u.message });
    return u;
  }

  /** MQTT PUBLISH from a client (never called for in-process publishes). */
  async authorizePublish(who: Principal, p: PublishPacket, remote?: string): Promise<PublishDecision> {
    const t = this.publishTarget(who, p.topic, remote);
    if (t.refused) return t.refused;
    const admitted = await this.admit(who, t.device, remote, 'mqtt');
    if (!admitted.ok || t.device === undefined) return admitted;
    return this.unwrapSigned(who, t.device, p.payload, p.contentType, 'mqtt', remote);
  }

  /**
   * The same decision as authorizePublish() without a promise, or undefined when
   * a rate limit has to count the message first (then authorizePublish()). The
   * broker asks for every PUBLISH, so without rate limits no message waits for a
   * turn of the microtask queue.
   */
  authorizePublishNow(who: Principal, p: PublishPacket, remote?: string): PublishDecision | undefined {
    if (this.limitsTraffic) return undefined;
    const t = this.publishTarget(who, p.topic, remote);
    if (t.refused) return t.refused;
    // admit() counts nothing without limits: it would say OK.
    if (t.device === undefined) return OK;
    return this.unwrapSigned(who, t.device, p.payload, p.contentType, 'mqtt', remote);
  }

  /** The rules of a PUBLISH that need no counting: a refusal, or the device it writes for (none outside devices/). */
  private publishTarget(who: Principal, topic: string, remote: string | undefined): { refused?: Refusal; device?: string } {
    const rule = publishRule(who, topic);
    if ('refused' in rule) {
      this.audit({ actor: principalName(who), action: 'acl.denied', via: 'mqtt', target: topic.slice(0, 256), remote, outcome: 'denied', reason: '0x87' });
      return { refused: refuse(403, NOT_AUTHORIZED, 'FORBIDDEN', rule.refused) };
    }
    if (rule.command !== undefined) {
      // A command to an id no device can have would reach nobody: refused as a reading for it is.
      const problem = this.opts.registry.checkDigits ? this.opts.registry.idProblem(rule.command) : undefined;
      if (!problem) return {};
      this.audit({ actor: principalName(who), action: 'acl.denied', via: 'mqtt', target: rule.command, remote, outcome: 'denied', reason: 'BAD_DEVICE_ID' });
      return { refused: refuse(400, NOT_AUTHORIZED, 'BAD_DEVICE_ID', problem) };
    }
    if (rule.device === undefined) return {};
    const w = this.canWrite(who, rule.device, 'mqtt', remote);
    if (!w.ok) return { refused: w };
    return { device: rule.device };
  }

  /** MQTT SUBSCRIBE: one filter. */
  authorizeSubscribe(who: Principal, requested: string, remote?: string): Decision {
    const refused = subscribeRefusal(who, requested, this.opts);
    if (refused === undefined) return OK;
    this.audit({ actor: principalName(who), action: 'acl.denied', via: 'mqtt', target: requested.slice(0, 256), remote, outcome: 'denied', reason: '0x87' });
    return refuse(403, NOT_AUTHORIZED, 'FORBIDDEN', refused);
  }

  /** Each delivery to a client (aedes authorizeForward): see mayReceive() in mqtt-rules.ts. */
  mayReceive(who: Principal, topic: string): boolean {
    return mayReceive(who, topic, this.opts);
  }

  /** Each delivery mayReceive let through, masked for an API key that may not see sensitive fields: see mqtt-rules.ts. */
  delivery(who: Principal, topic: string, payload: Buffer, contentType?: string): MaskedDelivery {
    return delivery(who, topic, payload, contentType, this.opts);
  }
}
