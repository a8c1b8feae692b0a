/**
 * Listening again on a port that was in use (EADDRINUSE) when a listener started: the program or node holding it
 * may let it go (a service stopped, the other node redeployed to another port), and a listener that gave up would
 * stay down until the next deploy or restart. Any other refusal (EACCES on a low port, an address this machine
 * does not have) will not change by waiting, so it is not tried again.
 */

/** The first wait; each refusal doubles it up to RETRY_CAP_MS, so a port held for good costs a try every half minute. */
export const RETRY_FIRST_MS = 1000;
export const RETRY_CAP_MS = 30_000;

export function isPortInUse(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
}

/** The waits between tries of one listener; stop() cancels the next try, so a closed node leaves no timer behind. */
export class PortRetry {
  private delay: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Refusals so far: 0 until the port is first found in use. */
  refusals = 0;

  constructor(firstMs = RETRY_FIRST_MS, private readonly capMs = RETRY_CAP_MS) {
    this.delay = firstMs;
  }

  /** Runs `again` after the next wait; never once stopped. */
  after(again: () => void): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.refusals++;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.capMs);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) again();
    }, wait);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
