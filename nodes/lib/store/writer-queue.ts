/**
 * The readings the DurableWriter (writer.ts) holds in memory until a sink
 * write takes them: the write() calls in order, each taken whole or, when it
 * is larger than one write may be, in parts.
 */
import type { Reading } from '../reading';
import type { Durable, Pending } from './writer-types';

function fieldCount(r: Reading): number {
  let n = 0;
  const f = r?.fields;
  if (typeof f === 'object' && f !== null) for (const k in f) if (Object.prototype.hasOwnProperty.call(f, k)) n++;
  return n;
}

/** Advisory (it lets the input take more): a throwing callback must not stop the write its caller waits on. */
export function tellTaken(p: Pending): void {
  try {
    p.onTaken?.();
  } catch {
    // The readings are still written and their durable callback runs; only the early resume is lost.
  }
}

/** What one write takes: its readings, the calls they come from, and the calls they complete. */
export interface Taken {
  readings: Reading[];
  parts: Pending[];
  finished: Pending[];
}

export class WriteQueue {
  private readonly pending: Pending[] = [];
  private queued_ = 0;

  constructor(
    private readonly maxWrite: number,
    private readonly maxWriteRows: number,
  ) {}

  /** Readings not taken into a write yet. */
  get queued(): number {
    return this.queued_;
  }

  /** Calls not completed yet (an empty call counts until a write completes it). */
  get calls(): number {
    return this.pending.length;
  }

  add(readings: Reading[], durable: Durable, at: number, onTaken: (() => void) | undefined): void {
    this.pending.push({ readings, taken: 0, durable, at, onTaken });
    this.queued_ += readings.length;
  }

  /** When the oldest call with readings not taken yet was added (epoch ms). */
  oldestAt(): number | undefined {
    return this.pending.find((p) => p.taken < p.readings.length)?.at;
  }

  /**
   * Undoes take(): what it took is queued again, in front, as if it had never
   * been taken. The next take tells its calls' taken callbacks again; a journal
   * counts an entry as taken once however often it is told.
   */
  putBack(t: Taken, firstTakenBefore: number): void {
    for (let i = t.finished.length - 1; i >= 0; i--) this.pending.unshift(t.finished[i]);
    // Only the first call of a take can have been taken in part before it; every other one was untouched.
    for (let i = 0; i < t.parts.length; i++) t.parts[i].taken = i === 0 ? firstTakenBefore : 0;
    this.queued_ += t.readings.length;
  }

  /** How many readings of the first queued call a write has taken already. */
  headTaken(): number {
    return this.pending.length ? this.pending[0].taken : 0;
  }

  /** Up to maxWrite queued readings (and maxWriteRows values), the calls they come from, and the calls they complete. */
  take(): Taken {
    const readings: Reading[] = [];
    const parts: Pending[] = [];
    const finished: Pending[] = [];
    let rows = 0;
    while (this.pending.length) {
      const p = this.pending[0];
      if (p.taken === p.readings.length) {
        // An empty call (or one fully taken) completes with this write.
        finished.push(this.pending.shift()!);
        parts.push(p);
        continue;
      }
      if (readings.length >= this.maxWrite || rows >= this.maxWriteRows) break;
      let i = p.taken;
      while (i < p.readings.length && readings.length < this.maxWrite && (rows < this.maxWriteRows || readings.length === 0)) {
        readings.push(p.readings[i]);
        rows += fieldCount(p.readings[i]);
        i++;
      }
      p.taken = i;
      parts.push(p);
      if (p.taken === p.readings.length) finished.push(this.pending.shift()!);
    }
    this.queued_ -= readings.length;
    return { readings, parts, finished };
  }
}
