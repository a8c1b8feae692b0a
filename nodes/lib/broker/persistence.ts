/**
 * An aedes persistence that keeps the broker's state in memory for speed and in
 * the data folder for restarts (nodes/lib/broker/statelog.ts): subscriptions of
 * persistent sessions, their queued and in-flight QoS 1/2 messages, incoming
 * QoS 2 messages awaiting PUBREL, retained messages, wills, and when each
 * offline session expires. It follows the in-memory persistence that ships with
 * aedes (aedes-persistence) and passes that package's abstract test suite.
 *
 * Without a directory it is memory-only. A session's queue is bounded
 * (`maxQueued`): beyond it new messages for that session are dropped and
 * counted, as mosquitto's max_queued_messages does, so a device that never
 * comes back cannot fill the disk.
 */
import { Readable } from 'node:stream';
import { QlobberTrue } from 'qlobber';
import QlobberSub from 'qlobber/aedes/qlobber-sub';
import { StateLog } from './statelog';

/* eslint-disable @typescript-eslint/no-require-imports */
const Packet = require('aedes-packet') as new (p: object, broker?: object) => StoredPacket;

const QLOBBER = { wildcard_one: '+', wildcard_some: '#', separator: '/', match_empty_levels: true };

export interface StoredPacket {
  cmd: string;
  brokerId?: string;
  brokerCounter?: number;
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain: boolean;
  dup?: boolean;
  messageId?: number;
  properties?: Record<string, unknown>;
  messageExpiry?: number;
  clientId?: string;
}

export interface StoredSub {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

interface ClientRef {
  id: string;
}

interface BrokerRef {
  id: string;
}

type Op =
  | ['ret', string, StoredPacket | null]
  | ['sub', string, StoredSub[]]
  | ['unsub', string, string[]]
  | ['clean', string]
  | ['enq', string[], StoredPacket]
  | ['upd', string, string | undefined, number | undefined, number | undefined]
  | ['rel', string, number]
  | ['relq', string, number]
  | ['clr', string, number | undefined]
  | ['in', string, StoredPacket]
  | ['indel', string, number]
  | ['will', string, StoredPacket]
  | ['delwill', string]
  | ['exp', string, number | null]
  | ['drop', string]
  | ['ssub', string, StoredSub]
  | ['sunsub', string, string];

export interface PersistenceOptions {
  /** Where the state file lives; without it nothing survives a restart. */
  dir?: string;
  /** Messages queued per offline session before new ones are dropped; 0: no bound. */
  maxQueued?: number;
  fsyncIntervalMs?: number;
}

export interface PersistenceStats {
  sessions: number;
  queued: number;
  retained: number;
  dropped: number;
  bytes: number;
}

/** The fields of a packet worth keeping on disk (aedes-packet plus the MQTT 5 extras aedes adds). */
function plain(p: StoredPacket, withMessageId = false): StoredPacket {
  const out: StoredPacket = { cmd: p.cmd, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain };
  if (p.brokerId !== undefined) out.brokerId = p.brokerId;
  if (p.brokerCounter !== undefined) out.brokerCounter = p.brokerCounter;
  if (p.dup) out.dup = true;
  if (withMessageId && p.messageId !== undefined) out.messageId = p.messageId;
  if (p.properties !== undefined) out.properties = p.properties;
  if (p.messageExpiry !== undefined) out.messageExpiry = p.messageExpiry;
  if (p.clientId !== undefined) out.clientId = p.clientId;
  return out;
}

/** A payload read back from disk: CBOR gives byte strings as Uint8Array, aedes wants Buffers (strings stay strings). */
function payloadOf(v: unknown): Buffer | string {
  if (typeof v === 'string' || Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.alloc(0);
}

/** A packet as aedes expects it back (an aedes-packet), optionally with its message id. */
function revive(p: StoredPacket, withMessageId = false): StoredPacket {
  const pkt = new Packet({ ...p, payload: payloadOf(p.payload) });
  if (withMessageId && p.messageId !== undefined) pkt.messageId = p.messageId;
  return pkt;
}

/** Shared by every publish that matches no kept subscription: aedes only reads it. */
const NO_SUBSCRIPTIONS: Promise<Array<{ clientId: string; topic: string; qos: number }>> = Promise.resolve(Object.freeze([]) as unknown as Array<{ clientId: string; topic: string; qos: number }>);

export class BrokerPersistence {
  private retained = new Map<string, StoredPacket>();
  private subscriptions = new Map<string, Map<string, StoredSub>>();
  private outgoing = new Map<string, StoredPacket[]>();
  private incoming = new Map<string, Map<number, StoredPacket>>();
  private wills = new Map<string, StoredPacket>();
  private expiries = new Map<string, number>();
  /** Shared subscriptions of persistent sessions (aedes knows nothing of them), by client and `$share/...` filter. */
  private shared = new Map<string, Map<string, StoredSub>>();
  private trie = new QlobberSub(QLOBBER);
  private broker: BrokerRef | undefined;
  private log: StateLog<Op> | undefined;
  private dropped = 0;
  private compactTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PersistenceOptions = {}) {}

  async setup(broker: BrokerRef): Promise<void> {
    this.broker = broker;
    if (!this.opts.dir || this.log) return;
    const log = new StateLog<Op>({ dir: this.opts.dir, fsyncIntervalMs: this.opts.fsyncIntervalMs });
    log.open((op) => this.apply(op));
    this.log = log;
    this.compactTimer = setInterval(() => log.maybeCompact(() => this.snapshot()), 30_000);
    this.compactTimer.unref();
  }

  // ---- retained ----

  async storeRetained(pkt: StoredPacket): Promise<void> {
    const copy = { ...pkt };
    const op: Op = ['ret', copy.topic, copy.payload.length === 0 ? null : plain(copy)];
    this.apply(op, copy);
    await this.write(op);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const matchers = patterns.map((p) => new QlobberTrue(QLOBBER).add(p));
    const out: StoredPacket[] = [];
    for (const m of matchers) for (const [topic, packet] of this.retained) if (m.test(topic)) out.push(packet);
    return Readable.from(out);
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  // ---- subscriptions ----

  async addSubscriptions(client: ClientRef, subs: StoredSub[]): Promise<void> {
    const clean = subs.map((s) => {
      const r: StoredSub = { topic: s.topic, qos: s.qos, rh: s.rh, rap: s.rap, nl: s.nl };
      if (s.subscriptionIdentifier !== undefined) r.subscriptionIdentifier = s.subscriptionIdentifier;
      return r;
    });
    const op: Op = ['sub', client.id, clean];
    this.apply(op);
    await this.write(op);
  }

  async removeSubscriptions(client: ClientRef, topics: string[]): Promise<void> {
    const op: Op = ['unsub', client.id, [...topics]];
    this.apply(op);
    await this.write(op);
  }

  async subscriptionsByClient(client: ClientRef): Promise<StoredSub[]> {
    const stored = this.subscriptions.get(client.id);
    return stored ? [...stored.values()].map((s) => ({ ...s })) : [];
  }

  async countOffline(): Promise<{ subsCount: number; clientsCount: number }> {
    return { subsCount: this.trie.subscriptionsCount, clientsCount: this.subscriptions.size };
  }

  subscriptionsByTopic(topic: string): Promise<Array<{ clientId: string; topic: string; qos: number }>> {
    // Asked for every QoS 1/2 publish; with no QoS 1/2 subscription kept, the answer needs no topic split or match.
    if (this.trie.subscriptionsCount === 0) return NO_SUBSCRIPTIONS;
    try {
      return Promise.resolve(this.trie.match(topic));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async cleanSubscriptions(client: ClientRef): Promise<ClientRef> {
    if (this.subscriptions.has(client.id) || this.shared.has(client.id)) {
      const op: Op = ['clean', client.id];
      this.apply(op);
      await this.write(op);
    }
    return client;
  }

  getClientList(topic: string): Readable {
    const ids: string[] = [];
    for (const [id, subs] of this.subscriptions) if (subs.has(topic)) ids.push(id);
    return Readable.from(ids);
  }

  async addSharedSubscription(clientId: string, sub: StoredSub): Promise<void> {
    const op: Op = ['ssub', clientId, sub];
    this.apply(op);
    await this.write(op);
  }

  async removeSharedSubscription(clientId: string, topic: string): Promise<void> {
    if (!this.shared.get(clientId)?.has(topic)) return;
    const op: Op = ['sunsub', clientId, topic];
    this.apply(op);
    await this.write(op);
  }

  sharedSubscriptions(clientId: string): StoredSub[] {
    return [...(this.shared.get(clientId)?.values() ?? [])];
  }

  // ---- outgoing (queued and in flight towards a session) ----

  async outgoingEnqueue(sub: { clientId: string }, packet: StoredPacket): Promise<void> {
    return this.outgoingEnqueueCombi([sub], packet);
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: StoredPacket): Promise<void> {
    // The hot path for every QoS 1/2 publish: nothing to write when no offline session matches.
    if (subs.length === 0) return;
    const max = this.opts.maxQueued ?? 0;
    const ids: string[] = [];
    for (const s of subs) {
      if (max > 0 && (this.outgoing.get(s.clientId)?.length ?? 0) >= max) {
        this.dropped++;
        continue;
      }
      ids.push(s.clientId);
    }
    if (ids.length === 0) return;
    const op: Op = ['enq', ids, plain(packet)];
    this.apply(op);
    await this.write(op);
  }

  async outgoingUpdate(client: ClientRef, packet: StoredPacket): Promise<void> {
    const queue = this.outgoing.get(client.id) ?? [];
    for (let i = 0; i < queue.length; i++) {
      const q = queue[i];
      if (q.brokerId === packet.brokerId) {
        if (q.brokerCounter === packet.brokerCounter) {
          const op: Op = ['upd', client.id, packet.brokerId, packet.brokerCounter, packet.messageId];
          this.apply(op);
          return this.write(op);
        }
      } else if (q.messageId === packet.messageId) {
        const op: Op = ['rel', client.id, packet.messageId!];
        this.apply(op, packet);
        return this.write(op);
      }
    }
    throw new Error('no such packet');
  }

  async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<StoredPacket | undefined> {
    const queue = this.outgoing.get(client.id);
    const found = queue?.find((q) => q.messageId === packet.messageId);
    if (!found) return undefined;
    const op: Op = ['clr', client.id, packet.messageId];
    this.apply(op);
    await this.write(op);
    return found;
  }

  outgoingStream(client: ClientRef): Readable {
    return Readable.from([...(this.outgoing.get(client.id) ?? [])]);
  }

  // ---- incoming QoS 2 ----

  async incomingStorePacket(client: ClientRef, packet: StoredPacket): Promise<void> {
    const op: Op = ['in', client.id, plain(packet, true)];
    this.apply(op);
    await this.write(op);
  }

  async incomingGetPacket(client: ClientRef, packet: { messageId: number }): Promise<StoredPacket> {
    const p = this.incoming.get(client.id)?.get(packet.messageId);
    if (!p) throw new Error('no such packet');
    return p;
  }

  async incomingDelPacket(client: ClientRef, packet: { messageId: number }): Promise<void> {
    if (!this.incoming.get(client.id)?.has(packet.messageId)) throw new Error('no such packet');
    const op: Op = ['indel', client.id, packet.messageId];
    this.apply(op);
    await this.write(op);
  }

  // ---- wills ----

  async putWill(client: ClientRef, packet: StoredPacket): Promise<void> {
    packet.brokerId = this.broker?.id;
    packet.clientId = client.id;
    const op: Op = ['will', client.id, plain(packet)];
    this.apply(op);
    this.wills.set(client.id, packet);
    await this.write(op);
  }

  async getWill(client: ClientRef): Promise<StoredPacket | undefined> {
    return this.wills.get(client.id);
  }

  async delWill(client: ClientRef): Promise<StoredPacket | undefined> {
    const will = this.wills.get(client.id);
    if (!will) return undefined;
    const op: Op = ['delwill', client.id];
    this.apply(op);
    await this.write(op);
    return will;
  }

  streamWill(brokers: Record<string, unknown> = {}): Readable {
    return Readable.from([...this.wills.values()].filter((w) => !w.brokerId || !brokers[w.brokerId]));
  }

  // ---- session expiry (kept here so a restart does not make offline sessions immortal) ----

  async setSessionExpiry(clientId: string, expiresAt: number | null): Promise<void> {
    if (expiresAt === null && !this.expiries.has(clientId)) return;
    const op: Op = ['exp', clientId, expiresAt];
    this.apply(op);
    await this.write(op);
  }

  /** Offline sessions with an expiry, as [clientId, epoch ms]. */
  sessionExpiries(): Array<[string, number]> {
    return [...this.expiries];
  }

  /** Everything of a session: subscriptions, queue, incoming QoS 2 state, will, expiry. */
  async dropSession(clientId: string): Promise<void> {
    const op: Op = ['drop', clientId];
    this.apply(op);
    await this.write(op);
  }

  stats(): PersistenceStats {
    let queued = 0;
    for (const q of this.outgoing.values()) queued += q.length;
    return { sessions: new Set([...this.subscriptions.keys(), ...this.shared.keys()]).size, queued, retained: this.retained.size, dropped: this.dropped, bytes: this.log?.size() ?? 0 };
  }

  async destroy(): Promise<void> {
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.log?.close();
    this.log = undefined;
  }

  // ---- state changes, the same for live operations and replay ----

  private write(op: Op): Promise<void> {
    return this.log ? this.log.append(op) : Promise.resolve();
  }

  /** `live`: the object as given, kept as it is in memory (replay builds one from the record). */
  private apply(op: Op, live?: StoredPacket): void {
    switch (op[0]) {
      case 'ret':
        if (op[2]) this.retained.set(op[1], live ?? { ...op[2], payload: payloadOf(op[2].payload) });
        else this.retained.delete(op[1]);
        break;
      case 'sub': {
        let stored = this.subscriptions.get(op[1]);
        if (!stored) this.subscriptions.set(op[1], (stored = new Map()));
        for (const s of op[2]) {
          const before = stored.get(s.topic);
          if (s.qos > 0) this.trie.add(s.topic, { clientId: op[1], topic: s.topic, qos: s.qos, rh: s.rh, rap: s.rap, nl: s.nl });
          else if (before && before.qos > 0) this.trie.remove(s.topic, { clientId: op[1], topic: s.topic });
          stored.set(s.topic, s);
        }
        break;
      }
      case 'unsub': {
        const stored = this.subscriptions.get(op[1]);
        if (!stored) break;
        for (const topic of op[2]) {
          const s = stored.get(topic);
          if (!s) continue;
          if (s.qos > 0) this.trie.remove(topic, { clientId: op[1], topic });
          stored.delete(topic);
        }
        if (stored.size === 0) this.subscriptions.delete(op[1]);
        break;
      }
      case 'clean': {
        this.shared.delete(op[1]);
        const stored = this.subscriptions.get(op[1]);
        if (!stored) break;
        for (const [topic, s] of stored) if (s.qos > 0) this.trie.remove(topic, { clientId: op[1], topic });
        this.subscriptions.delete(op[1]);
        break;
      }
      case 'enq':
        for (const id of op[1]) {
          let q = this.outgoing.get(id);
          if (!q) this.outgoing.set(id, (q = []));
          q.push(revive(op[2]));
        }
        break;
      case 'upd': {
        const q = this.outgoing.get(op[1]);
        const found = q?.find((p) => p.brokerId === op[2] && p.brokerCounter === op[3]);
        if (found) found.messageId = op[4];
        break;
      }
      case 'rel': {
        const q = this.outgoing.get(op[1]);
        const i = q ? q.findIndex((p) => p.messageId === op[2]) : -1;
        if (q && i >= 0) q[i] = live ?? ({ cmd: 'pubrel', messageId: op[2] } as StoredPacket);
        break;
      }
      case 'relq': {
        let q = this.outgoing.get(op[1]);
        if (!q) this.outgoing.set(op[1], (q = []));
        q.push({ cmd: 'pubrel', messageId: op[2] } as StoredPacket);
        break;
      }
      case 'clr': {
        const q = this.outgoing.get(op[1]);
        const i = q ? q.findIndex((p) => p.messageId === op[2]) : -1;
        if (q && i >= 0) {
          q.splice(i, 1);
          if (q.length === 0) this.outgoing.delete(op[1]);
        }
        break;
      }
      case 'in': {
        let m = this.incoming.get(op[1]);
        if (!m) this.incoming.set(op[1], (m = new Map()));
        m.set(op[2].messageId!, revive(op[2], true));
        break;
      }
      case 'indel': {
        const m = this.incoming.get(op[1]);
        m?.delete(op[2]);
        if (m && m.size === 0) this.incoming.delete(op[1]);
        break;
      }
      case 'will':
        this.wills.set(op[1], revive(op[2]));
        break;
      case 'delwill':
        this.wills.delete(op[1]);
        break;
      case 'exp':
        if (op[2] === null) this.expiries.delete(op[1]);
        else this.expiries.set(op[1], op[2]);
        break;
      case 'ssub': {
        let m = this.shared.get(op[1]);
        if (!m) this.shared.set(op[1], (m = new Map()));
        m.set(op[2].topic, op[2]);
        break;
      }
      case 'sunsub': {
        const m = this.shared.get(op[1]);
        m?.delete(op[2]);
        if (m && m.size === 0) this.shared.delete(op[1]);
        break;
      }
      case 'drop':
        this.apply(['clean', op[1]]);
        this.outgoing.delete(op[1]);
        this.incoming.delete(op[1]);
        this.wills.delete(op[1]);
        this.expiries.delete(op[1]);
        break;
    }
  }

  /** Ops that rebuild the current state, for compaction. */
  private *snapshot(): Iterable<Op> {
    for (const [topic, p] of this.retained) yield ['ret', topic, plain(p)];
    for (const [id, subs] of this.subscriptions) yield ['sub', id, [...subs.values()]];
    for (const [id, q] of this.outgoing) {
      for (const p of q) {
        if (p.cmd === 'pubrel') {
          yield ['relq', id, p.messageId!];
          continue;
        }
        yield ['enq', [id], plain(p)];
        if (p.messageId !== undefined) yield ['upd', id, p.brokerId, p.brokerCounter, p.messageId];
      }
    }
    for (const [id, m] of this.incoming) for (const p of m.values()) yield ['in', id, plain(p, true)];
    for (const [id, w] of this.wills) yield ['will', id, plain(w)];
    for (const [id, at] of this.expiries) yield ['exp', id, at];
    for (const [id, m] of this.shared) for (const sub of m.values()) yield ['ssub', id, sub];
  }
}
