/**
 * A probe /health may share: a store's check costs a database round trip or an
 * HTTP request (several milliseconds of CPU for DuckDB's committed write),
 * while probes and monitors poll /health every few seconds, several at once.
 * Callers arriving while a probe runs share it, and an answer the caller
 * accepts (a healthy one) serves the next calls for `maxAgeMs`. An answer not
 * reused (a failing one, or an error) is probed again on the next call, so a
 * recovery shows at once; `fresh` skips the reuse when the caller has seen
 * trouble of its own (a write that failed since).
 */

export interface SharedProbeOptions<T> {
  /** How long an accepted answer is reused; 0 probes on every call not sharing one in flight. */
  maxAgeMs: number;
  /** Whether an answer may be reused (default: any). */
  reusable?: (answer: T) => boolean;
  /** Epoch ms (tests move it). */
  now?: () => number;
}

export class SharedProbe<T> {
  private running?: Promise<T>;
  private last?: { answer: T; at: number };
  private readonly now: () => number;

  constructor(
    private readonly probe: () => Promise<T>,
    private readonly opts: SharedProbeOptions<T>,
  ) {
    this.now = opts.now ?? Date.now;
  }

  get(fresh = false): Promise<T> {
    // A call that wants a fresh answer still joins a probe in flight: that one started at most a probe's
    // duration ago, and a second beside it would only queue behind it on the store.
    if (this.running) return this.running;
    const last = this.last;
    if (!fresh && last && this.now() - last.at < this.opts.maxAgeMs) return Promise.resolve(last.answer);
    const at = this.now();
    const run = this.probe().then(
      (answer) => {
        this.last = (this.opts.reusable?.(answer) ?? true) ? { answer, at } : undefined;
        return answer;
      },
      (err: unknown) => {
        this.last = undefined;
        throw err;
      },
    );
    this.running = run.finally(() => {
      this.running = undefined;
    });
    return this.running;
  }
}
