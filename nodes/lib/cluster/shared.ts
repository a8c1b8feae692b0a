/**
 * A keyed set of documents every member of a cluster group holds the same
 * (docs/scaling.md, "Rules and devices on every member"): alert rules, device
 * records. Each document is one retained QoS 1 message on the cluster broker,
 * `upperstack/cluster/<group>/shared/<kind>/<key>`, the broker every member
 * has already (as for the checkpoints), so sharing needs no other server.
 *
 * - A change made on a member gets a version (epoch ms, member name), later than
 *   any this member has seen for the key, and replaces the retained message.
 *   A delete is a tombstone (document null) that stays retained, so a member
 *   that was away learns of it.
 * - The highest version wins everywhere (epoch ms first, then the member name):
 *   every member decides the same whatever order messages arrive in. A member
 *   that sees the broker keep an older version than the one it holds
 *   publishes its own again (two writers at once, a broker that lost its
 *   retained messages).
 * - A member (re)connecting reads every retained document (subscription,
 *   then a probe to itself that marks the end of what was retained) before
 *   `start()` resolves; when the broker is away it keeps what it had. A broker
 *   that is down or refuses the login at the start is waited for (retried).
 * - At `attach`, what the member has locally and the cluster does not know is
 *   published; what the cluster has wins over the rest.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';
import { bounded, endClient, within, END_WAIT_MS } from '../mqtt/end';
import { connectRetrying } from '../mqtt/refused';
import { memberConnection } from './connection';
import { ClusterMemberStoppedError } from '../errors';

/** A key's version: later `at` wins, then the larger member name. */
export interface DocVersion {
  at: number;
  member: string;
}

/** The retained message of one document. */
export interface SharedDocMessage<T> {
  v: 1;
  key: string;
  at: number;
  member: string;
  /** null: deleted (a tombstone). */
  doc: T | null;
}

/** The member's own copy of the documents (its rule store, its device registry). */
export interface SharedSide<T> {
  /** Every document the member has now. */
  local(): Promise<Map<string, T>> | Map<string, T>;
  /** Makes the member's copy of `key` what the cluster decided (undefined: deleted). */
  apply(key: string, doc: T | undefined): Promise<void> | void;
}

export interface SharedDocsOptions<T> {
  broker: string;
  /** Login and TLS (everything but the client id). */
  connect?: IClientOptions;
  group: string;
  member: string;
  /** Names the set: topic level and client id part (letters, digits, -). */
  kind: string;
  /** A document as received, checked; throws when it is not one. */
  check: (key: string, doc: unknown) => T;
  /** Largest message published or taken, bytes. */
  maxBytes?: number;
  now?: () => number;
}

interface Entry<T> {
  version: DocVersion;
  doc: T | null;
  hash: string;
}

/** 1 MiB: far above a rule or a device record; mosquitto's own limit is 256 MB unless message_size_limit says less. */
export const SHARED_MAX_BYTES = 1024 * 1024;
const PROBE_MS = 10_000;

export function newer(a: DocVersion, b: DocVersion): boolean {
  return a.at !== b.at ? a.at > b.at : a.member > b.member;
}

/** JSON with object keys sorted, so equal documents hash equal whatever order their keys were written in. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) return x;
    const o = x as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) out[k] = o[k];
    return out;
  });
}

export function docHash(doc: unknown): string {
  return createHash('sha256').update(canonical(doc ?? null)).digest('base64url');
}

/** Emits `error` (Error), `applied` (key, deleted: boolean), `synced` (after each (re)connection's read). */
export class SharedDocs<T> extends EventEmitter {
  private client?: MqttClient;
  private readonly known = new Map<string, Entry<T>>();
  private side?: SharedSide<T>;
  /** Applying to the side one at a time, in the order decided. */
  private chain: Promise<void> = Promise.resolve();
  private readonly base: string;
  private readonly probeTopic: string;
  private round?: { id: string; seen: Map<string, DocVersion>; done: () => void };
  private rounds = 0;
  private stopped = false;
  private readonly maxBytes: number;
  private readonly now: () => number;
  /** Resolves once the broker's set has been read for the first time. */
  readonly ready: Promise<void>;
  private markReady!: () => void;

  constructor(private readonly o: SharedDocsOptions<T>) {
    super();
    this.base = `upperstack/cluster/${o.group}/shared/${o.kind}`;
    this.probeTopic = `upperstack/cluster/${o.group}/probe-shared/${o.kind}/${o.member}`;
    this.maxBytes = o.maxBytes ?? SHARED_MAX_BYTES;
    this.now = o.now ?? Date.now;
    this.ready = new Promise<void>((resolve) => (this.markReady = resolve));
  }

  topicOf(key: string): string {
    return `${this.base}/${encodeURIComponent(key)}`;
  }

  /** Connects; resolves once the retained set has been read (a broker that is away is waited for). */
  async start(): Promise<void> {
    const c = connectRetrying(this.o.broker, {
      ...this.o.connect,
      clientId: `upperstack-${this.o.group}-${this.o.member}-${this.o.kind}`.slice(0, 128),
      protocolVersion: 5,
      clean: true,
      resubscribe: false,
      reconnectPeriod: 1000,
    });
    this.client = c;
    c.on('error', (err) => this.emit('error', err));
    c.on('message', (topic, payload) => this.onMessage(topic, payload));
    // A read that timed out (a slow broker) is tried again while the connection lasts; a new connection reads anyway.
    const read = (): void => {
      this.sync(c).catch((err: unknown) => {
        this.emit('error', err as Error);
        if (c.connected && !this.stopped) setTimeout(read, 2000).unref?.();
      });
    };
    c.on('connect', read);
    // A broker that is down or refuses the login (its admin may fix it) is waited for: the client retries and its
    // errors are told meanwhile. Only a refused MQTT version, which no retry changes, or a stop ends the wait.
    await new Promise<void>((resolve, reject) => {
      void this.ready.then(resolve);
      memberConnection(c).catch(reject);
      // Connected, then ended before the set was read: the start ends too.
      c.once('end', () => reject(new ClusterMemberStoppedError()));
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.side = undefined;
    // What is being applied may wait on the broker: a close waits for it a bounded time, not for ever.
    await within(this.chain, END_WAIT_MS);
    if (this.client) await endClient(this.client);
    this.client = undefined;
  }

  /** The documents the cluster decided (deleted ones left out). */
  docs(): Map<string, T> {
    const out = new Map<string, T>();
    for (const [k, e] of this.known) if (e.doc !== null) out.set(k, e.doc);
    return out;
  }

  version(key: string): DocVersion | undefined {
    return this.known.get(key)?.version;
  }

  /**
   * Joins the member's own copy: what only it has is published, the cluster's
   * version of everything else is applied to it. Changes decided afterwards are
   * applied as they come.
   */
  attach(side: SharedSide<T>): Promise<void> {
    this.side = side;
    return this.serial(async () => {
      const local = await side.local();
      for (const [key, doc] of local) {
        const e = this.known.get(key);
        if (!e) this.put(key, doc);
        else if (e.hash !== docHash(doc)) await side.apply(key, e.doc ?? undefined);
      }
      for (const [key, e] of this.known) if (e.doc !== null && !local.has(key)) await side.apply(key, e.doc);
    });
  }

  detach(side: SharedSide<T>): void {
    if (this.side === side) this.side = undefined;
  }

  /**
   * A change made on this member (undefined: deleted). A document equal to the
   * one the cluster has (a change that came from the cluster, told back) is not
   * published again.
   */
  put(key: string, doc: T | undefined): void {
    const hash = docHash(doc ?? null);
    const e = this.known.get(key);
    if (e && e.hash === hash) return;
    if (!e && doc === undefined) return;
    const version: DocVersion = { at: Math.max(this.now(), (e?.version.at ?? 0) + 1), member: this.o.member };
    const entry: Entry<T> = { version, doc: doc ?? null, hash };
    this.known.set(key, entry);
    this.publish(key, entry);
  }

  private publish(key: string, e: Entry<T>): void {
    const msg: SharedDocMessage<T> = { v: 1, key, at: e.version.at, member: e.version.member, doc: e.doc };
    const payload = Buffer.from(JSON.stringify(msg), 'utf8');
    if (payload.length > this.maxBytes) {
      this.emit('error', new Error(`shared ${this.o.kind} "${key.slice(0, 80)}" is ${payload.length} bytes, more than the ${this.maxBytes} a shared document may be: it stays on this member only`));
      return;
    }
    // Queued by the client while the broker is away, and sent when it is back (the read after the reconnection also finds it missing).
    this.client?.publish(this.topicOf(key), payload, { qos: 1, retain: true }, (err) => {
      if (err) this.emit('error', err);
    });
  }

  private serial(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(work);
    this.chain = next.catch((err: unknown) => {
      this.emit('error', err as Error);
    });
    return next;
  }

  /** Reads what the broker retains, then publishes again what it lacks or holds in an older version. */
  private async sync(c: MqttClient): Promise<void> {
    const id = `${this.o.member}-${++this.rounds}`;
    let done!: () => void;
    const arrived = new Promise<void>((resolve) => (done = resolve));
    const round = { id, seen: new Map<string, DocVersion>(), done };
    this.round = round;
    try {
      await bounded(c.subscribeAsync([this.probeTopic, `${this.base}/+`], { qos: 1 }), PROBE_MS, 'subscribe to shared records');
      await bounded(c.publishAsync(this.probeTopic, id, { qos: 1 }), PROBE_MS, 'probe');
      await bounded(arrived, PROBE_MS, "probe's return");
    } finally {
      if (this.round === round) this.round = undefined;
    }
    // What the broker lacks or holds older: a broker that lost its retained messages, two writers at once, changes made while it was away.
    for (const [key, e] of this.known) {
      const seen = round.seen.get(key);
      if (!seen || newer(e.version, seen)) this.publish(key, e);
    }
    // Applied (to a side attached already) before the set counts as read.
    await this.serial(async () => undefined);
    this.markReady();
    this.emit('synced');
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.probeTopic) {
      if (this.round && payload.toString('utf8') === this.round.id) this.round.done();
      return;
    }
    if (!topic.startsWith(`${this.base}/`) || payload.length === 0) return;
    if (payload.length > this.maxBytes) {
      this.emit('error', new Error(`a shared ${this.o.kind} message of ${payload.length} bytes on ${topic.slice(0, 200)} is larger than ${this.maxBytes}: ignored`));
      return;
    }
    let msg: SharedDocMessage<unknown>;
    let doc: T | null;
    try {
      msg = JSON.parse(payload.toString('utf8')) as SharedDocMessage<unknown>;
      if (!msg || msg.v !== 1 || typeof msg.key !== 'string' || this.topicOf(msg.key) !== topic || !Number.isFinite(msg.at) || typeof msg.member !== 'string') throw new Error('not a shared document message');
      doc = msg.doc === null ? null : this.o.check(msg.key, msg.doc);
    } catch (err) {
      this.emit('error', new Error(`a shared ${this.o.kind} message on ${topic.slice(0, 200)} was ignored: ${(err as Error).message}`));
      return;
    }
    const version: DocVersion = { at: msg.at, member: msg.member };
    this.round?.seen.set(msg.key, version);
    const e = this.known.get(msg.key);
    if (e && !newer(version, e.version)) {
      // The broker keeps an older version than ours: ours again (the round's end does it while reading).
      if (!this.round && newer(e.version, version) && e.version.member === this.o.member) this.publish(msg.key, e);
      return;
    }
    const key = msg.key;
    const entry: Entry<T> = { version, doc, hash: docHash(doc) };
    this.known.set(key, entry);
    if (this.stopped) return;
    void this.serial(async () => {
      // A later message for the key may have been decided meanwhile: that one is applied in its turn.
      if (this.known.get(key) !== entry || !this.side) return;
      await this.side.apply(key, doc ?? undefined);
      this.emit('applied', key, doc === null);
    });
  }
}
