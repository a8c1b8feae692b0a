/**
 * The open CoAP observations of one input, by client endpoint and token (RFC 7641).
 * A client cancels one with a GET carrying Observe 1 and the same token (§3.6), and
 * registering again with the same token replaces the earlier one (§4.1); without this
 * the board kept pushing to observations the device had left. Closing the input ends
 * them all, so no listener outlives the socket it would write to. They are bounded per
 * device and in all, and checked periodically, so observers that left do not pile up.
 * A device at its bound gets its new registration and loses its oldest: a device that
 * rebooted onto a new port cannot cancel what it left behind, and refusing it instead
 * would cut it off from its commands until the daily check ends the stale ones.
 */
import { TooManyObservationsError } from '../errors';

/** How an observation ends: it stops listening to the board and closes its stream. */
export type EndObservation = () => void;

/** What the input keeps of one observation: how to end it, and the periodic check it gets (`sweep`). */
export interface Observation {
  device: string;
  end: EndObservation;
  /** Called by every sweep: sends a confirmable re-notification when the observer's last check is too old. */
  recheck(now: number): void;
}

/**
 * How many observations an input keeps: per device (one resource each, so a few are plenty; more are mostly
 * registrations a rebooted device left behind, so the oldest makes room) and in all (beyond which a registration
 * is refused). Each is memory held until it ends.
 */
export const OBSERVATION_LIMITS = { perDevice: 16, total: 10_000 };

export class Observations {
  private readonly open = new Map<string, Observation>();
  /** Each device's observation keys, oldest first (a Set keeps insertion order). */
  private readonly perDevice = new Map<string, Set<string>>();

  constructor(private readonly limits: { perDevice: number; total: number } = OBSERVATION_LIMITS) {}

  /** The key of an observation: the same endpoint and token name the same one. */
  static key(address: string, port: number, token: Buffer | undefined): string {
    return `${address}:${port}/${token?.toString('hex') ?? ''}`;
  }

  /**
   * Why a registration under `key` for `device` cannot be kept, checked before anything of it is made; undefined
   * when it can. A registration that replaces one under the same key takes that one's place, and one that ends
   * its device's oldest (`add`) takes that one's.
   */
  refusal(key: string, device: string): TooManyObservationsError | undefined {
    const same = this.open.get(key);
    const freed = same || (this.perDevice.get(device)?.size ?? 0) >= this.limits.perDevice ? 1 : 0;
    if (this.open.size - freed >= this.limits.total) return new TooManyObservationsError({ limit: this.limits.total });
    return undefined;
  }

  /**
   * Registers an observation, ending an earlier one under the same key first. Returns the function
   * to call when the stream ends by itself (the client reset a notification, or stopped answering).
   */
  add(key: string, o: Observation): () => void {
    this.cancel(key);
    const mine = this.perDevice.get(o.device);
    if (mine && mine.size >= this.limits.perDevice) this.cancel(mine.values().next().value!);
    this.open.set(key, o);
    const keys = this.perDevice.get(o.device);
    if (keys) keys.add(key);
    else this.perDevice.set(o.device, new Set([key]));
    return () => {
      if (this.open.get(key) === o) this.remove(key, o);
    };
  }

  /** Ends the observation under `key`, if there is one; whether there was. */
  cancel(key: string): boolean {
    const o = this.open.get(key);
    if (!o) return false;
    this.remove(key, o);
    o.end();
    return true;
  }

  /** Gives every observation its periodic check; those that end meanwhile leave the map by themselves. */
  sweep(now: number): void {
    for (const o of [...this.open.values()]) o.recheck(now);
  }

  /** Ends every observation (the input closes). */
  endAll(): void {
    const all = [...this.open.values()];
    this.open.clear();
    this.perDevice.clear();
    for (const o of all) o.end();
  }

  get size(): number {
    return this.open.size;
  }

  /** The observations of one device. */
  of(device: string): number {
    return this.perDevice.get(device)?.size ?? 0;
  }

  private remove(key: string, o: Observation): void {
    this.open.delete(key);
    const keys = this.perDevice.get(o.device);
    keys?.delete(key);
    if (keys?.size === 0) this.perDevice.delete(o.device);
  }
}

/** When observers are checked: see ObserverCheck; `sweepMs` is how often the input looks for those due. */
export interface ObserveCheckTiming {
  maxNonInRow: number;
  everyMs: number;
  sweepMs: number;
}

const DEFAULT_OBSERVE_CHECK: Readonly<ObserveCheckTiming> = { maxNonInRow: 5, everyMs: 24 * 60 * 60 * 1000, sweepMs: 60 * 60 * 1000 };

/**
 * When an observer gets a confirmable notification (RFC 7641 §4.5). One registered with a non-confirmable GET gets
 * one after `maxNonInRow` non-confirmable ones (libcoap sends one after five too); and any observer whose last
 * confirmable exchange (its registration, or a confirmable notification) is `everyMs` old (the RFC's 24 hours at
 * most) gets one, either with the next command or, on a device that gets none, from the input's sweep, every
 * `sweepMs`, as a re-notification of the latest command. A client that went away without cancelling answers none
 * (or a Reset), and the library then ends the observation: without this a gone observer stayed for good, since
 * nothing it never answers can tell the server it left. The sweep's period is read when an input starts.
 */
export const OBSERVE_CHECK: ObserveCheckTiming = { ...DEFAULT_OBSERVE_CHECK };

/** Changes the check's timing for inputs started from now on (tests make it short), as coap's updateTiming does. */
export function updateObserveCheck(timing: Partial<ObserveCheckTiming>): void {
  Object.assign(OBSERVE_CHECK, timing);
}

/** Puts the check's timing back to the defaults above. */
export function defaultObserveCheck(): void {
  Object.assign(OBSERVE_CHECK, DEFAULT_OBSERVE_CHECK);
}

export class ObserverCheck {
  private nonInRow = 0;
  private last: number;

  /** `confirmableRegistration`: every notification goes confirmable (the client registered with a CON GET). */
  constructor(registeredAt: number, private readonly confirmableRegistration = false, private readonly limits: ObserveCheckTiming = OBSERVE_CHECK) {
    this.last = registeredAt;
  }

  /** Whether the notification sent now goes confirmable. */
  confirmable(now: number): boolean {
    if (this.confirmableRegistration || this.nonInRow >= this.limits.maxNonInRow || this.due(now)) {
      this.nonInRow = 0;
      this.last = now;
      return true;
    }
    this.nonInRow++;
    return false;
  }

  /** Whether the observer has had no confirmable exchange for `everyMs`: the sweep re-notifies it. */
  due(now: number): boolean {
    return now - this.last >= this.limits.everyMs;
  }
}

/**
 * The Max-Age of every notification of `/commands/{device}`, in seconds: a day. Each new command is pushed as it is
 * set, so the representation stays current for as long as the observation lasts; the bound is for an observation
 * the server lost without a word (the runtime restarted: observations are kept in memory), after which the device
 * takes its copy as stale and registers again, getting the latest command. Without the option a client takes every
 * notification as stale after 60 s (RFC 7252 §5.10.5) and may cancel or register again every minute.
 */
export const COMMAND_MAX_AGE_S = 24 * 60 * 60;

/**
 * The Max-Age of the answer to a plain GET of `/commands/{device}` (no Observe), in seconds: 0. Nothing is pushed after
 * it, and a new command may be set at any moment, so no lifetime is honest; without the option the answer, and any
 * proxy's copy of it, would count as fresh for 60 s (RFC 7252 §5.10.5) and hide a command set meanwhile. A device
 * that polls asks again when it chooses; one that wants commands as they are set observes.
 */
export const COMMAND_GET_MAX_AGE_S = 0;

/** The Max-Age of the 5.03 that refuses an observation over the limits: when the client may try again, in seconds. */
export const REFUSED_OBSERVE_RETRY_S = 60;

/** Commands that may wait behind an unacknowledged notification, per observation; beyond, the oldest waiting goes. */
export const MAX_WAITING_NOTIFICATIONS = 16;

/**
 * What goes to one observer while a confirmable notification to it is unacknowledged (RFC 7641 §4.5.2): no second
 * one starts its own retransmission beside it, so at most one confirmable notification per observer is outstanding.
 * A newer command takes the outstanding one's place once that one is acknowledged, not before: a notification of this
 * resource is one command, so the RFC's dropping of the older state would lose a command the device never got (the
 * first transmission lost, the retransmission stopped). Waiting commands go in order, one per acknowledgement; an
 * outstanding one that is never acknowledged ends the observation, and what waits with it.
 */
export class ObserverOutbox<T> {
  private readonly waiting: T[] = [];
  private outstanding = false;
  /** Waiting commands dropped because more than the limit waited. */
  dropped = 0;

  constructor(private readonly limit = MAX_WAITING_NOTIFICATIONS) {}

  /** `item` when it may go now; undefined when it waits behind the outstanding confirmable notification. */
  offer(item: T): T | undefined {
    if (!this.outstanding) return item;
    if (this.waiting.length >= this.limit) {
      this.waiting.shift();
      this.dropped++;
    }
    this.waiting.push(item);
    return undefined;
  }

  /** Records a notification just sent: a confirmable one is outstanding until `acknowledged()`. */
  sent(confirmable: boolean): void {
    this.outstanding = confirmable;
  }

  /** The outstanding notification was acknowledged: the next waiting command to send, if any. */
  acknowledged(): T | undefined {
    this.outstanding = false;
    return this.waiting.shift();
  }

  get isOutstanding(): boolean {
    return this.outstanding;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }
}

/**
 * The message ID of an empty ACK, how a client acknowledges a confirmable notification; undefined for any other
 * datagram (a Reset ends the observation in the library itself).
 */
export function emptyAckOf(datagram: Buffer): number | undefined {
  // Version 1, type ACK (2), code 0.00 (RFC 7252 §3, §4.2).
  if (datagram.length < 4 || datagram[0] >> 4 !== 0b0110 || datagram[1] !== 0) return undefined;
  return datagram.readUInt16BE(2);
}
