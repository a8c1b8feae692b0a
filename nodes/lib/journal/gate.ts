/**
 * Backpressure on an input: acknowledgements wait while too many journaled
 * messages are still unsettled or the journal has reached its disk budget.
 * Brokers send a client only a bounded window of unacknowledged QoS 1/2
 * messages (and aedes reads a client's next packets only once the current ones
 * are acknowledged), so withheld acks slow the devices down over TCP instead of
 * letting the runtime queue without bound. Request/response protocols ask
 * `paused()` and refuse while it is true.
 *
 * Two marks count the backlog: unsettled messages, and the readings in them.
 * The step that decodes a message tells the journal how many readings it holds
 * (Journal.weigh and decoded, through weighReceipt and decodedReceipts); entries
 * it has not reached yet count as the readings per message it saw lately. So
 * with 10-reading batches the input pauses at a tenth of the messages it would
 * with single readings: what the runtime holds in flight is readings. A single
 * message above the readings mark still passes: the gate only withholds acks
 * of later messages until the backlog has drained.
 *
 * Both marks count only what no store write has taken yet (Journal.take,
 * through takeReceipts): messages and readings in a write that has not
 * committed stay unsettled, but the next ones may arrive meanwhile, so intake
 * and store overlap instead of taking turns. A message sent on to several
 * stores counts until every one has taken it. What is in flight stays bounded
 * by ceilings on all unsettled messages and readings, taken or not (three
 * times each mark by default), checked with the marks before any ack is let
 * through; past a ceiling, acks wait until the backlog is the mark's
 * hysteresis below it.
 *
 * Hysteresis: once the backlog reaches a high-water mark (or the journal its
 * budget), acks are held until the backlog is down to the low-water marks and
 * the journal below its budget, then released in arrival order. The journal
 * shrinks a whole segment at a time, which is the hysteresis for the budget.
 */
import type { Journal } from './journal';

export type PauseReason = 'backlog' | 'disk';

export interface AckGateOptions {
  /** Unsettled messages no store write has taken yet at which acks are withheld; 0 turns this mark off. */
  highWater: number;
  /** Such messages at or below which withheld acks are released. */
  lowWater: number;
  /** All unsettled messages, taken into a store write or not, at which acks are withheld (default three times highWater). */
  ceilingWater?: number;
  /** Unsettled readings no store write has taken yet at which acks are withheld; 0 or absent: no such mark. */
  highReadings?: number;
  /** Unsettled readings at or below which withheld acks are released (default half the mark). */
  lowReadings?: number;
  /** All unsettled readings, taken into a store write or not, at which acks are withheld (default three times highReadings). */
  ceilingReadings?: number;
  /** Journal bytes at which acks are withheld; 0 or absent: no budget. */
  budgetBytes?: number;
  /** Told when the gate closes (true) and opens again (false). */
  onChange?: (paused: boolean, reason?: PauseReason) => void;
}

type GateJournal = Pick<Journal, 'backlog' | 'whenDrained'> & Partial<Pick<Journal, 'bytes' | 'readings' | 'untakenReadings' | 'untakenBacklog'>>;

export class AckGate {
  private held: Array<() => void> = [];
  private paused = false;
  private reason: PauseReason | undefined;
  private since: number | undefined;
  private readonly high: number;
  private readonly low: number;
  private readonly budget: number;
  private readonly highReadings: number;
  private readonly lowReadings: number;
  private readonly ceiling: number;
  /** Below this, after the ceiling was reached, acks go out again. */
  private readonly ceilingLow: number;
  /** The same two for all unsettled messages. */
  private readonly ceilingMessages: number;
  private readonly ceilingMessagesLow: number;

  constructor(private readonly journal: GateJournal, private readonly opts: AckGateOptions) {
    this.high = opts.highWater > 0 ? opts.highWater : Infinity;
    // With no messages mark, how many messages are unsettled is no reason to stay paused (a pause from
    // the readings mark or the budget would otherwise last until every message had settled).
    this.low = this.high === Infinity ? Infinity : Math.max(0, Math.min(opts.lowWater, this.high - 1));
    this.ceilingMessages = this.high === Infinity ? Infinity : Math.max(this.high, opts.ceilingWater ?? 3 * this.high);
    this.ceilingMessagesLow = this.ceilingMessages === Infinity ? Infinity : this.ceilingMessages - (this.high - this.low);
    this.highReadings = opts.highReadings && opts.highReadings > 0 && journal.readings ? opts.highReadings : Infinity;
    const lowReadings = opts.lowReadings ?? Math.floor(this.highReadings / 2);
    this.lowReadings = Math.max(0, Math.min(lowReadings, this.highReadings - 1));
    this.ceiling = this.highReadings === Infinity ? Infinity : Math.max(this.highReadings, opts.ceilingReadings ?? 3 * this.highReadings);
    this.ceilingLow = this.ceiling === Infinity ? Infinity : this.ceiling - (this.highReadings - this.lowReadings);
    this.budget = opts.budgetBytes && opts.budgetBytes > 0 ? opts.budgetBytes : Infinity;
  }

  /** Acknowledges now, or once the backlog has drained to the low-water mark. */
  admit(ack: () => void): void {
    if (!this.check()) return ack();
    this.held.push(ack);
  }

  /**
   * Closes the gate when a mark is reached; true while it is closed. Called after
   * every journal write, so a protocol without acks pauses too.
   */
  check(): boolean {
    if (this.paused) return true;
    const reason = this.backlogFull() || this.untaken() >= this.highReadings || this.readings() >= this.ceiling ? 'backlog' : this.bytes() >= this.budget ? 'disk' : undefined;
    if (!reason) return false;
    this.paused = true;
    this.reason = reason;
    this.since = Date.now();
    this.opts.onChange?.(true, reason);
    this.journal.whenDrained(this.low, this.budget, () => this.release(), this.lowReadings, this.ceilingLow, this.ceilingMessagesLow);
    return this.paused;
  }

  /**
   * Whether the marks or ceilings would be reached with `messages` and
   * `readings` more than the journal holds: what a request/response input has
   * taken this turn but not written yet. Changes nothing (the gate closes once
   * they are written); false with nothing more.
   */
  fullWith(messages: number, readings: number): boolean {
    if (messages === 0 && readings === 0) return false;
    if (this.high !== Infinity) {
      if (this.journal.backlog() + messages >= this.ceilingMessages) return true;
      if ((this.journal.untakenBacklog ? this.journal.untakenBacklog() : this.journal.backlog()) + messages >= this.high) return true;
    }
    if (this.highReadings === Infinity) return false;
    return this.untaken() + readings >= this.highReadings || this.readings() + readings >= this.ceiling;
  }

  /** Acks withheld right now. */
  waiting(): number {
    return this.held.length;
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** Why the gate is closed, and since when (epoch ms). */
  pauseState(): { reason: PauseReason; since: number } | undefined {
    return this.paused && this.reason && this.since !== undefined ? { reason: this.reason, since: this.since } : undefined;
  }

  /**
   * The input is closing: withheld acks go out now. Their messages are in the
   * journal, and the next start replays whatever is unsettled; held back, they
   * would stall the device's connection until its keepalive runs out.
   */
  close(): void {
    this.paused = true;
    this.release();
  }

  /** The messages mark (counting what no write has taken) or the ceiling on all unsettled messages is reached. */
  private backlogFull(): boolean {
    if (this.high === Infinity) return false;
    const all = this.journal.backlog();
    if (all >= this.ceilingMessages) return true;
    return (this.journal.untakenBacklog ? this.journal.untakenBacklog() : all) >= this.high;
  }

  private readings(): number {
    return this.highReadings !== Infinity ? this.journal.readings!() : 0;
  }

  /** Readings no store write has taken yet (all unsettled ones for a journal that does not tell). */
  private untaken(): number {
    if (this.highReadings === Infinity) return 0;
    return this.journal.untakenReadings ? this.journal.untakenReadings() : this.journal.readings!();
  }

  private bytes(): number {
    return this.journal.bytes ? this.journal.bytes() : 0;
  }

  private release(): void {
    if (!this.paused) return;
    this.paused = false;
    this.reason = undefined;
    this.since = undefined;
    const held = this.held;
    this.held = [];
    this.opts.onChange?.(false);
    for (const ack of held) ack();
  }
}
