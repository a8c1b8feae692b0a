/**
 * When the DuckDB store runs its retention passes (duckdb-retention.ts): every
 * `everyMs` while it is open, and never at open. Report and invoice nodes
 * register their holds on raw rows (holdRaw) once the store exists; a pass
 * before them would delete rows of a period they still have to produce. So the
 * first pass runs when the caller says the holds are registered (the runtime:
 * once its flows have started) or, failing that, at the first tick.
 */
export class RetentionTimer {
  private timer?: NodeJS.Timeout;
  /** A pass ran since start(). */
  private passed = false;
  /** holdsRegistered() was called; kept across a close and open. */
  private holdsReady = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly everyMs: number,
  ) {}

  start(): void {
    if (this.timer) return;
    this.passed = false;
    this.timer = setInterval(() => void this.run(), this.everyMs);
    this.timer.unref?.();
    if (this.holdsReady) void this.run();
  }

  holdsRegistered(): void {
    this.holdsReady = true;
    if (this.timer && !this.passed) void this.run();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private run(): Promise<void> {
    this.passed = true;
    // A failed pass is tried again at the next tick; the store's health tells about a failing database.
    return this.pass().catch(() => undefined);
  }
}
