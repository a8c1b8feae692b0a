/**
 * The open CoAP observations of one input, by client endpoint and token (RFC 7641).
 * A client cancels one with a GET carrying Observe 1 and the same token (§3.6), and
 * registering again with the same token replaces the earlier one (§4.1); without this
 * the board kept pushing to observations the device had left. Closing the input ends
 * them all, so no listener outlives the socket it would write to.
 */

/** How an observation ends: it stops listening to the board and closes its stream. */
export type EndObservation = () => void;

export class Observations {
  private readonly open = new Map<string, EndObservation>();

  /** The key of an observation: the same endpoint and token name the same one. */
  static key(address: string, port: number, token: Buffer | undefined): string {
    return `${address}:${port}/${token?.toString('hex') ?? ''}`;
  }

  /**
   * Registers an observation, ending an earlier one under the same key first. Returns the function
   * to call when the stream ends by itself (the client reset a notification, or stopped answering).
   */
  add(key: string, end: EndObservation): () => void {
    this.cancel(key);
    this.open.set(key, end);
    return () => {
      if (this.open.get(key) === end) this.open.delete(key);
    };
  }

  /** Ends the observation under `key`, if there is one; whether there was. */
  cancel(key: string): boolean {
    const end = this.open.get(key);
    if (!end) return false;
    this.open.delete(key);
    end();
    return true;
  }

  /** Ends every observation (the input closes). */
  endAll(): void {
    const ends = [...this.open.values()];
    this.open.clear();
    for (const end of ends) end();
  }

  get size(): number {
    return this.open.size;
  }
}

/**
 * When an observation registered with a non-confirmable GET gets a confirmable notification (RFC 7641 §4.5):
 * after `maxNonInRow` non-confirmable ones (libcoap sends one after five too), and whenever `everyMs` (the
 * RFC's 24 hours at most) has passed since the last one or since the registration. A client that went away
 * without cancelling answers none (or a Reset), and the library then ends the observation: without this a
 * gone observer stayed for good, since nothing it never answers can tell the server it left.
 */
export const OBSERVE_CHECK = { maxNonInRow: 5, everyMs: 24 * 60 * 60 * 1000 };

export class ObserverCheck {
  private nonInRow = 0;
  private last: number;

  constructor(registeredAt: number, private readonly limits: { maxNonInRow: number; everyMs: number } = OBSERVE_CHECK) {
    this.last = registeredAt;
  }

  /** Whether the notification sent now goes confirmable. */
  confirmable(now: number): boolean {
    if (this.nonInRow >= this.limits.maxNonInRow || now - this.last >= this.limits.everyMs) {
      this.nonInRow = 0;
      this.last = now;
      return true;
    }
    this.nonInRow++;
    return false;
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
