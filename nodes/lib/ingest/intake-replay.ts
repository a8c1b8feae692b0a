/**
 * What an Intake (intake.ts) sends again from its journal: at start, what the last run left unsettled (read
 * when the journal opens, sent by replay()); after a deploy that stopped nodes on the way, what is unsettled
 * now (resend()). Both go out in chunks, marked replayed. Apart from intake.ts, which takes every message in,
 * as this runs only at start and after a deploy.
 */
import type { Journal, JournalEntry } from '../journal/journal';
import type { IntakeItem, IntakeOptions } from './intake-options';
import { decodeRecord, receivedAtOf } from './record';
import type { UnsettledAges } from './unsettled-ages';

export class IntakeReplay {
  private toReplay: IntakeItem[] = [];
  private unreadableEntries: Array<{ seq: number; data: Buffer; error: Error }> = [];

  /** `send` emits a chunk as replayed; `isOpen` stops the chunks when the intake closes meanwhile. */
  constructor(
    private readonly journal: Journal,
    private readonly opts: IntakeOptions,
    private readonly send: (items: IntakeItem[]) => void,
    private readonly isOpen: () => boolean,
  ) {}

  /** Keeps the entries the journal opened with for replay(), each with its age from when it first arrived. */
  read(entries: readonly JournalEntry[], ages: UnsettledAges): void {
    for (const e of entries) {
      try {
        this.toReplay.push({ rec: decodeRecord(e.data), seq: e.seq });
      } catch (err) {
        this.unreadableEntries.push({ seq: e.seq, data: e.data, error: err instanceof Error ? err : new Error(String(err)) });
      }
      ages.add(e.seq, receivedAtOf(e.data) ?? Date.now());
    }
  }

  /** Sends what read() kept; later calls do nothing. */
  replay(): void {
    const items = this.toReplay;
    const bad = this.unreadableEntries;
    this.toReplay = [];
    this.unreadableEntries = [];
    for (const u of bad) {
      if (this.opts.unreadable) this.opts.unreadable(u.seq, u.data, u.error);
      else this.journal.settle(u.seq);
    }
    this.inChunks(items);
  }

  /**
   * Sends what is unsettled now, but for what waits in `outbox`; resolves with how many messages it sent. What is
   * journaled while the files are read goes on its way as any message does.
   */
  async resend(outbox: readonly IntakeItem[]): Promise<number> {
    // What waits in the outbox leaves with it; this turn's records are not journaled yet.
    const waiting = outbox.length ? new Set(outbox.map((i) => i.seq)) : undefined;
    const items: IntakeItem[] = [];
    for (const e of await this.journal.unsettled()) {
      if (waiting?.has(e.seq)) continue;
      try {
        items.push({ rec: decodeRecord(e.data), seq: e.seq });
      } catch {
        // Unreadable: handed to opts.unreadable at the next start, as any entry that cannot be read back.
      }
    }
    if (!this.isOpen()) return 0;
    this.inChunks(items);
    return items.length;
  }

  clear(): void {
    this.toReplay = [];
    this.unreadableEntries = [];
  }

  private inChunks(items: IntakeItem[]): void {
    const chunk = this.opts.replayChunk ?? 1000;
    for (let i = 0; i < items.length && this.isOpen(); i += chunk) this.send(items.length > chunk ? items.slice(i, i + chunk) : items);
  }
}
