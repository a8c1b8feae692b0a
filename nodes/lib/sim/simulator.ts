/**
 * The simulator: a fleet of devices sending readings through a transport, on
 * schedule, in simulated time (which may run faster than the clock, to make
 * history). One timer drives the whole fleet: the k-th report of a group of n
 * devices with period P is due at start + k·P/n (device k mod n), so devices
 * are spread evenly over the period and each tick does work only for the
 * reports that are due.
 *
 * A device has at most one message in flight, as a real one would; readings
 * made while it waits for the acknowledgement are kept (up to `maxBuffer`,
 * oldest lost beyond) and go together in its next message, as a batch
 * (one message each for protobuf, whose topic fixes the message type). A batch
 * the server refuses for its size goes again in parts (split.ts).
 */
import { EventEmitter } from 'node:events';
import { isFormat, type Format } from '../codec';
import type { Reading } from '../reading';
import { BadParameterError } from '../errors';
import { AnomalyInjector, ANOMALY_KINDS, type Anomaly, type AnomalyKind } from './anomalies';
import { makeDevice, PROFILE_NAMES, sample, type DeviceState, type ProfileName } from './profiles';
import { Random } from './random';
import type { Transport } from './transports';
import { sendInParts, type PartEvents } from './split';

export type Codec = 'json' | 'cbor' | 'msgpack' | 'protobuf' | 'senml';
export const CODECS: readonly Codec[] = ['json', 'cbor', 'msgpack', 'protobuf', 'senml'];

export const CONTENT_TYPES: Record<Codec, string> = {
  json: 'application/json',
  cbor: 'application/cbor',
  msgpack: 'application/msgpack',
  protobuf: 'application/x-protobuf',
  senml: 'application/senml+json',
};

export interface SimulatorOptions {
  /** 1 to 10,000. */
  devices: number;
  /** Reports per second per device (environment and motion sensors). */
  rate: number;
  /** Reports per second per smart plug (default 2: power twice a second). */
  plugRate?: number;
  /** Share of each profile in the fleet (profiles left out get none); default env 70, motion 15, plug 15. */
  mix?: Partial<Record<ProfileName, number>>;
  /** Simulated time to run, ms; unset runs until stop(). */
  duration?: number;
  /** Simulated ms per real ms (default 1). */
  speed?: number;
  /** Simulated epoch ms of the first report (default now). */
  start?: number;
  seed?: number;
  /** Expected injected anomalies per simulated hour over the fleet (default 12; 0 for none). */
  anomaliesPerHour?: number;
  anomalyKinds?: readonly AnomalyKind[];
  /** Device ids are prefix + number (default "sim-"). */
  prefix?: string;
  codec?: Codec;
  /** Readings a busy device keeps for its next message (default 100 × speed, at most 10,000). */
  maxBuffer?: number;
  /** Timer period, ms (default 25). */
  tickMs?: number;
  /** How long the end of a timed run waits for acknowledgements, ms (default 10,000). */
  drainMs?: number;
}

export interface SimulatorStats {
  devices: number;
  /** Devices the server refused for good (a 4xx other than a login, a timeout or a rate; a reading too large): they send nothing more. */
  stopped: number;
  /** Messages handed to the transport, acknowledged, failed; readings in them. */
  sent: number;
  acked: number;
  errors: number;
  /** Messages the server refused for their size, whose readings went again in smaller messages. */
  split: number;
  readings: number;
  /** Readings not sent: dropped by a full device buffer, or held back by a dropout anomaly. */
  lost: number;
  suppressed: number;
  inFlight: number;
  /** Messages still unacknowledged when the drain at stop() gave up: neither acked nor failed. */
  unacked: number;
  anomalies: number;
  lastError?: string;
  /** Simulated time reached, epoch ms, and real time since start. */
  simTime: number;
  elapsedMs: number;
}

export interface SimDevice {
  readonly id: string;
  readonly profile: ProfileName;
  readonly index: number;
}

interface Member extends SimDevice {
  state: DeviceState;
  busy: boolean;
  buffer: Reading[];
  /** Refused for good by the server: makes no more readings. */
  stopped: boolean;
}

interface Group {
  members: Member[];
  periodMs: number;
  /** Reports made so far. */
  done: number;
}

export function checkOptions(o: SimulatorOptions): void {
  if (!Number.isInteger(o.devices) || o.devices < 1 || o.devices > 10_000) throw new BadParameterError('devices', `devices must be a whole number from 1 to 10000, got ${o.devices}`);
  if (!(o.rate > 0) || o.rate > 100) throw new BadParameterError('rate', `rate must be above 0 and at most 100/s per device, got ${o.rate}/s`);
  if (o.plugRate !== undefined && (!(o.plugRate > 0) || o.plugRate > 100)) throw new BadParameterError('plug-rate', `plug rate must be above 0 and at most 100/s, got ${o.plugRate}/s`);
  if (o.speed !== undefined && !(o.speed > 0 && o.speed <= 1_000_000)) throw new BadParameterError('speed', `speed must be above 0 and at most 1000000, got ${o.speed}`);
  if (o.duration !== undefined && !(o.duration > 0)) throw new BadParameterError('duration', 'duration must be above 0');
  if (o.anomaliesPerHour !== undefined && !(o.anomaliesPerHour >= 0)) throw new BadParameterError('anomalies', 'anomalies per hour must be 0 or more');
  for (const k of o.anomalyKinds ?? []) if (!ANOMALY_KINDS.includes(k)) throw new BadParameterError('anomaly-kinds', `unknown anomaly kind "${k}"; use ${ANOMALY_KINDS.join(', ')}`);
  const codec = o.codec ?? 'json';
  if (!CODECS.includes(codec)) throw new BadParameterError('codec', `codec must be one of ${CODECS.join(', ')}, got "${codec}"`);
  if (!isFormat(codec)) throw new BadParameterError('codec', `the ${codec} codec is not available in this version`);
  for (const [p, share] of Object.entries(o.mix ?? {})) {
    if (!PROFILE_NAMES.includes(p as ProfileName)) throw new BadParameterError('mix', `unknown device profile "${p}"; use ${PROFILE_NAMES.join(', ')}`);
    if (!(Number(share) >= 0)) throw new BadParameterError('mix', `the share of ${p} must be 0 or more`);
  }
  const total = Object.values(shares(o.mix)).reduce((a, b) => a + Number(b), 0);
  if (!(total > 0)) throw new BadParameterError('mix', 'the profile mix must give at least one profile a share above 0');
}

/** The default mix, or only the profiles a given mix names. */
function shares(mix: Partial<Record<ProfileName, number>> | undefined): Record<ProfileName, number> {
  if (!mix || Object.keys(mix).length === 0) return { env: 70, motion: 15, plug: 15 };
  return { env: 0, motion: 0, plug: 0, ...mix };
}

/** How many devices of each profile: shares rounded so that they add up to the fleet size. */
export function splitFleet(devices: number, mix?: Partial<Record<ProfileName, number>>): Record<ProfileName, number> {
  const share = shares(mix);
  const total = PROFILE_NAMES.reduce((a, p) => a + share[p], 0);
  const out = { env: 0, motion: 0, plug: 0 } as Record<ProfileName, number>;
  let given = 0;
  const rests = PROFILE_NAMES.map((p) => {
    const exact = (devices * share[p]) / total;
    out[p] = Math.floor(exact);
    given += out[p];
    return { p, rest: exact - out[p] };
  }).sort((a, b) => b.rest - a.rest);
  for (let i = 0; given < devices; i++, given++) out[rests[i % rests.length].p]++;
  return out;
}

export class Simulator extends EventEmitter {
  private readonly opts: Required<Omit<SimulatorOptions, 'duration' | 'start' | 'mix'>> & Pick<SimulatorOptions, 'duration' | 'mix'>;
  private readonly groups: Group[] = [];
  private readonly members: Member[] = [];
  private readonly states: DeviceState[] = [];
  private readonly injector: AnomalyInjector;
  private readonly format: Format;
  private readonly contentType: string;
  private timer: NodeJS.Timeout | undefined;
  private simStart: number;
  private realStart = 0;
  private lastSim: number;
  private running = false;
  private finished = false;
  /** Set once the drain at stop() is over: later outcomes are not counted. */
  private gaveUp = false;
  private readonly s: SimulatorStats;
  private idle: Array<() => void> = [];

  constructor(options: SimulatorOptions, private readonly transport: Transport) {
    super();
    checkOptions(options);
    this.opts = {
      plugRate: 2,
      speed: 1,
      seed: 1,
      anomaliesPerHour: 12,
      anomalyKinds: ANOMALY_KINDS,
      prefix: 'sim-',
      codec: 'json',
      maxBuffer: Math.min(10_000, Math.ceil(100 * Math.max(1, options.speed ?? 1))),
      tickMs: 25,
      drainMs: 10_000,
      // An option passed as undefined keeps its default.
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as typeof this.opts;
    this.format = this.opts.codec as Format;
    this.contentType = CONTENT_TYPES[this.opts.codec];
    this.simStart = options.start ?? Date.now();
    this.lastSim = this.simStart;
    const rng = new Random(this.opts.seed);
    const counts = splitFleet(this.opts.devices, options.mix);
    const width = String(this.opts.devices).length;
    let index = 0;
    for (const profile of PROFILE_NAMES) {
      const members: Member[] = [];
      for (let i = 0; i < counts[profile]; i++, index++) {
        const id = `${this.opts.prefix}${String(index + 1).padStart(width, '0')}`;
        const state = makeDevice(id, profile, rng.fork(index + 1));
        const m: Member = { id, profile, index, state, busy: false, buffer: [], stopped: false };
        members.push(m);
        this.members.push(m);
        this.states.push(state);
      }
      if (members.length) this.groups.push({ members, periodMs: 1000 / (profile === 'plug' ? this.opts.plugRate : this.opts.rate), done: 0 });
    }
    this.injector = new AnomalyInjector(rng.fork(0x5eed), this.opts.anomaliesPerHour, this.opts.anomalyKinds, (a) => {
      this.s.anomalies++;
      this.emit('anomaly', a);
    });
    this.s = { devices: this.members.length, stopped: 0, sent: 0, acked: 0, errors: 0, split: 0, readings: 0, lost: 0, suppressed: 0, inFlight: 0, unacked: 0, anomalies: 0, simTime: this.simStart, elapsedMs: 0 };
  }

  get devices(): readonly SimDevice[] {
    return this.members;
  }

  /** Opens the transport and starts sending. Resolves once the transport is open. */
  async start(): Promise<void> {
    if (this.running || this.finished) return;
    await this.transport.open(this.members);
    this.running = true;
    this.realStart = Date.now();
    this.tick();
  }

  /**
   * Stops making readings, waits (up to `drainMs`) for the messages in flight to
   * be acknowledged, and closes the transport. Emits "done". Messages still in
   * flight then count as unacked; what becomes of them while closing is ignored,
   * so each message is counted once.
   */
  async stop(drainMs = this.opts.drainMs): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.injector.finish(this.lastSim);
    if (this.s.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, drainMs);
        this.idle.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.s.unacked = this.s.inFlight;
    this.gaveUp = true;
    await this.transport.close();
    this.emit('done', this.stats());
  }

  stats(): SimulatorStats {
    return { ...this.s, elapsedMs: this.running || this.finished ? Date.now() - this.realStart : 0 };
  }

  /** Labelled anomalies so far (all of them once stopped). */
  truth(): readonly Anomaly[] {
    return this.injector.truth();
  }

  /** Simulated epoch ms at which the run started. */
  get startTime(): number {
    return this.simStart;
  }

  private tick(): void {
    if (!this.running) return;
    const real = Date.now() - this.realStart;
    let now = this.simStart + real * this.opts.speed;
    const end = this.opts.duration !== undefined ? this.simStart + this.opts.duration : Infinity;
    const last = now >= end;
    if (last) now = end;
    this.injector.tick(this.states, now, now - this.lastSim);
    // Bounded work per tick: a fast clock catches up over the next ticks instead of stalling here.
    let budget = 20_000;
    let behind = false;
    for (const g of this.groups) {
      const n = g.members.length;
      const due = Math.floor(((now - this.simStart) * n) / g.periodMs) + (last ? 0 : 1);
      while (g.done < due) {
        if (budget-- <= 0) {
          behind = true;
          break;
        }
        const k = g.done++;
        const ts = Math.round(this.simStart + (k * g.periodMs) / n);
        if (ts >= end) {
          g.done = due;
          break;
        }
        this.report(g.members[k % n], ts, g.periodMs);
      }
    }
    this.lastSim = now;
    this.s.simTime = now;
    if (last && !behind) {
      void this.stop();
      return;
    }
    this.timer = setTimeout(() => this.tick(), behind ? 0 : this.opts.tickMs);
  }

  private report(m: Member, ts: number, dtMs: number): void {
    if (m.stopped) return;
    const fields = sample(m.state, ts, dtMs);
    if (!this.injector.apply(m.state, ts, fields)) {
      this.s.suppressed++;
      return;
    }
    const reading: Reading = { device: m.id, ts, fields, tags: {} };
    if (m.busy) {
      if (m.buffer.length >= this.opts.maxBuffer) {
        m.buffer.shift();
        this.s.lost++;
      }
      m.buffer.push(reading);
      return;
    }
    this.send(m, [reading]);
  }

  /** What becomes of each message the device sends; nothing is counted once the drain at stop() gave up. */
  private parts(m: Member): PartEvents {
    return {
      sent: () => void (this.gaveUp || this.s.sent++),
      acked: () => void (this.gaveUp || this.s.acked++),
      split: () => void (this.gaveUp || this.s.split++),
      failed: (err) => void (this.gaveUp || this.fail(err)),
      refused: () => void (this.gaveUp || this.stopDevice(m)),
      abandoned: () => this.gaveUp,
    };
  }

  private send(m: Member, readings: Reading[]): void {
    m.busy = true;
    this.s.inFlight++;
    this.s.readings += readings.length;
    void sendInParts(this.transport, m, readings, this.format, this.contentType, this.parts(m)).then(() => this.settled(m));
  }

  /** The server refused the device for good: what it holds would be refused too, and it makes no more readings. */
  private stopDevice(m: Member): void {
    m.buffer = [];
    if (m.stopped) return;
    m.stopped = true;
    this.s.stopped++;
    this.emit('device-stopped', m.id);
  }

  private settled(m: Member): void {
    if (this.gaveUp) return;
    this.s.inFlight--;
    m.busy = false;
    // What was made while waiting goes now, also while stopping (the drain waits for it).
    if (m.buffer.length) {
      // Protobuf messages are typed by topic (upperstack.Reading on the pack's protobuf topic): one each.
      if (this.format === 'protobuf') return this.send(m, [m.buffer.shift()!]);
      const batch = m.buffer;
      m.buffer = [];
      this.send(m, batch);
    }
    this.wakeIdle();
  }

  private wakeIdle(): void {
    if (this.s.inFlight === 0 && this.idle.length) {
      const waiting = this.idle;
      this.idle = [];
      for (const w of waiting) w();
    }
  }

  private fail(err: unknown): void {
    this.s.errors++;
    this.s.lastError = err instanceof Error ? err.message : String(err);
    this.emit('error-message', this.s.lastError);
  }
}
