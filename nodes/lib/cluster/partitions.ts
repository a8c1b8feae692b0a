/**
 * Which cluster member owns which analytics partition, coordinated through the
 * broker the members already share (no protocol of our own between members):
 *
 * - A device belongs to partition `fnv1a(device) mod P` (P = 64 by default):
 *   stable across restarts, versions and members.
 * - Each member keeps a retained record `upperstack/cluster/<group>/members/<member>`
 *   with a lease (`until`, epoch ms), renewed every third of the lease; its will
 *   (sent by the broker when the connection dies without a DISCONNECT, kill -9
 *   included) clears the record, so the others see it gone at once.
 * - Every member computes the same target owner of each partition from the live
 *   members (rendezvous hashing: the member with the highest hash of
 *   (partition, member)), so a member joining or leaving moves about 1/N of them.
 * - A partition is claimed with a retained `upperstack/cluster/<group>/claims/<p>`
 *   record `{member, until}`. A member takes a partition only when it is the
 *   target and the claim is free: no claim, its own, expired, or held by a
 *   member whose record is gone. It renews its claims with its member record (a
 *   claim's `until` is the record's, so neither outlives the other) and gives
 *   up (clears the claim) a partition whose target is now another member.
 * - A member that cannot renew (cut off from the broker) stops counting a
 *   partition as its own when its lease runs out, before anyone else may take
 *   it: the others wait for the same lease. Clocks must agree to well within the
 *   lease (NTP).
 * - Members rebalance when membership changes, not only on their renewal timer:
 *   a member record that appears or is cleared (a join, a clean leave, a will),
 *   a claim cleared (a hand-over) and a lease running out each start a pass at
 *   once. A member whose record's lease ran out counts as gone only a renewal
 *   period (a third of the lease) later, so a renewal that comes late does not
 *   move its partitions away and back; they are unowned meanwhile, never owned
 *   twice (its own claims end with its lease).
 */
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { endClient, within } from '../mqtt/end';
import { connectRetrying } from '../mqtt/refused';
import { memberConnection } from './connection';
import { ClusterMemberStoppedError } from '../errors';

export { fnv1a, partitionOf, partitionTopic, targetOwner, leaseGraceMs, type OwnershipOptions } from './partition-map';
import { leaseGraceMs, targetOwner, type Lease, type OwnershipOptions } from './partition-map';

/** How long start() waits for its own record to come back before the first pass regardless. */
const ECHO_WAIT_MS = 10_000;

/** How long stop() waits for the broker to confirm each step (hand-overs, cleared record) before it just disconnects. */
const STOP_WAIT_MS = 5_000;

/** One member's view and claims; emits `acquired`/`released` (partition number) as partitions come and go, `error` (Error). */
export class Ownership extends EventEmitter {
  private client?: MqttClient;
  private readonly members = new Map<string, number>();
  private readonly claims = new Map<number, Lease>();
  /** Partitions this member counts as its own, with the lease it last renewed. */
  private readonly owned = new Map<number, number>();
  private timer?: NodeJS.Timeout;
  /** When the tick still waiting on the broker began: the next one is skipped rather than stacked behind it (for a lease at most). */
  private tickingSince?: number;
  private ending = false;
  private stopped = false;
  private readonly now: () => number;
  private readonly base: string;
  /** Set while start() waits for the broker's copy of this member's first record. */
  private echo?: () => void;
  private firstUntil?: number;
  /** Until the view is complete (the start's or a reconnection's own record back), membership changes start no pass: the join's pass comes after. */
  private joining = true;
  /** A reconnection's join under way. */
  private rejoin?: Promise<void>;
  /** Connections made so far: a join whose connection dropped meanwhile lost its subscription with it. */
  private connections = 0;
  /** Rebalance passes, one at a time; a pass asked for while one waits to start is that one. */
  private passes: Promise<void> = Promise.resolve();
  private nextPass?: { done: Promise<void>; renew: boolean };
  /** Wakes a pass when a lease runs out (another member's, past its grace; a claim that keeps this member from a partition it should own). */
  private expiry?: NodeJS.Timeout;
  private expiryAt = Infinity;
  /** The earliest claim (by another member, on a partition this one should own) to run out, as the last pass saw them. */
  private claimDeadline = Infinity;
  private readonly graceMs: number;

  constructor(private readonly o: OwnershipOptions) {
    super();
    this.now = o.now ?? Date.now;
    this.base = `upperstack/cluster/${o.group}`;
    this.graceMs = leaseGraceMs(o.leaseMs);
  }

  /** Partitions this member owns now. */
  ownedPartitions(): number[] {
    return [...this.owned.keys()].sort((a, b) => a - b);
  }

  owns(partition: number): boolean {
    const until = this.owned.get(partition);
    return until !== undefined && until > this.now();
  }

  /** Live members as this member sees them: a record whose lease ran out counts for its grace more. */
  liveMembers(): string[] {
    const t = this.now();
    return [...this.members.entries()].filter(([, until]) => until + this.graceMs > t).map(([m]) => m).sort();
  }

  async start(): Promise<void> {
    if (this.stopped) throw new ClusterMemberStoppedError();
    const c = connectRetrying(this.o.broker, {
      ...this.o.connect,
      // Nothing more is handled or acknowledged once the client is being ended (MQTT.js would write to an ended stream).
      customHandleAcks: (_topic, _message, _packet, done) => {
        if (!this.ending) done(0);
      },
      clientId: `upperstack-${this.o.group}-${this.o.member}-own`,
      protocolVersion: 5,
      clean: true,
      keepalive: Math.max(2, Math.ceil(this.o.leaseMs / 3000)),
      reconnectPeriod: 1000,
      // join() subscribes at every connection, before its own record: the copy coming back then follows every retained one.
      resubscribe: false,
      will: { topic: `${this.base}/members/${this.o.member}`, payload: Buffer.alloc(0), qos: 1, retain: true },
    });
    // Set before the connection: a stop while the broker is down or refuses the login ends the wait below.
    this.client = c;
    c.on('message', (topic, payload) => this.onMessage(topic, payload));
    c.on('error', (err) => this.emit('error', err));
    // Cut off from the broker, this member's will tells the others it is gone and they may take its
    // partitions at once: it stops counting them as its own now, not when its leases end. What it
    // knew of the others is stale from now on: the reconnection's subscription sends it all again,
    // and until its own record is back it claims nothing.
    c.on('close', () => {
      this.joining = true;
      this.members.clear();
      this.claims.clear();
      for (const p of this.ownedPartitions()) {
        this.owned.delete(p);
        this.emit('released', p);
      }
    });
    // Back after a cut: a member again at once (record, then a pass), not at the next renewal.
    c.on('connect', () => {
      this.connections++;
      this.rejoinSoon();
    });
    await memberConnection(c);
    await this.join();
    // Stopped meanwhile: no timer outlives the stop.
    if (this.stopped) throw new ClusterMemberStoppedError();
    this.timer = setInterval(() => {
      const began = Date.now();
      if (this.tickingSince !== undefined && began - this.tickingSince < this.o.leaseMs) return;
      this.tickingSince = began;
      this.tick()
        .catch((err: unknown) => this.emit('error', err as Error))
        .finally(() => {
          if (this.tickingSince === began) this.tickingSince = undefined;
        });
    }, Math.max(200, Math.floor(this.o.leaseMs / 3)));
  }

  /**
   * Gives up every partition (cleared claims, cleared member record) and disconnects. Cut off from
   * the broker it does not wait to reconnect (MQTT.js would hold the publishes until then, forever
   * with the broker gone): it drops the connection and the will and leases do the rest.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    // A start waiting for its own record goes on (and ends on the stop) at once.
    this.echo?.();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.disarmExpiry();
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    // The hooks run in full (a checkpoint does not need the broker); only the broker's answers are bounded.
    const handed = await Promise.all(this.ownedPartitions().map((p) => this.handOver(c, p, STOP_WAIT_MS)));
    const clean =
      handed.every(Boolean) && c.connected && (await within(c.publishAsync(`${this.base}/members/${this.o.member}`, '', { qos: 1, retain: true }), STOP_WAIT_MS));
    this.ending = true;
    for (const p of this.ownedPartitions()) {
      this.owned.delete(p);
      this.emit('released', p);
    }
    await endClient(c, clean ? STOP_WAIT_MS : 0);
  }

  /** As a crash: the connection dropped without DISCONNECT (the broker sends the will); nothing cleared. */
  crash(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stopped = true;
    this.disarmExpiry();
    this.client?.stream.destroy();
    this.client?.end(true);
    this.client = undefined;
  }

  /** Gives p up on purpose: the hook first (while p is still ours), then the claim cleared, so the target need not wait for the lease. */
  private async handOver(c: MqttClient, p: number, waitMs?: number): Promise<boolean> {
    if (this.o.handOver) await this.o.handOver(p).catch((err: unknown) => this.emit('error', err as Error));
    if (!this.owned.has(p)) return true;
    this.owned.delete(p);
    this.emit('released', p);
    if (waitMs === undefined) {
      await c.publishAsync(`${this.base}/claims/${p}`, '', { qos: 1, retain: true });
      return true;
    }
    return c.connected && (await within(c.publishAsync(`${this.base}/claims/${p}`, '', { qos: 1, retain: true }), waitMs));
  }

  /**
   * Subscribes, then a first pass only once the retained member records and claims are in. The
   * broker sends them on the subscription, before its copy of this member's own record published
   * after SUBACK, so that copy coming back says they are all here (a timer could run before them on a
   * busy event loop). The same after a reconnection (a clean session: subscribed again).
   */
  private async join(): Promise<void> {
    this.joining = true;
    for (;;) {
      const connection = this.connections;
      await this.client?.subscribeAsync([`${this.base}/members/+`, `${this.base}/claims/+`], { qos: 1 });
      if (this.stopped) return;
      const echoed = new Promise<void>((resolve) => (this.echo = resolve));
      this.firstUntil = undefined;
      await this.heartbeat();
      let wait: NodeJS.Timeout | undefined;
      // A broker that does not send this member its own record (an ACL) still gets a first pass.
      await Promise.race([echoed, new Promise<void>((r) => (wait = setTimeout(r, ECHO_WAIT_MS)))]);
      clearTimeout(wait);
      this.echo = undefined;
      if (this.stopped) return;
      // Cut off and back meanwhile: what it read went with that connection (and the view was cleared); read it again.
      if (connection === this.connections && this.client?.connected) break;
    }
    this.joining = false;
    await this.pass(true);
  }

  /** After a reconnection (the start's own join done): the record and a pass now; the lease timer tries again if that fails. */
  private rejoinSoon(): void {
    if (!this.timer || this.rejoin || this.stopped || !this.client?.connected) return;
    this.rejoin = this.join()
      .catch((err: unknown) => {
        this.emit('error', err as Error);
      })
      .finally(() => (this.rejoin = undefined));
  }

  /** A pass for a change in membership or claims (not a renewal): at once, or right after the one under way. */
  private rebalanceSoon(): void {
    if (this.joining || this.stopped) return;
    this.pass(false).catch((err: unknown) => this.emit('error', err as Error));
  }

  /** A rebalance after those under way; renew: the claims already held are renewed too (the lease timer's pass). */
  private pass(renew: boolean): Promise<void> {
    const waiting = this.nextPass;
    if (waiting) {
      waiting.renew ||= renew;
      return waiting.done;
    }
    const next = { renew, done: Promise.resolve() };
    next.done = this.passes.then(() => {
      this.nextPass = undefined;
      return this.rebalance(next.renew);
    });
    this.nextPass = next;
    this.passes = next.done.catch(() => undefined);
    return next.done;
  }

  /** The next moment a lease that matters here runs out: another member's record past its grace, or a claim (claimDeadline). */
  private armExpiry(): void {
    const t = this.now();
    // Past ones are the pass's to handle (one is asked for, or under way, and arms the next).
    let at = this.claimDeadline > t ? this.claimDeadline : Infinity;
    for (const [m, until] of this.members) if (m !== this.o.member && until + this.graceMs > t) at = Math.min(at, until + this.graceMs);
    if (at === this.expiryAt || this.stopped) return;
    this.disarmExpiry();
    if (at === Infinity) return;
    this.expiryAt = at;
    // A millisecond past it: the pass must see the lease as run out.
    this.expiry = setTimeout(() => {
      this.expiry = undefined;
      this.expiryAt = Infinity;
      this.rebalanceSoon();
      this.armExpiry();
    }, at - t + 1);
  }

  private disarmExpiry(): void {
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = undefined;
    this.expiryAt = Infinity;
  }

  private onMessage(topic: string, payload: Buffer): void {
    const rest = topic.slice(this.base.length + 1);
    const [kind, key] = rest.split('/');
    let lease: Lease | undefined;
    if (payload.length) {
      try {
        const v = JSON.parse(payload.toString('utf8')) as Partial<Lease>;
        if (typeof v.until === 'number') lease = { member: String(v.member ?? key), until: v.until };
      } catch {
        lease = undefined;
      }
    }
    if (kind === 'members') {
      if (key === this.o.member && lease?.until === this.firstUntil) this.echo?.();
      // Its own record is set by heartbeat() once the broker has it; a copy coming back changes nothing.
      if (key === this.o.member) return;
      const was = this.liveMembers().includes(key);
      if (lease) this.members.set(key, lease.until);
      else this.members.delete(key);
      this.armExpiry();
      // A join, a leave (a cleared record, a will) or a late renewal of a lease past its grace.
      if (was !== this.liveMembers().includes(key)) this.rebalanceSoon();
    } else if (kind === 'claims') {
      const p = Number(key);
      if (!Number.isInteger(p)) return;
      if (lease) this.claims.set(p, lease);
      else this.claims.delete(p);
      // Another member holds what this one counted as its own (it was cut off too long): let it go.
      if (lease && lease.member !== this.o.member && this.owned.has(p) && lease.until > this.now()) {
        this.owned.delete(p);
        this.emit('released', p);
      }
      // A hand-over: the partition's next owner takes it now.
      if (!lease) this.rebalanceSoon();
    }
  }

  private async tick(): Promise<void> {
    const t = this.now();
    // Offline, a publish would wait for the reconnection (and ticks pile up behind it): leases run
    // out below, and the first tick after the reconnection renews the record and claims again.
    const offline = !this.client?.connected;
    // Leases that ran out without a renewal the broker confirmed are no longer ours.
    for (const [p, until] of this.owned) {
      if (until <= t) {
        this.owned.delete(p);
        this.emit('released', p);
      }
    }
    if (offline) return;
    if (this.joining) return this.rejoinSoon();
    await this.heartbeat();
    // Not waited for: a pass held up by a slow hand-over (a checkpoint) does not hold the next renewal
    // of the record back, which would let the lease run out and the others count this member gone.
    this.pass(true).catch((err: unknown) => this.emit('error', err as Error));
  }

  private async heartbeat(): Promise<void> {
    const until = this.now() + this.o.leaseMs;
    this.firstUntil ??= until;
    await this.client?.publishAsync(`${this.base}/members/${this.o.member}`, JSON.stringify({ member: this.o.member, until }), { qos: 1, retain: true });
    this.members.set(this.o.member, until);
  }

  private async rebalance(renew: boolean): Promise<void> {
    const c = this.client;
    if (!c?.connected || this.stopped || this.joining) return;
    const t = this.now();
    const live = this.liveMembers();
    const leaving: number[] = [];
    let blockedUntil = Infinity;
    for (let p = 0; p < this.o.partitions; p++) {
      const target = targetOwner(p, live);
      const claim = this.claims.get(p);
      const mine = this.owned.has(p);
      if (target !== this.o.member) {
        if (mine) leaving.push(p);
        continue;
      }
      // Held already, and not the renewal's turn: nothing to publish.
      if (mine && !renew) continue;
      const free = !claim || claim.member === this.o.member || claim.until <= t || !live.includes(claim.member);
      if (!free) {
        blockedUntil = Math.min(blockedUntil, claim.until);
        continue;
      }
      // A claim ends with the member record renewed with it: once the others may count this member
      // gone (and take the partition), it no longer counts the partition as its own either. No record
      // (cut off, not a member again yet): nothing is claimed.
      const until = this.members.get(this.o.member);
      if (until === undefined || until <= t) continue;
      await c.publishAsync(`${this.base}/claims/${p}`, JSON.stringify({ member: this.o.member, until }), { qos: 1, retain: true });
      if (this.stopped) return;
      this.claims.set(p, { member: this.o.member, until });
      this.owned.set(p, until);
      if (!mine) this.emit('acquired', p);
    }
    this.claimDeadline = blockedUntil;
    this.armExpiry();
    await Promise.all(leaving.map((p) => this.handOver(c, p)));
  }
}
