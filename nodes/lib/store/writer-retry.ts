/**
 * When a DurableWriter tries its spool again: a backoff that doubles from
 * retryMs up to maxRetryMs, with jitter so that the writers of several
 * instances do not all retry together, and back to retryMs once the spool is
 * written.
 */
/** The writer's retry defaults: 500 ms doubling up to 15 s, each delay up to 20 % longer at random. */
export const RETRY_DEFAULTS = { retryMs: 500, maxRetryMs: 15_000, jitter: 0.2 } as const;

export class RetrySchedule {
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private stopped = false;

  constructor(
    private readonly run: () => void,
    private readonly retryMs: number,
    private readonly maxRetryMs: number,
    private readonly jitter: number,
    /** A number in [0, 1): the share of `jitter` added to a delay. */
    private readonly random: () => number = Math.random,
  ) {
    this.delay = retryMs;
  }

  /** A retry is waiting for its time. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** The current delay with its jitter: between it and (1 + jitter) times it. */
  nextDelay(): number {
    return this.delay + this.random() * this.delay * this.jitter;
  }

  /** Schedules a retry after the current delay (or `delay`), unless one is waiting already. */
  schedule(delay = this.nextDelay()): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run();
    }, delay);
    this.timer.unref?.();
  }

  /** The retry failed: the next waits twice as long, up to maxRetryMs. */
  backOff(): void {
    this.delay = Math.min(this.delay * 2, this.maxRetryMs);
    this.schedule();
  }

  reset(): void {
    this.delay = this.retryMs;
  }

  /** Drops a waiting retry; true if there was one. */
  cancel(): boolean {
    if (!this.timer) return false;
    clearTimeout(this.timer);
    this.timer = undefined;
    return true;
  }

  stop(): void {
    this.stopped = true;
    this.cancel();
  }
}
