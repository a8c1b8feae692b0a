/**
 * Backpressure on an input: acknowledgements wait while too many journaled
 * messages are still unsettled. Brokers send a client only a bounded window of
 * unacknowledged QoS 1/2 messages (and aedes reads a client's next packets only
 * once the current ones are acknowledged), so withheld acks slow the devices
 * down over TCP instead of letting the runtime queue without bound.
 *
 * Hysteresis: once the backlog reaches the high-water mark, acks are held until
 * it is down to the low-water mark, then released in arrival order.
 */
import type { Journal } from './journal';

export interface AckGateOptions {
  /** Unsettled messages at which acks are withheld; 0 turns backpressure off. */
  highWater: number;
  /** Unsettled messages at or below which withheld acks are released. */
  lowWater: number;
  /** Told when the gate closes (true) and opens again (false). */
  onChange?: (paused: boolean) => void;
}

export class AckGate {
  private held: Array<() => void> = [];
  private paused = false;
  private readonly high: number;
  private readonly low: number;

  constructor(private readonly journal: Pick<Journal, 'backlog' | 'whenBacklogAtMost'>, private readonly opts: AckGateOptions) {
    this.high = opts.highWater > 0 ? opts.highWater : Infinity;
    this.low = Math.max(0, Math.min(opts.lowWater, this.high - 1));
  }

  /** Acknowledges now, or once the backlog has drained to the low-water mark. */
  admit(ack: () => void): void {
    if (!this.paused && this.backlog() < this.high) return ack();
    this.held.push(ack);
    if (this.paused) return;
    this.paused = true;
    this.opts.onChange?.(true);
    this.journal.whenBacklogAtMost(this.low, () => this.release());
  }

  /** Acks withheld right now. */
  waiting(): number {
    return this.held.length;
  }

  isPaused(): boolean {
    return this.paused;
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

  private backlog(): number {
    return this.journal.backlog();
  }

  private release(): void {
    if (!this.paused) return;
    this.paused = false;
    const held = this.held;
    this.held = [];
    this.opts.onChange?.(false);
    for (const ack of held) ack();
  }
}
