/**
 * The intake every input protocol goes through: received messages are
 * journaled (the messages of one event-loop turn with one write) before they
 * are acknowledged or answered, acknowledgements wait while the pipeline is
 * behind or the journal is at its disk budget (backpressure), and whatever the
 * last run left unsettled is replayed on start.
 *
 * Two ways in:
 * - receive(rec, ack, fail) for protocols with acknowledgements (MQTT): ack()
 *   runs once the message is durable and the gate lets it through; fail(err)
 *   runs instead when the journal cannot be written (the sender must resend).
 *   A transport that holds acknowledgements back itself until the write (a
 *   corked socket) passes `early`: ack() then runs as soon as the gate lets it
 *   through, and an ack the gate still holds when the write fails never runs.
 * - submit(recs) for request/response protocols (HTTP, CoAP) that must answer
 *   now: resolves { accepted: seqs } once the records are durable, or
 *   { refused, retryAfterMs } at once when the input cannot take them.
 *
 * Journaled messages leave through `emit` in arrival order, a turn at a time.
 * No Node-RED here: nodes/shared/intake.ts is the glue for input nodes.
 */
import { Journal, type FsyncPolicy } from '../journal/journal';
import { AckGate, type PauseReason } from '../journal/gate';
import { BackpressureError, JournalError } from '../errors';
import { decodeRecord, RECORD_ENCODER, receivedAtOf, type Received } from './record';
import { registerJournal, unregisterJournal } from './receipts';

/** Default disk budget of one input's journal: 1 GiB. */
export const DEFAULT_JOURNAL_BUDGET = 1024 * 1024 * 1024;
export const DEFAULT_HIGH_WATER = 5000;
/** Journal record header (nodes/lib/journal/journal.ts), counted when a submit checks the budget. */
const RECORD_HEADER = 16;

/** A journaled message and its sequence number in the input's journal. */
export interface IntakeItem {
  rec: Received;
  seq: number;
}

export type RefusalReason = 'backlog' | 'disk' | 'journal' | 'closed';

export type SubmitResult = { accepted: number[] } | { refused: RefusalReason; retryAfterMs: number; error: BackpressureError };

export interface IntakeOptions {
  /** The input node's id: names the journal in receipts and in stats. */
  id: string;
  /** For messages and /health (the node's name, or its type). */
  name?: string;
  /** The journal's folder. */
  dir: string;
  /** Journal bytes at which the input pauses (default 1 GiB). */
  budgetBytes?: number;
  /** Unsettled messages at which the input pauses (default 5000; 0: no mark). */
  highWater?: number;
  /** Unsettled messages at or below which it resumes (default half the high-water mark). */
  lowWater?: number;
  /**
   * Unsettled readings at which the input pauses (default and 0: no such mark);
   * a message counts as one until decode weighs it (weighReceipt).
   */
  highWaterReadings?: number;
  /** Unsettled readings at or below which it resumes (default half that mark). */
  lowWaterReadings?: number;
  fsync?: FsyncPolicy;
  /** Journal segment size; default an eighth of the budget, at most 64 MiB. */
  segmentBytes?: number;
  /** Messages per emit() call when replaying. */
  replayChunk?: number;
  /** What a refusal tells the sender to wait, per reason (ms). */
  retryAfterMs?: Partial<Record<RefusalReason, number>>;
  /** Journaled messages, in order; `replayed` for what the last run left unsettled. */
  emit(items: IntakeItem[], replayed: boolean): void;
  /** An unsettled record of the last run that cannot be read; default: settled (it can never be processed). */
  unreadable?(seq: number, data: Buffer, err: Error): void;
  /** The gate closed (true, with why) or opened again (false). */
  onPause?(paused: boolean, reason?: PauseReason): void;
  /** A journal write failed; nothing of that turn was acknowledged or accepted. */
  onWriteError?(err: Error): void;
  /** The first write that worked after a failure. */
  onRecovered?(): void;
  /** emit() threw (a bug downstream); the messages stay journaled and replay at the next start. */
  onEmitError?(err: unknown): void;
}

/** What /health and status show of an input (names agreed in the team notes). */
export interface IntakeStats {
  id: string;
  name?: string;
  /** Journal bytes on disk. */
  bytes: number;
  budgetBytes: number;
  /** Journaled messages not settled yet. */
  pending: number;
  /** Readings in them (a message counts as one until it is decoded). */
  pendingReadings: number;
  /** When the oldest unsettled message was received (epoch ms). */
  oldestUnsettledAt?: number;
  paused: boolean;
  /** When the gate closed (epoch ms). */
  pausedSince?: number;
  pauseReason?: PauseReason;
  /** Acknowledgements held by the gate. */
  heldAcks: number;
  /** Messages journaled since start (replays not counted). */
  received: number;
  /** submit() calls refused since start. */
  refused: number;
  /** The last journal write failure, while writes fail. */
  lastError?: string;
}

const DEFAULT_RETRY: Record<RefusalReason, number> = { backlog: 1000, disk: 5000, journal: 5000, closed: 1000 };

const intakes = new Map<string, Intake>();

/** Stats of every open intake in this process (for /health and /metrics). */
export function intakeStats(): IntakeStats[] {
  return [...intakes.values()].map((i) => i.stats());
}

/** The open intake with this id (its input node's id): dead-letter replays go back in through it. */
export function findIntake(id: string): Intake | undefined {
  return intakes.get(id);
}

interface Submission {
  start: number;
  count: number;
  resolve(r: SubmitResult): void;
}

export class Intake {
  readonly id: string;
  readonly name: string;
  readonly budgetBytes: number;
  private readonly opts: IntakeOptions;
  private readonly journal: Journal;
  private readonly gate: AckGate;
  private readonly highWater: number;
  private readonly highWaterReadings: number;
  private state: 'new' | 'open' | 'closed' = 'new';
  // The current turn: records, and per record its ack and failure callbacks.
  private recs: Received[] = [];
  private acks: Array<(() => void) | undefined> = [];
  private fails: Array<((err: Error) => void) | undefined> = [];
  /**
   * Acks admitted before the write (early) share their turn's mark, so that one
   * the gate still holds never runs if that write fails.
   */
  private early: { dropped: boolean } | undefined;
  private submissions: Submission[] = [];
  private scheduled = false;
  private readonly flushNow = () => {
    this.scheduled = false;
    this.journalTurn();
    this.emitOutbox();
  };
  /**
   * Journaled messages not sent on yet. A transport that ends its turns early
   * (the external broker's window) journals several groups per event-loop turn;
   * they leave together at its end, as one batch message instead of one per group.
   */
  private outbox: IntakeItem[] = [];
  private outboxScheduled = false;
  private readonly emitOutboxNow = () => {
    this.outboxScheduled = false;
    this.emitOutbox();
  };
  private toReplay: IntakeItem[] = [];
  private unreadableEntries: Array<{ seq: number; data: Buffer; error: Error }> = [];
  /** Pairs (first seq of a journal write, receive time), ascending: the age of the oldest unsettled message. */
  private ages: number[] = [];
  private agesHead = 0;
  private received = 0;
  private refused = 0;
  private lastError: string | undefined;

  constructor(opts: IntakeOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.name = opts.name ?? opts.id;
    this.budgetBytes = opts.budgetBytes && opts.budgetBytes > 0 ? opts.budgetBytes : DEFAULT_JOURNAL_BUDGET;
    this.highWater = opts.highWater ?? DEFAULT_HIGH_WATER;
    this.highWaterReadings = opts.highWaterReadings ?? 0;
    const segmentBytes = opts.segmentBytes ?? Math.min(64 * 1024 * 1024, Math.max(4096, Math.floor(this.budgetBytes / 8)));
    this.journal = new Journal({ dir: opts.dir, fsync: opts.fsync, segmentBytes });
    this.gate = new AckGate(this.journal, {
      highWater: this.highWater,
      lowWater: opts.lowWater ?? Math.floor(this.highWater / 2),
      highReadings: this.highWaterReadings,
      lowReadings: opts.lowWaterReadings,
      budgetBytes: this.budgetBytes,
      onChange: (paused, reason) => opts.onPause?.(paused, reason),
    });
  }

  /**
   * Opens the journal and reads what the last run left unsettled (sent by
   * replay()). Returns how many messages that is. Throws JournalError when the
   * journal cannot be opened.
   */
  open(): number {
    if (this.state !== 'new') throw new JournalError(`the intake of ${this.name} was opened before`);
    const entries = this.journal.open();
    this.state = 'open';
    registerJournal(this.id, this.journal);
    intakes.set(this.id, this);
    for (const e of entries) {
      try {
        this.toReplay.push({ rec: decodeRecord(e.data), seq: e.seq });
      } catch (err) {
        this.unreadableEntries.push({ seq: e.seq, data: e.data, error: err instanceof Error ? err : new Error(String(err)) });
      }
      this.ages.push(e.seq, receivedAtOf(e.data) ?? Date.now());
    }
    return entries.length;
  }

  /** Sends what the last run left unsettled, in chunks; later calls do nothing. */
  replay(): void {
    const items = this.toReplay;
    const bad = this.unreadableEntries;
    this.toReplay = [];
    this.unreadableEntries = [];
    for (const u of bad) {
      if (this.opts.unreadable) this.opts.unreadable(u.seq, u.data, u.error);
      else this.journal.settle(u.seq);
    }
    const chunk = this.opts.replayChunk ?? 1000;
    for (let i = 0; i < items.length && this.state === 'open'; i += chunk) this.emit(items.length > chunk ? items.slice(i, i + chunk) : items, true);
  }

  /**
   * A message from a protocol with acknowledgements. It is journaled with the
   * rest of this event-loop turn (or at flush()); then ack() runs, at once or
   * when the gate opens. If the journal cannot be written, fail(err) runs
   * instead and ack() never does.
   */
  receive(rec: Received, ack?: () => void, fail?: (err: Error) => void, early = false): void {
    if (this.state !== 'open') {
      fail?.(new JournalError(`${this.name} is not taking messages (it is ${this.state === 'new' ? 'not open yet' : 'closed'})`));
      return;
    }
    this.recs.push(rec);
    this.fails.push(fail);
    if (early && ack) {
      const mark = (this.early ??= { dropped: false });
      this.acks.push(undefined);
      // While the gate is open the ack runs now, before the write that could drop it: no wrapper needed.
      if (!this.gate.check()) ack();
      else this.gate.admit(() => mark.dropped || ack());
    } else {
      this.acks.push(ack);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /**
   * Messages from a request/response protocol. Refused at once (nothing kept)
   * while the input is paused, at its disk budget or closed; otherwise resolves
   * with their sequence numbers once they are durable in the journal. Rejects
   * only for a record that can never be journaled (protocol details over 64 KiB).
   */
  submit(recs: readonly Received[]): Promise<SubmitResult> {
    return new Promise<SubmitResult>((resolve) => this.submitThen(recs, resolve));
  }

  /**
   * submit() with a callback instead of a promise, for inputs that answer every
   * request (HTTP, CoAP): `done` runs once, at once for a refusal, else when the
   * journal write of this turn is done. Throws for a record that can never be
   * journaled (protocol details over 64 KiB); then `done` never runs.
   */
  submitThen(recs: readonly Received[], done: (result: SubmitResult) => void): void {
    if (this.state !== 'open') return done(this.refuse('closed'));
    if (recs.length === 0) return done({ accepted: [] });
    if (this.gate.check()) return done(this.refuse(this.gate.pauseState()?.reason ?? 'backlog'));
    let size = 0;
    for (const r of recs) size += RECORD_HEADER + RECORD_ENCODER.size(r);
    if (this.journal.bytes() + size > this.budgetBytes) return done(this.refuse('disk'));
    this.submissions.push({ start: this.recs.length, count: recs.length, resolve: done });
    for (const r of recs) {
      this.recs.push(r);
      this.acks.push(undefined);
      this.fails.push(undefined);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /**
   * Journals what this turn has received so far, with one write, now. Called at
   * the end of each turn; a transport that must bound a turn (the external
   * broker's window of unacknowledged messages) calls it earlier. What it
   * journals is sent on at the end of the event-loop turn, with the rest of
   * that turn. False when the write failed.
   */
  flush(): boolean {
    const ok = this.journalTurn();
    if (this.outbox.length && !this.outboxScheduled) {
      this.outboxScheduled = true;
      setImmediate(this.emitOutboxNow);
    }
    return ok;
  }

  /** The write behind flush(): what it journals waits in the outbox. */
  private journalTurn(): boolean {
    const recs = this.recs;
    const n = recs.length;
    if (n === 0) return true;
    const acks = this.acks;
    const fails = this.fails;
    const early = this.early;
    const submissions = this.submissions;
    this.recs = [];
    this.acks = [];
    this.fails = [];
    this.early = undefined;
    this.submissions = [];
    let first: number;
    try {
      first = this.journal.appendGroup(recs, RECORD_ENCODER);
    } catch (err) {
      const e = err instanceof JournalError ? err : new JournalError(`cannot write the journal of ${this.name}: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
      this.lastError = e.message;
      if (early) early.dropped = true;
      for (const fail of fails) fail?.(e);
      for (const s of submissions) s.resolve(this.refuse('journal', e));
      this.opts.onWriteError?.(e);
      return false;
    }
    if (this.lastError !== undefined) {
      this.lastError = undefined;
      this.opts.onRecovered?.();
    }
    // Its age for /health counts from now, when it entered this journal: a replayed dead letter keeps the
    // time it first arrived (readings without a time of their own take it), yet it is not stuck.
    this.noteAge(first, Math.max(recs[0].receivedAt, Date.now()));
    this.received += n;
    for (let i = 0; i < n; i++) {
      const ack = acks[i];
      if (ack) this.gate.admit(ack);
    }
    this.gate.check();
    for (const s of submissions) {
      const seqs = new Array<number>(s.count);
      for (let k = 0; k < s.count; k++) seqs[k] = first + s.start + k;
      s.resolve({ accepted: seqs });
    }
    // Closing: journaled and acknowledged, not sent into a flow that is stopping; the next start replays them.
    if (this.state !== 'open') return true;
    const out = this.outbox;
    for (let i = 0; i < n; i++) out.push({ rec: recs[i], seq: first + i });
    return true;
  }

  /** Sends on what was journaled since the last call, in arrival order. */
  private emitOutbox(): void {
    const items = this.outbox;
    if (items.length === 0) return;
    this.outbox = [];
    if (this.state === 'open') this.emit(items, false);
  }

  /** The input pauses (acks held, submits refused) while this is true. */
  isPaused(): boolean {
    return this.gate.isPaused();
  }

  stats(): IntakeStats {
    const pause = this.gate.pauseState();
    const s: IntakeStats = {
      id: this.id,
      name: this.name,
      bytes: this.state === 'open' ? this.journal.bytes() : 0,
      budgetBytes: this.budgetBytes,
      pending: this.state === 'open' ? this.journal.backlog() : 0,
      pendingReadings: this.state === 'open' ? this.journal.readings() : 0,
      paused: pause !== undefined,
      heldAcks: this.gate.waiting(),
      received: this.received,
      refused: this.refused,
    };
    const oldest = this.oldestUnsettledAt();
    if (oldest !== undefined) s.oldestUnsettledAt = oldest;
    if (pause) {
      s.pausedSince = pause.since;
      s.pauseReason = pause.reason;
    }
    if (this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  /**
   * Stops taking messages: what this turn received is journaled and
   * acknowledged (not emitted: the flow is stopping, the next start replays
   * it), acks held by the gate are released (their messages are journaled),
   * and the journal is closed. Stop the transport first so nothing arrives
   * after this.
   */
  close(): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    if (!wasOpen) return;
    this.flush();
    this.gate.close();
    unregisterJournal(this.id, this.journal);
    if (intakes.get(this.id) === this) intakes.delete(this.id);
    this.toReplay = [];
    this.unreadableEntries = [];
    this.outbox = [];
    this.journal.close();
  }

  private emit(items: IntakeItem[], replayed: boolean): void {
    try {
      this.opts.emit(items, replayed);
    } catch (err) {
      this.opts.onEmitError?.(err);
    }
  }

  private refuse(reason: RefusalReason, cause?: Error): SubmitResult {
    this.refused++;
    const retryAfterMs = this.opts.retryAfterMs?.[reason] ?? DEFAULT_RETRY[reason];
    const secs = Math.ceil(retryAfterMs / 1000);
    const why =
      reason === 'backlog'
        ? this.highWaterReadings > 0 && this.journal.readings() >= this.highWaterReadings
          ? `${this.journal.readings()} readings are waiting to be stored (pause mark ${this.highWaterReadings} readings)`
          : `${this.journal.backlog()} messages are waiting to be stored (pause mark ${this.highWater})`
        : reason === 'disk'
          ? `its journal has reached its disk budget of ${formatBytes(this.budgetBytes)}`
          : reason === 'journal'
            ? `its journal cannot be written (${cause?.message ?? 'unknown error'})`
            : 'it is stopping';
    const error = new BackpressureError(`${this.name} cannot take more now: ${why}; retry in ${secs} s`, { reason, retryAfterMs }, cause ? { cause } : undefined);
    return { refused: reason, retryAfterMs, error };
  }

  private noteAge(seq: number, at: number): void {
    this.ages.push(seq, at);
    // Drop what is settled now and then, so the list stays as short as the backlog.
    if (this.ages.length - this.agesHead > 512) this.oldestUnsettledAt();
  }

  private oldestUnsettledAt(): number | undefined {
    if (this.state !== 'open') return undefined;
    const oldest = this.journal.oldestPending();
    if (oldest === undefined) {
      this.ages = [];
      this.agesHead = 0;
      return undefined;
    }
    const a = this.ages;
    let h = this.agesHead;
    while (h + 2 < a.length && a[h + 2] <= oldest) h += 2;
    if (h > 1024) {
      this.ages = a.slice(h);
      h = 0;
    }
    this.agesHead = h;
    return h < this.ages.length ? this.ages[h + 1] : undefined;
  }
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${+(n / (1024 * 1024 * 1024)).toFixed(1)} GiB`;
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}
