/**
 * A probe /health may share: a store's check costs a database round trip or an
 * HTTP request (several milliseconds of CPU for DuckDB's committed write),
 * while probes and monitors poll /health every few seconds, several at once.
 * Callers arriving while a probe runs share it, and an answer the caller
 * accepts (a healthy one) serves the next calls for `maxAgeMs`. An answer not
 * reused (a failing one, or an error) is probed again on the next call, so a
 * recovery shows at once; `fresh` skips the reuse when the caller has seen
 * trouble of its own (a write that failed since). within() bounds the wait:
 * a load balancer's health check must be answered in its own timeout, while a
 * store that takes connections and never answers (influxd stopped with SIGSTOP)
 * holds its probe for the sink's whole request timeout.
 */

/** A probe's answer, or, when it did not come within the wait, since when the probe still running has waited. */
export type ProbeOutcome<T> = { answer: T } | { waitingSince: number };

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
  private runningSince?: number;
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
    this.runningSince = at;
    this.running = run.finally(() => {
      this.running = undefined;
      this.runningSince = undefined;
    });
    return this.running;
  }

  /**
   * get(), waiting at most `waitMs` for the answer. A probe not answered by then keeps running: later calls
   * join it (and are told the same since), and its answer is kept as get() keeps one.
   */
  async within(waitMs: number, fresh = false): Promise<ProbeOutcome<T>> {
    const answer = this.get(fresh);
    const since = this.runningSince;
    if (since === undefined) return { answer: await answer };
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ProbeOutcome<T>>((resolve) => {
      timer = setTimeout(() => resolve({ waitingSince: since }), waitMs);
    });
    try {
      return await Promise.race([answer.then((a) => ({ answer: a })), late]);
    } finally {
      clearTimeout(timer);
    }
  }
}
