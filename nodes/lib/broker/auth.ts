/**
 * The device registry's access rules on the embedded broker: aedes' hooks call
 * the rules (nodes/lib/security/device-auth.ts) and put their answers on the
 * wire. A login becomes a principal kept on the aedes client; each PUBLISH
 * (wills included), SUBSCRIBE and delivery is checked against it. A login the
 * registry revokes publishes nothing more, not even the will its closing
 * connection would leave, nor one waiting for its Will Delay (dropped from the
 * data folder too, as a restart would publish it); neither does one that a registry deployed or removed no
 * longer lets in (will-rules.ts). A refused PUBLISH is answered, on MQTT 5, with the
 * refusal's reason code (0x87 not authorized, 0x97 quota exceeded) and
 * `CODE: message` as reason string, and on MQTT 3.1.1 by closing the connection (it
 * has no negative acknowledgement). A refused SUBSCRIBE gets 0x87 (v5) / 0x80
 * (v3) for that filter.
 *
 * The broker's own hooks (in-process delivery with the durable ack) keep
 * running after an allowed PUBLISH, so installing this changes nothing for the
 * pipeline's in-process subscribers and publishers, which are never checked.
 */
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { AuthResult, ConnectInfo, Decision, Principal, PublishDecision, PublishPacket, SharedLogin } from '../security/device-auth';
import type { MaskedDelivery } from '../security/mqtt-masking';
import { principalName } from '../security/mqtt-rules';
import { legacyWillDevice, type StoredWill } from '../security/will-rules';
import { gateOf } from './connection';

/** What the broker needs of the access rules: a DeviceAuth, or something that forwards to the one in force. */
export interface BrokerAuth {
  authenticate(info: ConnectInfo): Promise<AuthResult>;
  authorizePublish(who: Principal, p: PublishPacket, remote?: string): Promise<PublishDecision>;
  /** The decision now when it needs no waiting (no rate limit to count), else undefined. */
  authorizePublishNow?(who: Principal, p: PublishPacket, remote?: string): PublishDecision | undefined;
  authorizeSubscribe(who: Principal, filter: string, remote?: string): Decision;
  mayReceive(who: Principal, topic: string): boolean;
  /** A delivery as `who` may see it (sensitive fields masked): undefined as published, null withheld. */
  delivery?(who: Principal, topic: string, payload: Buffer, contentType?: string): MaskedDelivery;
  /**
   * `who` undefined: the rules changed for everyone (a registry deployed or removed); `interim` when they are
   * about to change again (a registry being deployed anew, the runtime stopping), so nothing is judged on them.
   */
  onRevoke(listener: (who: Principal | undefined, filters: string[] | 'all', interim?: boolean) => void): () => void;
  /** Whether a will kept since its login connected may still be published under the rules in force (will-rules.ts). */
  willHolds?(will: StoredWill, loopback: boolean, shared?: SharedLogin): Promise<boolean>;
}

interface Packet {
  topic: string;
  payload: Buffer | string;
  qos: number;
  properties?: Record<string, unknown> & { contentType?: string };
  /** A will's: who set it, kept with it in the data folder. */
  login?: string;
  clientId?: string;
}

/** What of the broker's persistence the wills of a revoked login are found and dropped with. */
interface WillStore {
  putWill(client: { id: string }, packet: Packet): Promise<void>;
  streamWill(): AsyncIterable<unknown>;
  delWill(client: { id: string }): Promise<unknown>;
}

interface Sub {
  topic: string;
  qos: number;
}

export interface AuthClient {
  id: string;
  version: number | null;
  clean: boolean;
  conn: Duplex;
  req?: IncomingMessage;
  subscriptions: Record<string, unknown>;
  /** aedes' own UNSUBSCRIBE handling (no UNSUBACK without a message id): the persisted subscription goes too. */
  unsubscribe?(packet: { unsubscriptions: string[] }, done?: (err?: Error) => void): void;
  disconnect?(opts: { reasonCode: number }, done?: () => void): void;
  close(done?: () => void): void;
  /** Set here when the client logs in. */
  upperstackPrincipal?: Principal;
  /** Set when the registry revoked the login (device disabled, removed, secret rotated): its connection is ending. */
  upperstackRevoked?: boolean;
  /** Set when the connection ended as the rules changed as a whole: its will is judged by the new ones. */
  upperstackRulesChanged?: boolean;
}

type Cb = (err?: Error | null) => void;

export interface AuthAedes {
  clients: Record<string, AuthClient>;
  authenticate: (client: AuthClient, username: string | undefined, password: Buffer | undefined, cb: (err: (Error & { returnCode?: number; reasonCode?: number }) | null, ok: boolean) => void) => void;
  authorizePublish: (client: AuthClient | null, packet: Packet, cb: Cb) => void;
  authorizeSubscribe: (client: AuthClient, sub: Sub, cb: (err: Error | null, sub?: Sub | null) => void) => void;
  authorizeForward: (client: AuthClient, packet: Packet) => Packet | null | undefined;
  persistence?: WillStore;
  clearDelayedWill?(clientId: string): void;
}

export interface ListenerFacts {
  /** The broker listens on a loopback address only. */
  loopback: boolean;
  /** The broker node's shared device login, if any. */
  shared?: SharedLogin;
  /** Told of each refusal (the log). */
  onRefused?: (clientId: string, what: string, message: string) => void;
  /** A will of a revoked login could not be dropped from the data folder. */
  onError?: (err: Error) => void;
}

const REVOKED = 'the login was revoked (device disabled, removed or given a new secret): its will and any later publish are not taken';
const NO_LONGER = 'the login no longer logs in under the device registry now in force (deployed or removed): its will is not published';
const AT_START = 'the login does not log in under the device registry in force at start: its will, kept in the data folder from before, is not published';

/** An Error carrying the MQTT 5 reason code a refusal is answered with. */
export function refusalError(message: string, reasonCode: number): Error & { reasonCode: number; returnCode: number } {
  // CONNACK of MQTT 3.1.1: 4 bad user name or password, 5 not authorized, 3 server unavailable.
  const returnCode = reasonCode === 0x86 ? 4 : reasonCode === 0x88 || reasonCode === 0x9f ? 3 : 5;
  return Object.assign(new Error(message), { reasonCode, returnCode });
}

export function remoteOf(client: AuthClient): string | undefined {
  const conn = client.conn as Partial<{ remoteAddress: string }>;
  return conn.remoteAddress ?? client.req?.socket?.remoteAddress ?? undefined;
}

/** The CN of a client certificate the TLS listener verified against its CA. */
export function certificateCN(conn: Duplex): string | undefined {
  const tls = conn as Partial<TLSSocket>;
  if (!tls.authorized || typeof tls.getPeerCertificate !== 'function') return undefined;
  const cn = tls.getPeerCertificate()?.subject?.CN;
  if (Array.isArray(cn)) return typeof cn[0] === 'string' ? cn[0] : undefined;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

function samePrincipal(a: Principal | undefined, b: Principal): boolean {
  if (!a || a.kind !== b.kind) return false;
  return a.kind === 'anonymous' || (b.kind !== 'anonymous' && (a as { id: string }).id === b.id);
}

/**
 * Installs the rules on an aedes instance whose own hooks are already set;
 * returns the function that stops listening for revocations.
 */
export function installDeviceAuth(aedes: AuthAedes, auth: BrokerAuth, facts: ListenerFacts): () => void {
  const publishNext = aedes.authorizePublish;
  const subscribeNext = aedes.authorizeSubscribe;
  const forwardNext = aedes.authorizeForward;
  const refused = (client: AuthClient, what: string, message: string) => facts.onRefused?.(client.id, what, message);
  const wills = aedes.persistence;
  if (wills) {
    // A will is kept with its login, so a revocation finds it after the connection is gone and after a restart.
    const putWill = wills.putWill.bind(wills);
    wills.putWill = (client, packet) => {
      const who = (client as Partial<AuthClient>).upperstackPrincipal;
      if (who) packet.login = principalName(who);
      return putWill(client, packet);
    };
  }

  aedes.authenticate = (client, username, password, cb) => {
    auth
      .authenticate({ protocol: 'mqtt', clientId: client.id, username, password, remote: remoteOf(client), certCN: certificateCN(client.conn), loopback: facts.loopback, shared: facts.shared })
      .then(
        (r) => {
          if (!r.ok) {
            refused(client, 'login', r.message);
            gateOf(client.conn)?.refuseConnect(r.reasonCode);
            return cb(refusalError(r.message, r.reasonCode), false);
          }
          client.upperstackPrincipal = r.principal;
          cb(null, true);
        },
        (err: unknown) => cb(refusalError(`the login cannot be checked now: ${err instanceof Error ? err.message : String(err)}`, 0x88), false),
      );
  };

  aedes.authorizePublish = (client, packet, cb) => {
    // In-process publishes (client null) are the pipeline's own.
    if (!client) return publishNext(client, packet, cb);
    const who = client.upperstackPrincipal;
    if (!who) return cb(refusalError('not logged in', 0x87));
    // The will aedes publishes as the connection closes, and anything still in its socket: from a login that no
    // longer holds, so refused like a new connection with it would be.
    if (client.upperstackRevoked) {
      refused(client, `publish ${packet.topic.slice(0, 200)}`, REVOKED);
      return cb(refusalError(REVOKED, 0x87));
    }
    if (client.upperstackRulesChanged && auth.willHolds) {
      // Its will (and anything still in its socket), published after the rules it logged in under were replaced.
      auth.willHolds({ topic: packet.topic, clientId: client.id, login: principalName(who) }, facts.loopback, facts.shared).then(
        (holds) => {
          if (holds) return check(client, who, packet, cb);
          refused(client, `publish ${packet.topic.slice(0, 200)}`, NO_LONGER);
          cb(refusalError(NO_LONGER, 0x87));
        },
        (err: unknown) => cb(refusalError(`the publish cannot be checked now: ${err instanceof Error ? err.message : String(err)}`, 0x80)),
      );
      return;
    }
    check(client, who, packet, cb);
  };

  const check = (client: AuthClient, who: Principal, packet: Packet, cb: Cb) => {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const p = { topic: packet.topic, payload, qos: packet.qos, contentType: packet.properties?.contentType };
    const remote = remoteOf(client);
    const decided = (d: PublishDecision) => {
      if (!d.ok) {
        refused(client, `publish ${packet.topic.slice(0, 200)}`, d.message);
        // The reason string leads with the stable code, as a CoAP diagnostic does: a device tells refusals apart by it.
        return cb(refusalError(`${d.code}: ${d.message}`, d.reasonCode));
      }
      if (d.payload) {
        // A verified signed envelope: subscribers get the body it carried.
        packet.payload = d.payload;
        if (d.contentType !== undefined) packet.properties = { ...packet.properties, contentType: d.contentType };
      }
      publishNext(client, packet, cb);
    };
    let now: PublishDecision | undefined;
    try {
      now = auth.authorizePublishNow?.(who, p, remote);
    } catch (err) {
      return cb(refusalError(`the publish cannot be checked now: ${err instanceof Error ? err.message : String(err)}`, 0x80));
    }
    if (now) return decided(now);
    auth
      .authorizePublish(who, p, remote)
      .then(decided, (err: unknown) => cb(refusalError(`the publish cannot be checked now: ${err instanceof Error ? err.message : String(err)}`, 0x80)));
  };

  aedes.authorizeSubscribe = (client, sub, cb) => {
    const who = client.upperstackPrincipal;
    const d: Decision = who ? auth.authorizeSubscribe(who, sub.topic, remoteOf(client)) : { ok: false, status: 401, reasonCode: 0x87, code: 'UNAUTHORIZED', message: 'not logged in' };
    if (!d.ok) {
      refused(client, `subscribe ${sub.topic.slice(0, 200)}`, d.message);
      // A null subscription is "refused" for this filter (0x87 on MQTT 5, 0x80 on 3.1.1); the others still count.
      return cb(null, null);
    }
    subscribeNext(client, sub, cb);
  };

  aedes.authorizeForward = (client, packet) => {
    const who = client.upperstackPrincipal;
    if (who && !auth.mayReceive(who, packet.topic)) return null;
    const shown = who && auth.delivery ? auth.delivery(who, packet.topic, typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload, packet.properties?.contentType) : undefined;
    if (shown === null) return null;
    // A copy: the packet itself goes to every other subscriber as published.
    return forwardNext(client, shown ? { ...packet, payload: shown.payload, properties: { ...packet.properties, contentType: shown.contentType } } : packet);
  };

  return auth.onRevoke((who, filters, interim) => {
    if (who !== undefined && filters === 'all') void dropWills(aedes, (w) => revokedWill(w, who), REVOKED, facts);
    const judged = who === undefined && !interim && auth.willHolds !== undefined;
    if (judged) void dropWills(aedes, async (w) => !(await auth.willHolds!(w, facts.loopback, facts.shared)), NO_LONGER, facts);
    for (const client of Object.values(aedes.clients)) {
      if (who !== undefined && !samePrincipal(client.upperstackPrincipal, who)) continue;
      if (filters === 'all') {
        // A changed registry as a whole (who undefined) leaves each login to be checked again at reconnect; this one is gone.
        if (who !== undefined) client.upperstackRevoked = true;
        else if (judged) client.upperstackRulesChanged = true;
        // MQTT 5: "not authorized" before the close, so the device knows why.
        if (client.disconnect) client.disconnect({ reasonCode: 0x87 });
        else client.close();
        continue;
      }
      for (const topic of filters) dropSubscription(client, topic);
    }
  });
}

/**
 * The wills the broker restored from the data folder, judged once the rules in force at start are settled (the deploy
 * that started the broker is over, its registry loaded) as a deploy of a registry judges them: aedes would publish
 * them later without a client to check them against, so a device removed or disabled while the runtime was stopped
 * would still send its will. Those that no longer hold are dropped. Resolves false when they could not all be judged.
 */
export function judgeRestoredWills(aedes: AuthAedes, auth: BrokerAuth, facts: ListenerFacts): Promise<boolean> {
  const willHolds = auth.willHolds?.bind(auth);
  if (!willHolds) return Promise.resolve(true);
  return dropWills(aedes, async (w) => !(await willHolds(w, facts.loopback, facts.shared)), AT_START, facts);
}

/**
 * Whether a kept will is the revoked login's: kept with its login, or, kept by an earlier release without one,
 * a device's will on its own topic (`devices/{id}/…`) or, on another topic, of a client id that is the device's id.
 */
function revokedWill(w: Packet, who: Principal): boolean {
  if (w.login !== undefined) return w.login === principalName(who);
  return who.kind === 'device' && legacyWillDevice({ topic: w.topic, clientId: w.clientId }) === who.id;
}

/**
 * The wills of logins that no longer hold (revoked, or no longer let in by a registry deployed or removed): waiting
 * for their Will Delay on a connection already gone, or kept in the data folder for a restart to publish (aedes
 * publishes a restored will without a client to check it against). Dropped at once, so neither the timer nor a
 * restart within the delay publishes one. Live connections of those logins are refused their will as they close
 * (upperstackRevoked, upperstackRulesChanged).
 */
async function dropWills(aedes: AuthAedes, gone: (w: Packet) => boolean | Promise<boolean>, reason: string, facts: ListenerFacts): Promise<boolean> {
  const store = aedes.persistence;
  if (!store) return true;
  try {
    const ids: string[] = [];
    for await (const will of store.streamWill()) {
      const w = will as Packet;
      if (w.clientId !== undefined && (await gone(w))) ids.push(w.clientId);
    }
    for (const id of ids) {
      aedes.clearDelayedWill?.(id);
      await store.delWill({ id });
      facts.onRefused?.(id, 'will', reason);
    }
    return true;
  } catch (err) {
    facts.onError?.(err instanceof Error ? err : new Error(String(err)));
    return false;
  }
}

/** Ends one subscription of a client as its own UNSUBSCRIBE would; deliveries are refused meanwhile anyway (mayReceive). */
function dropSubscription(client: AuthClient, topic: string): void {
  if (client.subscriptions[topic] === undefined || !client.unsubscribe) return;
  client.unsubscribe({ unsubscriptions: [topic] }, () => undefined);
}
