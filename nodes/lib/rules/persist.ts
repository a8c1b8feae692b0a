/**
 * Durable engine state in <data folder>/alerts/state/: a snapshot (written whole
 * every few seconds, atomically) and an append-only log of what changed since.
 * A transition is appended with a synchronous write(2) before the node sends it
 * on, so it survives kill -9; durations that moved without a transition are
 * appended once a second. Loading replays the log over the snapshot; a torn last
 * line (the process died mid-write) is skipped.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { EngineChanges, EngineState } from './engine';
import type { SlotJson } from './slot';
import type { AlertEvent, AlertRecord } from './types';
import { writeFileAtomic } from '../fs-atomic';

interface Snapshot {
  logSeq: number;
  state: EngineState;
}

type LogLine = { s: SlotJson } | { x: [string, string] } | { a: AlertRecord } | { ra: string } | { e: AlertEvent };

export class StateLog {
  readonly dir: string;
  private seq = 0;
  private fd: number | undefined;
  private bytes = 0;
  private unsynced = false;

  constructor(dataDir: string, private readonly maxLogBytes = 8 * 1024 * 1024) {
    this.dir = join(dataDir, 'alerts', 'state');
    mkdirSync(this.dir, { recursive: true });
  }

  private logFile(seq: number): string {
    return join(this.dir, `log-${seq}.jsonl`);
  }

  private snapshotFile(): string {
    return join(this.dir, 'snapshot.json');
  }

  /** The saved state (snapshot plus log), or undefined on a first start. */
  load(): EngineState | undefined {
    let snap: Snapshot | undefined;
    if (existsSync(this.snapshotFile())) snap = JSON.parse(readFileSync(this.snapshotFile(), 'utf8')) as Snapshot;
    this.seq = snap?.logSeq ?? 0;
    const state: EngineState = snap?.state ?? { version: 1, savedAt: 0, devices: [], slots: [], records: [], events: [], activated: {} };
    const file = this.logFile(this.seq);
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n') : [];
    if (!snap && lines.length === 0) {
      this.open();
      return undefined;
    }
    const slots = new Map(state.slots.map((s) => [`${s.r}\u0000${s.d}`, s]));
    const records = new Map(state.records.map((r) => [r.id, r]));
    const events = [...state.events];
    for (const line of lines) {
      if (!line) continue;
      let rec: LogLine;
      try {
        rec = JSON.parse(line) as LogLine;
      } catch {
        continue;
      }
      if ('s' in rec) slots.set(`${rec.s.r}\u0000${rec.s.d}`, rec.s);
      else if ('x' in rec) slots.delete(`${rec.x[0]}\u0000${rec.x[1]}`);
      else if ('a' in rec) records.set(rec.a.id, rec.a);
      else if ('ra' in rec) records.delete(rec.ra);
      else if ('e' in rec) events.push(rec.e);
    }
    this.open();
    return { ...state, slots: [...slots.values()], records: [...records.values()], events: events.slice(-2000) };
  }

  private open(): void {
    this.fd = openSync(this.logFile(this.seq), 'a', 0o600);
    this.bytes = 0;
    // Logs of older sequences are leftovers of a snapshot that finished.
    for (const f of readdirSync(this.dir)) {
      const m = /^log-(\d+)\.jsonl$/.exec(f);
      if (m && Number(m[1]) !== this.seq) unlinkSync(join(this.dir, f));
    }
  }

  /** Appends changes; true when the log has grown enough to want a snapshot. */
  append(c: EngineChanges, events: AlertEvent[] = []): boolean {
    if (this.fd === undefined) throw new Error('state log is not open');
    const lines: string[] = [];
    for (const s of c.slots) lines.push(JSON.stringify({ s }));
    for (const x of c.dropped) lines.push(JSON.stringify({ x }));
    for (const a of c.records) lines.push(JSON.stringify({ a }));
    for (const ra of c.removedRecords) lines.push(JSON.stringify({ ra }));
    for (const e of events) lines.push(JSON.stringify({ e }));
    if (lines.length === 0) return false;
    const text = `${lines.join('\n')}\n`;
    writeSync(this.fd, text);
    this.bytes += text.length;
    this.unsynced = true;
    return this.bytes > this.maxLogBytes;
  }

  /** Forces what was appended to the disk (power loss); kill -9 needs only the write. */
  sync(): void {
    if (this.fd !== undefined && this.unsynced) {
      fsyncSync(this.fd);
      this.unsynced = false;
    }
  }

  /** Writes the whole state and starts a new, empty log. */
  snapshot(state: EngineState): void {
    const next = this.seq + 1;
    writeFileAtomic(this.snapshotFile(), JSON.stringify({ logSeq: next, state } satisfies Snapshot));
    const old = this.fd;
    const oldSeq = this.seq;
    this.seq = next;
    this.fd = openSync(this.logFile(next), 'a', 0o600);
    this.bytes = 0;
    this.unsynced = false;
    if (old !== undefined) closeSync(old);
    try {
      unlinkSync(this.logFile(oldSeq));
    } catch {
      // already gone
    }
  }

  close(): void {
    if (this.fd !== undefined) {
      this.sync();
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
