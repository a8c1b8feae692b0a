/**
 * Session and will behaviour aedes 2.0.0-beta.1 gets wrong or forgets, set
 * right from the outside:
 *
 * - A session resumed by a connection that itself sets no Session Expiry (it
 *   ends with this connection) is still the old session: its queued messages
 *   are delivered, not dropped (aedes took "expires with the connection" to
 *   mean "nothing queued"). It still ends when that connection closes.
 * - The Will Delay Interval is a property of the will, not of the PUBLISH that
 *   carries it; sent along, strict clients (Paho) reject the message.
 * - When an offline session expires is kept with the session in the data
 *   folder, so a restart neither forgets to expire it nor expires it early.
 * - A connection that takes over a session with Clean Start ends that session,
 *   so the old connection's delayed will is published then (aedes dropped it).
 * - A session is a session without subscriptions too: aedes sets CONNACK's
 *   Session Present only when it restores subscriptions, so a device that only
 *   publishes was told it had none while the broker still held its QoS 2 state
 *   ([MQTT-3.2.2-2]; a client told 0 discards its own state, and a packet id it
 *   reuses would then be taken for a copy). Sessions are marked in the
 *   persistence and CONNACK says so (resumes(), applied by connack.ts).
 * - When a session ends (clean session or expiry 0 at disconnect, Clean Start,
 *   expiry) its QoS 2 messages awaiting PUBREL go with it (aedes kept them).
 */
import type { AedesClient, AedesInstance, AedesPacket } from './aedes-types';
import type { BrokerPersistence } from './persistence';

const NEVER = 0xffffffff;
const MAX_TIMER = 2 ** 31 - 1;

export interface SessionHooks {
  /** Stops the expiry timers armed for sessions restored from disk. */
  stop(): void;
  /** Whether this connection resumed a session the broker holds (its CONNACK says Session Present). */
  resumes(client: AedesClient): boolean;
}

export function installSessionFixes(
  aedes: AedesInstance,
  persistence: BrokerPersistence,
  onError: (err: Error) => void,
  onSessionEnd: (clientId: string) => void = () => undefined,
): SessionHooks {
  aedes.on('connackSent', (connack, client) => {
    if (client.version === 5 && connack.sessionPresent && client.clean) client.clean = false;
  });

  const scheduleSessionExpiry = aedes.scheduleSessionExpiry.bind(aedes);
  aedes.scheduleSessionExpiry = (client: AedesClient) => {
    scheduleSessionExpiry(client);
    if (client.version !== 5 || aedes._takingOver.has(client.id)) return;
    const interval = client.sessionExpiryInterval;
    // Also while the broker stops: a session cut off by a shutdown expires from then on.
    if (interval > 0 && interval < NEVER) persistence.setSessionExpiry(client.id, Date.now() + interval * 1000).catch(onError);
  };

  // Which takeovers start clean: the old session ends, and with it the wait of its will.
  const cleanTakeover = new Set<string>();
  const registerClient = aedes.registerClient.bind(aedes);
  aedes.registerClient = (client: AedesClient) => {
    // The old connection closes asynchronously; the mark goes when the new one is registered ('client').
    if (aedes.clients[client.id] && client._cleanStart) cleanTakeover.add(client.id);
    registerClient(client);
  };
  const scheduleWill = aedes.scheduleWill.bind(aedes);
  aedes.scheduleWill = (client: AedesClient, will: AedesPacket, delay: number) => {
    if (cleanTakeover.has(client.id) && aedes._takingOver.has(client.id)) return aedes.publishWill(client, will);
    scheduleWill(client, will, delay);
  };

  const timers = new Map<string, NodeJS.Timeout>();
  const forget = (id: string) => {
    const t = timers.get(id);
    if (t) clearTimeout(t);
    timers.delete(id);
  };
  const endSession = (id: string) => {
    onSessionEnd(id);
    persistence.endSession(id).catch(onError);
  };
  // Decided when the connection is registered, before CONNACK is written and before its packets are read.
  const resumed = new WeakSet<AedesClient>();
  aedes.on('client', (client) => {
    cleanTakeover.delete(client.id);
    forget(client.id);
    persistence.setSessionExpiry(client.id, null).catch(onError);
    if (client._cleanStart) endSession(client.id);
    else if (persistence.hasSession(client.id)) resumed.add(client);
    if (!client.clean) persistence.markSession(client.id).catch(onError);
  });
  aedes.on('clientDisconnect', (client) => {
    // Also during a takeover: a session that ends with its connection does not pass to the next one.
    // An MQTT 5 Session Expiry of 0 ends it too, though `clean` was turned off above to deliver its queue.
    if (client.clean || (client.version === 5 && client.sessionExpiryInterval === 0)) endSession(client.id);
  });
  (aedes as unknown as { on(e: 'sessionExpired', fn: (c: AedesClient) => void): void }).on('sessionExpired', (client) => {
    persistence.setSessionExpiry(client.id, null).catch(onError);
    endSession(client.id);
  });

  // Sessions that were offline when the broker last stopped.
  const arm = (id: string, at: number) => {
    const left = at - Date.now();
    if (left <= 0) {
      if (!aedes.clients[id]) {
        onSessionEnd(id);
        persistence.dropSession(id).catch(onError);
      }
      return;
    }
    const t = setTimeout(() => {
      timers.delete(id);
      arm(id, at);
    }, Math.min(left, MAX_TIMER));
    t.unref();
    timers.set(id, t);
  };
  for (const [id, at] of persistence.sessionExpiries()) arm(id, at);

  return {
    stop: () => {
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
    },
    resumes: (client) => resumed.has(client),
  };
}

/** The will's own properties stay off the PUBLISH that carries it. */
export function stripWillProperties(packet: AedesPacket): void {
  const props = packet.properties;
  if (props === undefined || props.willDelayInterval === undefined) return;
  const rest = { ...props };
  delete rest.willDelayInterval;
  packet.properties = rest;
}
