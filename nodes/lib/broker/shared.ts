/**
 * Shared subscriptions (`$share/{group}/{filter}`, MQTT 5 §4.8.2; MQTT 3.1.1
 * clients may use them too, as with mosquitto): each message matching the
 * filter goes to one member of the group, in turn. aedes 2.0.0-beta.1 refuses
 * them (0x9E), so SUBSCRIBE and UNSUBSCRIBE packets naming one are taken
 * before aedes sees them (connection.ts); ordinary filters in the same packet
 * still go to aedes and the SUBACK carries both answers in order.
 *
 * A member whose session ends (clean session, disconnect, unsubscribe) leaves
 * the group, and the QoS 1/2 messages it had not acknowledged go to another
 * member. A member with a persistent session stays while offline: it gets no
 * messages while others are online, and when nobody is, messages queue in its
 * session. Shared subscriptions of persistent sessions are kept with the
 * session (also across restarts) and restored when it is resumed.
 */
import type { AedesClient, AedesInstance, AedesPacket, AedesSubscription } from './aedes-types';
import type { BrokerPersistence } from './persistence';

const PREFIX = '$share/';
const NOT_AUTHORIZED = 0x87;
const TOPIC_FILTER_INVALID = 0x8f;
const PROTOCOL_ERROR = 0x82;
const V3_FAILURE = 0x80;

export function isShared(topic: string): boolean {
  return topic.startsWith(PREFIX);
}

/** `$share/group/filter` → [group, filter], or undefined when malformed. */
export function parseShared(topic: string): [string, string] | undefined {
  const rest = topic.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const group = rest.slice(0, slash);
  const filter = rest.slice(slash + 1);
  if (/[+#]/.test(group) || !validFilter(filter)) return undefined;
  return [group, filter];
}

function validFilter(filter: string): boolean {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every((l, i) => (l.includes('#') ? l === '#' && i === levels.length - 1 : !l.includes('+') || l === '+'));
}

interface Member {
  clientId: string;
  client: AedesClient | undefined;
  sub: AedesSubscription;
}

interface Group {
  key: string;
  filter: string;
  members: Member[];
  next: number;
  listener: (packet: AedesPacket, cb: () => void) => void;
}

interface Pending {
  group: Group;
  packet: AedesPacket;
}

type Write = (packet: Record<string, unknown>) => void;

export class SharedSubscriptions {
  private readonly groups = new Map<string, Group>();
  /** Per client: QoS 1/2 messages handed to it and not acknowledged yet, by broker counter. */
  private readonly pending = new Map<string, Map<number, Pending>>();

  constructor(
    private readonly aedes: AedesInstance,
    private readonly persistence: BrokerPersistence,
    private readonly onError: (err: Error) => void,
  ) {
    aedes.on('clientReady', (client) => this.restore(client));
    aedes.on('clientDisconnect', (client) => this.left(client));
    (aedes as unknown as { on(e: 'sessionExpired', fn: (c: AedesClient) => void): void }).on('sessionExpired', (client) => this.forget(client.id));
  }

  /** A session that ended while offline leaves every group. */
  forget(clientId: string): void {
    for (const g of [...this.groups.values()]) if (g.members.some((m) => m.clientId === clientId && !m.client)) this.leave(clientId, g.key);
  }

  /** Handles a SUBSCRIBE that names at least one shared subscription; `write` sends the SUBACK. */
  subscribe(client: AedesClient, packet: { messageId?: number; subscriptions: AedesSubscription[]; properties?: Record<string, unknown> }, write: Write): void {
    const v5 = client.version === 5;
    const si = packet.properties?.subscriptionIdentifier as number | undefined;
    const subs = packet.subscriptions;
    if (v5 && subs.some((s) => isShared(s.topic) && s.nl)) {
      // [MQTT-3.8.3-4]
      client.disconnect({ reasonCode: PROTOCOL_ERROR });
      return;
    }
    const granted: number[] = new Array(subs.length).fill(V3_FAILURE);
    const ordinary = subs.map((s, i) => ({ s, i })).filter(({ s }) => !isShared(s.topic));
    let waiting = subs.length - ordinary.length + (ordinary.length > 0 ? 1 : 0);
    const finish = () => {
      if (--waiting > 0) return;
      if (packet.messageId !== undefined) write({ cmd: 'suback', messageId: packet.messageId, granted });
    };
    if (ordinary.length > 0) {
      const part = ordinary.map(({ s }) => s);
      // aedes subscribes them as usual (persisted, retained messages sent) and writes the granted codes back onto them.
      (client as unknown as { subscribe(p: object, done: (err?: Error) => void): void }).subscribe({ subscriptions: part, properties: packet.properties }, (err) => {
        setImmediate(() => {
          ordinary.forEach(({ s, i }) => (granted[i] = err ? V3_FAILURE : s.qos));
          finish();
        });
      });
    }
    subs.forEach((s, i) => {
      if (!isShared(s.topic)) return;
      const parsed = parseShared(s.topic);
      if (!parsed) {
        granted[i] = v5 ? TOPIC_FILTER_INVALID : V3_FAILURE;
        return finish();
      }
      this.aedes.authorizeSubscribe(client, { ...s, topic: parsed[1] }, (err, allowed) => {
        if (err || !allowed) {
          granted[i] = v5 ? (err as { reasonCode?: number } | null)?.reasonCode ?? NOT_AUTHORIZED : V3_FAILURE;
          return finish();
        }
        const sub: AedesSubscription = { topic: s.topic, qos: Math.min(allowed.qos ?? s.qos, 2), rap: s.rap, rh: s.rh };
        if (si !== undefined) sub.subscriptionIdentifier = si;
        this.join(client.id, client, sub);
        granted[i] = sub.qos;
        if (!client.clean) this.persistence.addSharedSubscription(client.id, sub).catch(this.onError);
        finish();
      });
    });
  }

  /** Handles an UNSUBSCRIBE that names at least one shared subscription. */
  unsubscribe(client: AedesClient, packet: { messageId?: number; unsubscriptions: string[] }, write: Write): void {
    const codes: number[] = new Array(packet.unsubscriptions.length).fill(0);
    const ordinary = packet.unsubscriptions.map((t, i) => ({ t, i })).filter(({ t }) => !isShared(t));
    const done = () => {
      if (packet.messageId !== undefined) write({ cmd: 'unsuback', messageId: packet.messageId, granted: codes });
    };
    packet.unsubscriptions.forEach((t, i) => {
      if (!isShared(t)) return;
      codes[i] = this.leave(client.id, t) ? 0 : 0x11;
      if (!client.clean) this.persistence.removeSharedSubscription(client.id, t).catch(this.onError);
    });
    if (ordinary.length === 0) return done();
    (client as unknown as { unsubscribe(p: object, done: (err?: Error) => void): void }).unsubscribe({ unsubscriptions: ordinary.map(({ t }) => t) }, () => {
      setImmediate(done);
    });
  }

  /** A QoS 1/2 message handed to a member was acknowledged (or will never go out). */
  acked(client: AedesClient, brokerCounter: number): void {
    const m = this.pending.get(client.id);
    if (m?.delete(brokerCounter) && m.size === 0) this.pending.delete(client.id);
  }

  private join(clientId: string, client: AedesClient | undefined, sub: AedesSubscription): void {
    const [, filter] = parseShared(sub.topic)!;
    const key = sub.topic;
    let g = this.groups.get(key);
    if (!g) {
      const group: Group = { key, filter, members: [], next: 0, listener: (packet, cb) => this.dispatch(group, packet, cb) };
      g = group;
      this.groups.set(key, group);
      this.aedes.subscribe(filter, group.listener);
    }
    const existing = g.members.find((m) => m.clientId === clientId);
    if (existing) {
      existing.client = client;
      existing.sub = sub;
    } else {
      g.members.push({ clientId, client, sub });
    }
  }

  /** True if the client was a member. */
  private leave(clientId: string, topic: string): boolean {
    const g = this.groups.get(topic);
    if (!g) return false;
    const before = g.members.length;
    g.members = g.members.filter((m) => m.clientId !== clientId);
    if (g.members.length === 0) {
      this.groups.delete(topic);
      this.aedes.unsubscribe(g.filter, g.listener);
    }
    return g.members.length < before;
  }

  private restore(client: AedesClient): void {
    // A resumed persistent session gets its shared subscriptions back; a clean start has had them removed.
    for (const sub of this.persistence.sharedSubscriptions(client.id)) this.join(client.id, client, sub);
    for (const g of this.groups.values()) {
      const m = g.members.find((x) => x.clientId === client.id);
      if (m) m.client = client;
    }
  }

  private left(client: AedesClient): void {
    const persistent = !client.clean;
    for (const g of [...this.groups.values()]) {
      const m = g.members.find((x) => x.clientId === client.id);
      if (!m || m.client !== client) continue;
      if (persistent) m.client = undefined;
      else this.leave(client.id, g.key);
    }
    const pending = this.pending.get(client.id);
    this.pending.delete(client.id);
    if (!pending || persistent) return;
    // Its session is gone: what it had not acknowledged goes to someone else in the group.
    for (const { group, packet } of pending.values()) {
      if (this.groups.get(group.key) === group) this.dispatch(group, packet, () => undefined);
    }
  }

  private dispatch(group: Group, packet: AedesPacket, cb: () => void): void {
    // Filters starting with a wildcard do not match $-topics ([MQTT-4.7.2-1]).
    if (packet.topic.charCodeAt(0) === 36 && (group.filter[0] === '+' || group.filter[0] === '#')) return cb();
    const n = group.members.length;
    let chosen: Member | undefined;
    for (let i = 0; i < n; i++) {
      const m = group.members[(group.next + i) % n];
      if (m.client && !m.client.closed) {
        chosen = m;
        group.next = (group.next + i + 1) % n;
        break;
      }
    }
    if (!chosen) {
      // Nobody online: queue it in one offline persistent session, in turn.
      const offline = group.members[group.next % Math.max(n, 1)];
      group.next = (group.next + 1) % Math.max(n, 1);
      if (offline && packet.qos > 0) this.persistence.outgoingEnqueue({ clientId: offline.clientId }, this.copy(packet, offline.sub)).then(cb, (err: Error) => (this.onError(err), cb()));
      else cb();
      return;
    }
    const client = chosen.client!;
    const out = this.copy(packet, chosen.sub);
    if (out.qos > 0) {
      let m = this.pending.get(client.id);
      if (!m) this.pending.set(client.id, (m = new Map()));
      m.set(out.brokerCounter!, { group, packet });
    }
    (client as unknown as { publish(p: AedesPacket, done: (err?: Error) => void): void }).publish(out, () => undefined);
    cb();
  }

  /** The message as this member receives it: its QoS, Retain As Published, Subscription Identifier; a broker counter of its own. */
  private copy(packet: AedesPacket, sub: AedesSubscription): AedesPacket {
    const out: AedesPacket = {
      cmd: 'publish',
      topic: packet.topic,
      payload: packet.payload,
      qos: Math.min(packet.qos, sub.qos),
      retain: sub.rap ? packet.retain : false,
      brokerId: this.aedes.id,
      brokerCounter: ++(this.aedes as unknown as { counter: number }).counter,
    };
    if (packet.messageExpiry !== undefined) out.messageExpiry = packet.messageExpiry;
    if (packet.properties !== undefined || sub.subscriptionIdentifier !== undefined) {
      out.properties = { ...packet.properties };
      if (sub.subscriptionIdentifier !== undefined) out.properties.subscriptionIdentifier = sub.subscriptionIdentifier;
    }
    return out;
  }
}
