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
import { StateLog } from './statelog';
import type { AedesPacket, AedesSubscription } from './aedes-types';
import { plain, QLOBBER, type BrokerRef, type ClientRef, type Op } from './persistence-records';
import { PersistedState } from './persistence-state';

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

/** Shared by every publish that matches no kept subscription: aedes only reads it. */
const NO_SUBSCRIPTIONS: Promise<Array<{ clientId: string; topic: string; qos: number }>> = Promise.resolve(Object.freeze([]) as unknown as Array<{ clientId: string; topic: string; qos: number }>);

export class BrokerPersistence extends PersistedState {
  private broker: BrokerRef | undefined;
  private log: StateLog<Op> | undefined;
  private dropped = 0;
  private compactTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PersistenceOptions = {}) {
    super();
  }

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

  async storeRetained(pkt: AedesPacket): Promise<void> {
    const copy = { ...pkt };
    const op: Op = ['ret', copy.topic, copy.payload.length === 0 ? null : plain(copy)];
    this.apply(op, copy);
    await this.write(op);
  }

  createRetainedStreamCombi(patterns: string[]): Readable {
    const matchers = patterns.map((p) => new QlobberTrue(QLOBBER).add(p));
    const out: AedesPacket[] = [];
    for (const m of matchers) for (const [topic, packet] of this.retained) if (m.test(topic)) out.push(packet);
    return Readable.from(out);
  }

  createRetainedStream(pattern: string): Readable {
    return this.createRetainedStreamCombi([pattern]);
  }

  // ---- subscriptions ----

  async addSubscriptions(client: ClientRef, subs: AedesSubscription[]): Promise<void> {
    const clean = subs.map((s) => {
      const r: AedesSubscription = { topic: s.topic, qos: s.qos, rh: s.rh, rap: s.rap, nl: s.nl };
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

  async subscriptionsByClient(client: ClientRef): Promise<AedesSubscription[]> {
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

  async addSharedSubscription(clientId: string, sub: AedesSubscription): Promise<void> {
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

  sharedSubscriptions(clientId: string): AedesSubscription[] {
    return [...(this.shared.get(clientId)?.values() ?? [])];
  }

  // ---- outgoing (queued and in flight towards a session) ----

  async outgoingEnqueue(sub: { clientId: string }, packet: AedesPacket): Promise<void> {
    return this.outgoingEnqueueCombi([sub], packet);
  }

  async outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: AedesPacket): Promise<void> {
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

  async outgoingUpdate(client: ClientRef, packet: AedesPacket): Promise<void> {
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

  async outgoingClearMessageId(client: ClientRef, packet: { messageId?: number }): Promise<AedesPacket | undefined> {
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

  async incomingStorePacket(client: ClientRef, packet: AedesPacket): Promise<void> {
    const op: Op = ['in', client.id, plain(packet, true)];
    this.apply(op);
    await this.write(op);
  }

  async incomingGetPacket(client: ClientRef, packet: { messageId: number }): Promise<AedesPacket> {
    const p = this.incoming.get(client.id)?.get(packet.messageId);
    if (!p) throw new Error('no such packet');
    return p;
  }

  /** Whether a QoS 2 message with this id from this client awaits its PUBREL (aedes' check, asked before delivery). */
  hasIncoming(clientId: string, messageId: number): boolean {
    return this.incoming.get(clientId)?.has(messageId) === true;
  }

  /** QoS 2 messages of this client awaiting PUBREL, oldest first. */
  incomingIds(clientId: string): number[] {
    const m = this.incoming.get(clientId);
    return m ? [...m.keys()] : [];
  }

  async incomingDelPacket(client: ClientRef, packet: { messageId: number }): Promise<void> {
    if (!this.incoming.get(client.id)?.has(packet.messageId)) throw new Error('no such packet');
    const op: Op = ['indel', client.id, packet.messageId];
    this.apply(op);
    await this.write(op);
  }

  // ---- wills ----

  async putWill(client: ClientRef, packet: AedesPacket): Promise<void> {
    packet.brokerId = this.broker?.id;
    packet.clientId = client.id;
    const op: Op = ['will', client.id, plain(packet)];
    this.apply(op);
    this.wills.set(client.id, packet);
    await this.write(op);
  }

  async getWill(client: ClientRef): Promise<AedesPacket | undefined> {
    return this.wills.get(client.id);
  }

  async delWill(client: ClientRef): Promise<AedesPacket | undefined> {
    const will = this.wills.get(client.id);
    if (!will) return undefined;
    const op: Op = ['delwill', client.id];
    this.apply(op);
    await this.write(op);
    return will;
  }

  /** While set, aedes' will timer is not given the wills restored from an earlier run (holdRestoredWills). */
  private held: { onHeld?: (count: number) => void; told: boolean } | undefined;

  /**
   * Keeps the wills restored from an earlier run from aedes' will timer, which publishes them without a client to
   * check them against, until the returned function is called (the access rules have judged them). `onHeld` hears,
   * once, how many the timer found and left.
   */
  holdRestoredWills(onHeld?: (count: number) => void): () => void {
    const held = { onHeld, told: false };
    this.held = held;
    return () => {
      if (this.held === held) this.held = undefined;
    };
  }

  /** With `brokers` (aedes' timer: the brokers alive), the wills of the others; without, every will (to judge them). */
  streamWill(brokers?: Record<string, unknown>): Readable {
    if (!brokers) return Readable.from([...this.wills.values()]);
    const due = [...this.wills.values()].filter((w) => !w.brokerId || !brokers[w.brokerId]);
    const held = this.held;
    if (!held) return Readable.from(due);
    const mine = this.broker?.id;
    const left = due.filter((w) => w.brokerId === mine);
    if (left.length < due.length && !held.told) {
      held.told = true;
      held.onHeld?.(due.length - left.length);
    }
    return Readable.from(left);
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

  // ---- sessions (aedes only knows of those with subscriptions) ----

  /** Whether the broker holds a session for this client id: marked as one, or holding any state. */
  hasSession(clientId: string): boolean {
    return this.sessions.has(clientId) || this.subscriptions.has(clientId) || this.shared.has(clientId) || this.incoming.has(clientId) || this.outgoing.has(clientId);
  }

  /** A connection whose session outlives it; kept until the session ends. */
  async markSession(clientId: string): Promise<void> {
    if (this.sessions.has(clientId)) return;
    const op: Op = ['ses', clientId];
    this.apply(op);
    await this.write(op);
  }

  /** A session ended: its mark and its QoS 2 messages awaiting PUBREL go (aedes clears the rest itself). */
  async endSession(clientId: string): Promise<void> {
    if (!this.sessions.has(clientId) && !this.incoming.has(clientId)) return;
    const op: Op = ['endses', clientId];
    this.apply(op);
    await this.write(op);
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
    return { sessions: new Set([...this.sessions, ...this.subscriptions.keys(), ...this.shared.keys()]).size, queued, retained: this.retained.size, dropped: this.dropped, bytes: this.log?.size() ?? 0 };
  }

  async destroy(): Promise<void> {
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.log?.close();
    this.log = undefined;
  }

  // ---- the state log (apply() in persistence-state.ts changes the state, live and on replay) ----

  private write(op: Op): Promise<void> {
    return this.log ? this.log.append(op) : Promise.resolve();
  }
}
