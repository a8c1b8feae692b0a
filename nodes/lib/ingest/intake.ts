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
import { Journal } from '../journal/journal';
import type { AckGate } from '../journal/gate';
import { JournalError } from '../errors';
import { DEFAULT_HIGH_WATER, DEFAULT_JOURNAL_BUDGET, DEFAULT_RETRY, type IntakeItem, type IntakeOptions, type IntakeStats, type RefusalReason, type SubmitResult } from './intake-options';
import { registerIntake, unregisterIntake } from './intake-registry';
import { RECORD_ENCODER, type Received } from './record';
import { IntakeReplay } from './intake-replay';
import { IdleCut } from './idle-cut';
import { registerJournal, unregisterJournal } from './receipts';
import { refusalError } from './refusal';
import { UnsettledAges } from './unsettled-ages';
import { intakeGate, intakeStatsOf } from './intake-gate';

export { DEFAULT_HIGH_WATER, DEFAULT_JOURNAL_BUDGET, type IntakeItem, type IntakeOptions, type IntakeStats, type RefusalReason, type SubmitResult } from './intake-options';
export { findIntake, intakeStats } from './intake-registry';

/** Journal record header (nodes/lib/journal/segment-file.ts), counted when a submit checks the budget. */
const RECORD_HEADER = 16;
/** How often an input's journal is looked at for being idle (cutIfIdle()): a timer of its own, off the hot path. */
const IDLE_CHECK_MS = 30_000;


interface Submission {
  start: number;
  count: number;
  /** Readings each of its records holds (its weight for the readings mark). */
  each: number;
  resolve(r: SubmitResult): void;
}

export class Intake {
  readonly id: string;
  readonly name: string;
  readonly budgetBytes: number;
  private readonly opts: IntakeOptions;
  // Built again before a new try when the journal could not be opened: a failed open leaves it half read.
  private journal: Journal;
  private gate: AckGate;
  private readonly highWater: number;
  private readonly highWaterReadings: number;
  private state: 'new' | 'unopened' | 'open' | 'closed' = 'new';
  /** Why the journal could not be opened, while state is 'unopened': what a submit is refused with. */
  private openError: JournalError | undefined;
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
  /**
   * Records and readings of this turn's submissions, not journaled yet: counted
   * with the journal's, so the requests of one turn (one per client at once)
   * do not each pass the mark the journal alone has not reached.
   */
  private queuedRecords = 0;
  private queuedReadings = 0;
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
  /** What is sent again from the journal: at start, and after a deploy (resend()). */
  private replays: IntakeReplay;
  /** The age of the oldest unsettled message. */
  private ages = new UnsettledAges();
  private received = 0;
  private refused = 0;
  private lastError: string | undefined;
  private lastErrorSince = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private idle: IdleCut;

  constructor(opts: IntakeOptions) {
    this.opts = opts;
    this.id = opts.id;
    this.name = opts.name ?? opts.id;
    this.budgetBytes = opts.budgetBytes && opts.budgetBytes > 0 ? opts.budgetBytes : DEFAULT_JOURNAL_BUDGET;
    this.highWater = opts.highWater ?? DEFAULT_HIGH_WATER;
    this.highWaterReadings = opts.highWaterReadings ?? 0;
    this.journal = this.newJournal();
    this.replays = new IntakeReplay(this.journal, opts, (items) => this.emit(items, true), () => this.state === 'open');
    this.idle = new IdleCut(this.journal);
    this.gate = intakeGate(this.id, this.journal, opts, this.highWater, this.highWaterReadings, this.budgetBytes);
  }

  private newJournal(): Journal {
    const segmentBytes = this.opts.segmentBytes ?? Math.min(64 * 1024 * 1024, Math.max(4096, Math.floor(this.budgetBytes / 8)));
    return new Journal({ dir: this.opts.dir, fsync: this.opts.fsync, segmentBytes });
  }

  /**
   * Opens the journal and reads what the last run left unsettled (sent by
   * replay()). Returns how many messages that is. Throws JournalError when the
   * journal cannot be opened; the intake then refuses what it is handed with
   * that reason (submit: reason 'journal', receive: fail) and open() may be
   * called again.
   */
  open(): number {
    if (this.state === 'open' || this.state === 'closed') throw new JournalError(`the intake of ${this.name} was opened before`);
    if (this.state === 'unopened') {
      // A fresh journal: the one that failed may have counted entries it read before failing.
      this.journal = this.newJournal();
      this.replays = new IntakeReplay(this.journal, this.opts, (items) => this.emit(items, true), () => this.state === 'open');
      this.idle = new IdleCut(this.journal);
      this.gate = intakeGate(this.id, this.journal, this.opts, this.highWater, this.highWaterReadings, this.budgetBytes);
    }
    let entries;
    try {
      entries = this.journal.open();
    } catch (err) {
      const e = err instanceof JournalError ? err : new JournalError(`cannot open the journal of ${this.name}: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
      this.journal.close();
      this.state = 'unopened';
      this.openError = e;
      if (this.lastError === undefined) this.lastErrorSince = Date.now();
      this.lastError = e.message;
      throw e;
    }
    this.state = 'open';
    this.openError = undefined;
    this.lastError = undefined;
    registerJournal(this.id, this.journal);
    registerIntake(this);
    const idleMs = this.opts.idleCheckMs ?? IDLE_CHECK_MS;
    if (idleMs > 0) {
      this.idleTimer = setInterval(() => this.cutIfIdle(), idleMs);
      this.idleTimer.unref();
    }
    this.replays.read(entries, this.ages);
    return entries.length;
  }

  /** Sends what the last run left unsettled, in chunks; later calls do nothing. */
  replay(): void {
    this.replays.replay();
  }

  /**
   * Sends again, as replayed, what is unsettled now and already sent on: a deploy stopped nodes on its way while
   * this input ran on, so what they held, or were sent meanwhile, is gone, and the next start is far. No share is
   * added: whichever copy is stored settles the entry, and the idempotent store keeps a reading once. Resolves with
   * how many messages it sent (the journal is read off the event loop); rejects with JournalError when it cannot be
   * read.
   */
  async resend(): Promise<number> {
    if (this.state !== 'open') return 0;
    return this.replays.resend(this.outbox);
  }

  /**
   * A message from a protocol with acknowledgements. It is journaled with the
   * rest of this event-loop turn (or at flush()); then ack() runs, at once or
   * when the gate opens. If the journal cannot be written, fail(err) runs
   * instead and ack() never does.
   */
  receive(rec: Received, ack?: () => void, fail?: (err: Error) => void, early = false): void {
    if (this.state !== 'open') {
      fail?.(this.openError ?? new JournalError(`${this.name} is not taking messages (it is ${this.state === 'new' ? 'not open yet' : 'closed'})`));
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
   * journal write of this turn is done. `readings`: how many readings the
   * records hold in all (their weight for the readings mark, default one each),
   * known before they are journaled. Throws for a record that can never be
   * journaled (protocol details over 64 KiB); then `done` never runs.
   */
  submitThen(recs: readonly Received[], done: (result: SubmitResult) => void, readings = recs.length): void {
    if (this.state !== 'open') return done(this.openError ? this.refuse('journal', this.openError) : this.refuse('closed'));
    if (recs.length === 0) return done({ accepted: [] });
    if (this.gate.check()) return done(this.refuse(this.gate.pauseState()?.reason ?? 'backlog'));
    // What this turn took already counts: past a mark with it, the next request waits (503) like the ones after the write.
    if (this.gate.fullWith(this.queuedRecords, this.queuedReadings)) return done(this.refuse('backlog'));
    let size = 0;
    for (const r of recs) size += RECORD_HEADER + RECORD_ENCODER.size(r);
    if (this.journal.bytes() + size > this.budgetBytes) return done(this.refuse('disk'));
    const each = Math.max(1, Math.ceil(readings / recs.length));
    this.submissions.push({ start: this.recs.length, count: recs.length, each, resolve: done });
    this.queuedRecords += recs.length;
    this.queuedReadings += each * recs.length;
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
    this.queuedRecords = 0;
    this.queuedReadings = 0;
    let first: number;
    try {
      first = this.journal.appendGroup(recs, RECORD_ENCODER);
    } catch (err) {
      const e = err instanceof JournalError ? err : new JournalError(`cannot write the journal of ${this.name}: ${err instanceof Error ? err.message : String(err)}`, {}, { cause: err });
      if (this.lastError === undefined) this.lastErrorSince = Date.now();
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
    // Weighed before the gate looks: a write that reaches the readings mark pauses the input now.
    for (const s of submissions) {
      if (s.each > 1) for (let k = 0; k < s.count; k++) this.journal.weigh(first + s.start + k, s.each);
    }
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

  /** Run by a timer, never on a message's way: cuts off the journal segment of an idle input (idle-cut.ts). */
  cutIfIdle(): void {
    if (this.state !== 'open') return;
    this.idle.look(this.recs.length !== 0);
  }

  /** The input pauses (acks held, submits refused) while this is true. */
  isPaused(): boolean {
    return this.gate.isPaused();
  }

  stats(): IntakeStats {
    const counts = { id: this.id, name: this.name, budgetBytes: this.budgetBytes, received: this.received, refused: this.refused };
    return intakeStatsOf(counts, this.state === 'open', this.journal, this.gate, this.oldestUnsettledAt(), this.lastError, this.lastErrorSince);
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
    this.openError = undefined;
    if (!wasOpen) return;
    clearInterval(this.idleTimer);
    this.flush();
    this.gate.close();
    unregisterJournal(this.id, this.journal);
    unregisterIntake(this);
    this.replays.clear();
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
    const error = refusalError({
      name: this.name,
      reason,
      retryAfterMs,
      readings: () => this.journal.readings() + this.queuedReadings,
      backlog: () => this.journal.backlog() + this.queuedRecords,
      highWater: this.highWater,
      highWaterReadings: this.highWaterReadings,
      budgetBytes: this.budgetBytes,
      cause,
      unopened: this.state === 'unopened',
    });
    return { refused: reason, retryAfterMs, error };
  }

  private noteAge(seq: number, at: number): void {
    // Drop what is settled now and then, so the list stays as short as the backlog.
    if (this.ages.add(seq, at) > 512) this.oldestUnsettledAt();
  }

  private oldestUnsettledAt(): number | undefined {
    if (this.state !== 'open') return undefined;
    return this.ages.oldest(this.journal.oldestPending());
  }
}
