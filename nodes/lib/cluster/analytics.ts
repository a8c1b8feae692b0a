/**
 * The analytics side of a cluster member (docs/scaling.md): readings are
 * republished by partition; the partitions this member owns come back to it
 * and go to its anomaly and alert nodes, whose per-device state moves with
 * the partition.
 *
 * - Each partition's readings topic is read through an MQTT session of the
 *   partition's own (client id `upperstack-<group>-p<p>`, persistent, QoS 1):
 *   whoever owns the partition connects with it. While the partition is
 *   between owners the broker keeps what is published for it in that session,
 *   and the next owner gets it; a second connection with the same id ends the
 *   first (the broker's session takeover), so two members never read one
 *   partition at once.
 * - A partition's state (each registered holder's devices of the partition)
 *   is checkpointed as retained messages `upperstack/cluster/<group>/state/<p>/<holder>`
 *   on the same broker: every `checkpointMs` while readings come in, the
 *   holder's own whenever it is about to announce a change (the gate), and
 *   all when the partition is handed over (before its claim is cleared). The next owner imports it before
 *   it connects the partition's session, so no reading of the partition is
 *   judged by a member without the partition's state.
 */
import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { Reading } from '../reading';
import { END_WAIT_MS, bounded, endClient, within } from '../mqtt/end';
import { connectRetrying } from '../mqtt/refused';
import { memberConnection } from './connection';
import { ClusterMemberStoppedError } from '../errors';
import { Ownership, partitionOf } from './partitions';
import { checkpointTopic, decodeCheckpoint, encodeCheckpoint, type Checkpoint, type DeviceStateRegistry } from './state';

/** A week, as for the ingest sessions: long enough for any hand-over. */
const SESSION_EXPIRY_S = 7 * 24 * 3600;
/** Time for readings already passed on to reach the analytics nodes before a partition's state is exported. */
const DRAIN_MS = 200;
/** Longest wait for the probe that ends reading a partition's retained checkpoints. */
const PROBE_MS = 10_000;

export interface PartitionAnalyticsOptions {
  broker: string;
  group: string;
  member: string;
  partitions: number;
  leaseMs: number;
  /** Readings of partition p travel on `<prefix>/<p>/readings`. */
  prefix: string;
  /** Checkpoint cadence while a partition's readings come in. */
  checkpointMs: number;
  /** Login and TLS for the broker (everything but the client id and session). */
  connect?: IClientOptions;
  registry: DeviceStateRegistry;
  /** A partition's readings, to the analytics. */
  deliver: (partition: number, readings: Reading[], topic: string) => void;
}

/** Emits `change` (ownership moved), `error` (Error), `checkpoint` (partition, holder, bytes), `restored` (partition, holders found). */
export class PartitionAnalytics extends EventEmitter {
  readonly own: Ownership;
  private data?: MqttClient;
  private readonly feeds = new Map<number, MqttClient>();
  /** Per partition: the work on it (take over, checkpoint, hand over), one at a time. */
  private readonly chain = new Map<number, Promise<void>>();
  private readonly queued = new Map<string, Promise<void>>();
  private readonly lastReading = new Map<number, number>();
  private readonly lastCheckpoint = new Map<number, number>();
  /** Partitions whose session is connected and subscribed. */
  private readonly reading = new Set<number>();
  /** Per fed partition: marks its feed as being ended. */
  private readonly ending = new Map<number, () => void>();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /**
   * When stop() stops waiting on the broker: one bound for the whole close, not one per step, so
   * a broker that stopped answering holds a redeploy for END_WAIT_MS, not for each feed and checkpoint.
   */
  private stopBy = Infinity;
  private closingData = false;
  forwarded = 0;
  private readonly base: string;
  private probes = 0;
  private readonly reads = new Map<string, { partition: number; got: Map<string, Buffer>; done: () => void }>();

  constructor(private readonly o: PartitionAnalyticsOptions) {
    super();
    this.base = `upperstack/cluster/${o.group}`;
    this.own = new Ownership({
      broker: o.broker,
      group: o.group,
      member: o.member,
      partitions: o.partitions,
      leaseMs: o.leaseMs,
      connect: o.connect,
      handOver: (p) => this.handOver(p),
    });
    this.own.on('error', (err: Error) => this.emit('error', err));
    this.own.on('acquired', (p: number) => {
      this.takeOverSoon(p, 0);
      this.emit('change');
    });
    this.own.on('released', (p: number) => {
      // Lost rather than handed over (cut off, lease ended, taken): no checkpoint, the state stays with the last one.
      void this.serial(p, () => this.letGo(p, false)).catch((err: unknown) => this.emit('error', err as Error));
      this.emit('change');
    });
  }

  private topicOf(p: number): string {
    return `${this.o.prefix}/${p}/readings`;
  }

  /** `<base>/state/<p>/+`: every holder's checkpoint of p. */
  private stateFilter(p: number): string {
    return `${this.base}/state/${p}/+`;
  }

  async start(): Promise<void> {
    if (this.stopped) throw new ClusterMemberStoppedError();
    const probeTopic = `${this.base}/probe/${this.o.member}`;
    const c = connectRetrying(this.o.broker, {
      ...this.o.connect,
      clientId: `upperstack-${this.o.group}-${this.o.member}-part`,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 1000,
      customHandleAcks: (_topic, _message, _packet, done) => {
        if (!this.closingData) done(0);
      },
    });
    this.data = c;
    c.on('error', (err) => this.emit('error', err));
    c.on('message', (topic, payload) => {
      if (topic === probeTopic) {
        const r = this.reads.get(payload.toString('utf8'));
        r?.done();
        return;
      }
      for (const r of this.reads.values()) if (topic.startsWith(`${this.base}/state/${r.partition}/`)) r.got.set(topic, payload);
    });
    // A broker that is down or refuses the login (its admin may fix it) is waited for; a stop ends the wait.
    await memberConnection(c);
    await bounded(c.subscribeAsync(probeTopic, { qos: 1 }), PROBE_MS, 'subscribe to probes');
    // A clean session: the probe's subscription is made again at every reconnection.
    c.on('connect', () => c.subscribe(probeTopic, { qos: 1 }));
    // Checkpoints on the broker are the state of record: what this member kept locally (from before a
    // restart, say) may be older than what another member did with the devices since.
    for (const h of this.o.registry.holders.values()) await h.forgetDevices(() => true);
    // Stopped while the broker was waited for: nothing of this member is left hooked into the registry.
    if (this.stopped) throw new ClusterMemberStoppedError();
    this.o.registry.gate = this.gateFn;
    this.o.registry.owns = this.ownsFn;
    await this.own.start();
    if (this.stopped) throw new ClusterMemberStoppedError();
    this.timer = setInterval(() => this.periodic(), Math.max(200, this.o.checkpointMs));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopBy = Date.now() + END_WAIT_MS;
    if (this.timer) clearInterval(this.timer);
    if (this.o.registry.gate === this.gateFn) this.o.registry.gate = undefined;
    if (this.o.registry.owns === this.ownsFn) this.o.registry.owns = undefined;
    await this.own.stop();
    // A take-over still reading checkpoints waits on the broker; it gives up by itself once it sees the stop.
    await within(Promise.all([...this.chain.values()]), this.closeWait());
    for (const [p, f] of this.feeds) {
      this.ending.get(p)?.();
      await endClient(f, this.closeWait());
    }
    this.feeds.clear();
    this.ending.clear();
    this.reading.clear();
    this.closingData = true;
    if (this.data) await endClient(this.data, this.closeWait());
  }

  /** False while the readings client is cut off from the broker (after start()): takes-over and publishes fail meanwhile. */
  brokerConnected(): boolean {
    return this.data?.connected ?? false;
  }

  /** How long a step may still wait for the broker: END_WAIT_MS, less what stop() has waited already. */
  private closeWait(): number {
    return this.stopped ? Math.max(0, this.stopBy - Date.now()) : END_WAIT_MS;
  }

  /** Republishes readings to their partitions' topics (QoS 1). */
  async publish(readings: readonly Reading[]): Promise<void> {
    const groups = new Map<number, Reading[]>();
    for (const r of readings) {
      const p = partitionOf(r.device, this.o.partitions);
      const g = groups.get(p);
      if (g) g.push(r);
      else groups.set(p, [r]);
    }
    const c = this.data;
    if (!c) throw new Error('not connected to the cluster broker');
    // Bounded: the input's done(err) reports a broker that is away instead of holding the message for ever.
    await bounded(Promise.all([...groups].map(([p, rs]) => c.publishAsync(this.topicOf(p), JSON.stringify(rs), { qos: 1 }))), PROBE_MS, 'publish readings');
  }

  /** Partitions whose readings this member reads now (session connected and subscribed). */
  fed(): number[] {
    return [...this.reading].sort((a, b) => a - b);
  }

  private serial(p: number, work: () => Promise<void>): Promise<void> {
    const next = (this.chain.get(p) ?? Promise.resolve()).then(work);
    this.chain.set(p, next.catch(() => undefined));
    return next;
  }

  /** A checkpoint of p (of one holder, or all) after the work queued on it; joins one queued and not started yet. */
  checkpoint(p: number, holder?: string): Promise<void> {
    const key = `${p}\u0000${holder ?? ''}`;
    const q = this.queued.get(key);
    if (q) return q;
    const next = this.serial(p, async () => {
      this.queued.delete(key);
      await this.writeCheckpoint(p, holder);
    });
    this.queued.set(key, next);
    return next;
  }

  private readonly gateFn = (holder: string, devices: readonly string[]): Promise<void> => {
    const ps = new Set(devices.map((d) => partitionOf(d, this.o.partitions)));
    return Promise.all([...ps].filter((p) => this.feeds.has(p)).map((p) => this.checkpoint(p, holder))).then(() => undefined);
  };

  /** A partition is judged here from its take-over (checkpoint imported) until it is let go. */
  private readonly ownsFn = (device: string): boolean => this.feeds.has(partitionOf(device, this.o.partitions));

  private periodic(): void {
    for (const p of this.feeds.keys()) {
      // Readings handed on just before a checkpoint may reach the analytics after it: one more round then.
      if ((this.lastReading.get(p) ?? -Infinity) >= (this.lastCheckpoint.get(p) ?? -Infinity) - this.o.checkpointMs) {
        this.checkpoint(p).catch((err: unknown) => this.emit('error', err as Error));
      }
    }
  }

  private async writeCheckpoint(p: number, only?: string): Promise<void> {
    // Only the owner writes: one that lost the partition would overwrite its successor's state.
    if (!this.feeds.has(p) || !this.own.owns(p) || !this.data) return;
    if (only === undefined) this.lastCheckpoint.set(p, Date.now());
    const keep = (d: string) => partitionOf(d, this.o.partitions) === p;
    for (const [key, h] of this.o.registry.holders) {
      if (only !== undefined && key !== only) continue;
      const cp: Checkpoint = { version: 2, partition: p, holder: key, member: this.o.member, at: Date.now(), state: await h.exportDevices(keep) };
      const payload = encodeCheckpoint(cp);
      await this.data.publishAsync(checkpointTopic(this.o.group, p, key), payload, { qos: 1, retain: true });
      this.emit('checkpoint', p, key, payload.length);
    }
  }

  /** The retained checkpoints of p by holder: subscribe, then a probe to ourselves marks the end of what the broker had retained. */
  private async readCheckpoints(p: number): Promise<Map<string, Checkpoint>> {
    const c = this.data!;
    const id = `${this.o.member}-${++this.probes}`;
    let done!: () => void;
    const arrived = new Promise<void>((resolve) => (done = resolve));
    const read = { partition: p, got: new Map<string, Buffer>(), done };
    this.reads.set(id, read);
    try {
      // The broker may go away at any step: the take-over fails and is tried again rather than waiting for ever
      // (and a close does not wait behind it).
      await bounded(c.subscribeAsync(this.stateFilter(p), { qos: 1 }), PROBE_MS, `partition ${p}: subscribe to checkpoints`);
      await bounded(c.publishAsync(`${this.base}/probe/${this.o.member}`, id, { qos: 1 }), PROBE_MS, `partition ${p}: probe`);
      await bounded(arrived, PROBE_MS, `partition ${p}: probe's return`);
      await bounded(c.unsubscribeAsync(this.stateFilter(p)), PROBE_MS, `partition ${p}: unsubscribe from checkpoints`);
    } finally {
      this.reads.delete(id);
    }
    const out = new Map<string, Checkpoint>();
    for (const payload of read.got.values()) {
      const cp = decodeCheckpoint(payload);
      if (cp && cp.partition === p) out.set(cp.holder, cp);
    }
    return out;
  }

  private async takeOver(p: number): Promise<void> {
    if (!this.own.owns(p) || this.feeds.has(p) || this.stopped) return;
    const cps = await this.readCheckpoints(p);
    const mine = (d: string) => partitionOf(d, this.o.partitions) === p;
    for (const [key, h] of this.o.registry.holders) {
      const cp = cps.get(key);
      if (cp) await h.importDevices(cp.state);
      else await h.forgetDevices(mine);
    }
    this.emit('restored', p, [...cps.keys()]);
    if (!this.own.owns(p) || this.stopped) return;
    // Once the feed is being ended, a message still arriving is neither passed on nor acknowledged: the
    // broker gives it to the next owner (and MQTT.js would write the acknowledgement to an ended stream).
    let ending = false;
    this.ending.set(p, () => (ending = true));
    const feed = connectRetrying(this.o.broker, {
      ...this.o.connect,
      customHandleAcks: (_topic, _message, _packet, done) => {
        if (!ending) done(0);
      },
      clientId: `upperstack-${this.o.group}-p${p}`,
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: SESSION_EXPIRY_S },
      reconnectPeriod: 1000,
    });
    this.feeds.set(p, feed);
    feed.on('error', (err) => this.emit('error', err));
    // Handlers before the connection: the session's queued messages come right after CONNACK.
    feed.on('message', (topic, payload) => {
      let readings: Reading[];
      try {
        readings = JSON.parse(payload.toString('utf8')) as Reading[];
      } catch {
        return;
      }
      if (!Array.isArray(readings)) return;
      this.forwarded += readings.length;
      this.lastReading.set(p, Date.now());
      this.o.deliver(p, readings, topic);
    });
    // Not ours any more (another member took the session over, or the lease ended): stop reconnecting.
    feed.on('close', () => {
      if (this.feeds.get(p) !== feed) return;
      this.reading.delete(p);
      if (!this.own.owns(p)) void this.serial(p, () => this.letGo(p, false));
    });
    // At every connection (the session keeps the subscription, but a first one has none); not awaited, so a
    // broker that is away holds up nothing else queued on p (its hand-over, say).
    feed.on('connect', () => {
      feed.subscribe(this.topicOf(p), { qos: 1 }, (err) => {
        if (err) this.emit('error', err);
        else if (this.feeds.get(p) === feed) {
          this.reading.add(p);
          this.emit('change');
        }
      });
    });
  }

  /** Takes p over; a failure (the broker gone while the checkpoint was read) is tried again while p is ours. */
  private takeOverSoon(p: number, delayMs: number): void {
    setTimeout(() => {
      if (this.stopped || !this.own.owns(p) || this.feeds.has(p)) return;
      this.serial(p, () => this.takeOver(p)).catch((err: unknown) => {
        this.emit('error', err as Error);
        this.takeOverSoon(p, 2000);
      });
    }, delayMs).unref?.();
  }

  /** Handing p over to another member: stop reading, let what was read reach the analytics, checkpoint, forget. */
  private handOver(p: number): Promise<void> {
    return this.serial(p, () => this.letGo(p, true));
  }

  private async letGo(p: number, checkpoint: boolean): Promise<void> {
    const feed = this.feeds.get(p);
    if (!feed) return;
    // A DISCONNECT keeps the session: what comes for p from now on waits there for the next owner.
    this.ending.get(p)?.();
    this.ending.delete(p);
    this.reading.delete(p);
    // The feed acknowledges nothing more: what a forced end cuts off, the broker gives the next owner.
    await endClient(feed, this.closeWait());
    if (checkpoint) {
      await new Promise((r) => setTimeout(r, DRAIN_MS));
      // Still counted as ours: the claim is cleared after this.
      const written = this.writeCheckpoint(p).catch((err: unknown) => this.emit('error', err as Error));
      // Closing, the wait for the broker's PUBACK is bounded (the checkpoint stays queued until the data client
      // ends); otherwise the claim is not cleared before the next owner can read the checkpoint.
      if (!this.stopped) await written;
      else if (!(await within(written, this.closeWait()))) this.emit('error', new Error(`partition ${p}: the broker did not confirm the hand-over checkpoint before the close stopped waiting`));
    }
    this.feeds.delete(p);
    const mine = (d: string) => partitionOf(d, this.o.partitions) === p;
    for (const h of this.o.registry.holders.values()) await h.forgetDevices(mine);
    this.emit('change');
  }
}
