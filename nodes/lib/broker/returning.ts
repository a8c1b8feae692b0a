/**
 * Filters of in-process subscribers that are being restarted (an MQTT input in a
 * redeploy), not removed. Between the old input's close and the new one's
 * subscribe, a device's publish on that filter would find no subscriber and be
 * acknowledged by the broker with nobody to journal it: a reading lost after its
 * PUBACK. A publish that matches a returning filter waits for it instead,
 * unacknowledged: the new subscriber of the same filter gets it, and only its ack
 * (with those of the other subscribers) lets the PUBACK go. A filter that does not
 * come back (the input was disabled, its topic changed, it failed to start) is
 * let go when the deploy is over (release()) or after RETURN_WAIT_MS: what waited
 * for it then goes where the broker routes it now.
 */
import { topicMatches } from '../mqtt/topic';
import type { InProcessPacket } from './options';
import { ackWhenAll } from './ack-all';

/** How long a publish waits for an input being restarted; Node-RED gives a node's close as long. */
export const RETURN_WAIT_MS = 15_000;

interface Held {
  p: InProcessPacket;
  /** This filter's share of the publish's acknowledgement. */
  ack: () => void;
  fail: () => void;
  /** Nobody else took the publish: when the filter does not come back, it is routed as it would be now instead. */
  reroute?: () => void;
}

export interface Returning {
  filter: string;
  held: Held[];
  timer: NodeJS.Timeout;
}

type Deliver = (p: InProcessPacket, ack: () => void, fail: () => void) => void;

export class ReturningFilters {
  private list: Returning[] = [];

  constructor(private readonly waitMs = RETURN_WAIT_MS) {}

  get size(): number {
    return this.list.length;
  }

  /** A subscriber of `filter` closed to be started again. */
  add(filter: string): void {
    if (this.list.some((r) => r.filter === filter)) return;
    const r: Returning = { filter, held: [], timer: setTimeout(() => this.letGo(r), this.waitMs) };
    r.timer.unref();
    this.list.push(r);
  }

  /** The returning filters the topic matches (none: undefined, no array). */
  matching(topic: string): Returning[] | undefined {
    let out: Returning[] | undefined;
    for (const r of this.list) if (topicMatches(r.filter, topic)) (out ??= []).push(r);
    return out;
  }

  /**
   * A publish for the subscribers there now (`now`) and the returning filters it matches (`waiting`): acknowledged
   * once every one of them has acked it; a returning filter's share waits until it is back or let go.
   */
  share(waiting: Returning[], p: InProcessPacket, now: Deliver[], ack: () => void, failed: () => void, reroute?: () => void): void {
    const all = ackWhenAll(now.length + waiting.length, ack, failed);
    for (const deliver of now) deliver(p, all.acked, all.fail);
    for (const r of waiting) r.held.push({ p, ack: all.acked, fail: all.fail, reroute });
  }

  /** A subscriber of `filter` is back: it gets, in order, what waited for the filter. */
  back(filter: string, deliver: Deliver): void {
    const i = this.list.findIndex((r) => r.filter === filter);
    if (i < 0) return;
    const [r] = this.list.splice(i, 1);
    clearTimeout(r.timer);
    for (const h of r.held) deliver(h.p, h.ack, h.fail);
  }

  /** The deploy is over: filters not back by now are not coming back. */
  release(): void {
    for (const r of [...this.list]) this.letGo(r);
  }

  /** The broker stops: the clients' connections close, and they resend what was not acknowledged. */
  clear(): void {
    for (const r of this.list) clearTimeout(r.timer);
    this.list = [];
  }

  private letGo(r: Returning): void {
    const i = this.list.indexOf(r);
    if (i < 0) return;
    this.list.splice(i, 1);
    clearTimeout(r.timer);
    for (const h of r.held) (h.reroute ?? h.ack)();
  }
}
