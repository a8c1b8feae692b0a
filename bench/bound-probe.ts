/**
 * Preload (`--require`) for the HTTP rows' bound (BENCH_INPUT_BOUND=1,
 * bench/inputs.ts): which part of a request's time is whose. Between two
 * SIGWINCH (the row's load window, as bench/cpu-profile.ts) it counts, in the
 * process it is loaded into (ours, the stock flow or the bare server):
 * - the main thread's busy share (event-loop utilisation);
 * - per request, request event → answer handed to the socket ('finish');
 * - where the intake is loaded (ours): request → submit, submit → durable
 *   (the turn's journal write done, the answer's callback), durable → finish;
 *   journal writes (calls, records per call, time in write(2)) and fsyncs
 *   (calls, time on the pool).
 * At the second signal it writes JSON to BENCH_BOUND_OUT (whole or not at all). Wraps prototypes at
 * the first signal only, so start-up runs unchanged.
 */
import fs from 'node:fs';
import { Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { writeFileAtomic } from '../nodes/lib/fs-atomic';

const out = process.env.BENCH_BOUND_OUT;
if (out) {
  const T_REQ = Symbol('bound.request');
  const T_SUB = Symbol('bound.submit');
  const T_DUR = Symbol('bound.durable');
  type Timed = { [T_REQ]?: number; [T_SUB]?: number; [T_DUR]?: number };
  let on = false;
  let started = false;
  let elu0 = performance.eventLoopUtilization();
  let t0 = 0;
  const inServer: number[] = [];
  const toSubmit: number[] = [];
  const toDurable: number[] = [];
  const afterDurable: number[] = [];
  const journal = { writes: 0, records: 0, writeMs: 0, maxRecords: 0 };
  const fsyncs = { calls: 0, ms: 0, maxMs: 0 };
  /** The answer each keep-alive socket owes (one request at a time per socket), by the record's `remote`. */
  const owed = new Map<string, ServerResponse & Timed>();

  const patch = () => {
    const emit = Server.prototype.emit as (this: Server, event: string | symbol, ...args: unknown[]) => boolean;
    Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
      if (on && event === 'request') {
        const res = args[1] as ServerResponse & Timed;
        const t = performance.now();
        res[T_REQ] = t;
        res.once('finish', () => {
          const f = performance.now();
          inServer.push(f - t);
          const d = res[T_DUR];
          const s = res[T_SUB];
          if (d !== undefined && s !== undefined) {
            toSubmit.push(s - t);
            toDurable.push(d - s);
            afterDurable.push(f - d);
          }
        });
        const sock = (args[0] as IncomingMessage).socket;
        owed.set(`${sock.remoteAddress}:${sock.remotePort}`, res);
      }
      return emit.call(this, event, ...args);
    } as typeof Server.prototype.emit;
    const origFsync = fs.fsync;
    (fs as { fsync: typeof fs.fsync }).fsync = ((fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      const t = performance.now();
      return origFsync(fd, (err) => {
        if (on) {
          const ms = performance.now() - t;
          fsyncs.calls++;
          fsyncs.ms += ms;
          fsyncs.maxMs = Math.max(fsyncs.maxMs, ms);
        }
        cb(err);
      });
    }) as typeof fs.fsync;
    for (const [file, mod] of Object.entries(require.cache)) {
      const exp = mod?.exports as Record<string, { prototype: Record<string, (...a: unknown[]) => unknown> }> | undefined;
      if (!exp) continue;
      if (file.endsWith('/lib/ingest/intake.js') && exp.Intake) {
        const proto = exp.Intake.prototype;
        const submitThen = proto.submitThen;
        proto.submitThen = function (this: unknown, recs: unknown, doneArg: unknown) {
          const done = doneArg as (r: unknown) => void;
          const remote = (recs as Array<{ remote?: string }>)[0]?.remote;
          const res = remote === undefined ? undefined : owed.get(remote);
          if (!on || !res || res[T_REQ] === undefined || res[T_SUB] !== undefined) return submitThen.call(this, recs, done);
          res[T_SUB] = performance.now();
          return submitThen.call(this, recs, (r: unknown) => {
            res[T_DUR] = performance.now();
            done(r);
          });
        };
      }
      if (file.endsWith('/lib/journal/journal.js') && exp.Journal) {
        const proto = exp.Journal.prototype;
        const appendGroup = proto.appendGroup;
        proto.appendGroup = function (this: unknown, items: unknown, ...rest: unknown[]) {
          if (!on) return appendGroup.call(this, items, ...rest);
          const t = performance.now();
          try {
            return appendGroup.call(this, items, ...rest);
          } finally {
            const n = (items as unknown[]).length;
            journal.writes++;
            journal.records += n;
            journal.maxRecords = Math.max(journal.maxRecords, n);
            journal.writeMs += performance.now() - t;
          }
        };
      }
    }
  };

  const q = (xs: number[], p: number) => {
    if (!xs.length) return 0;
    const s = [...xs].sort((a, b) => a - b);
    return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] * 100) / 100;
  };
  const dist = (xs: number[]) => ({ p50: q(xs, 50), p99: q(xs, 99), mean: xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 100) / 100 : 0 });

  process.on('SIGWINCH', () => {
    if (!on) {
      if (!started) patch();
      started = true;
      on = true;
      elu0 = performance.eventLoopUtilization();
      t0 = performance.now();
      return;
    }
    on = false;
    const elu = performance.eventLoopUtilization(elu0);
    const report = {
      wallMs: Math.round(performance.now() - t0),
      eventLoopBusy: Math.round(elu.utilization * 1000) / 1000,
      requests: inServer.length,
      inServerMs: dist(inServer),
      toSubmitMs: dist(toSubmit),
      toDurableMs: dist(toDurable),
      afterDurableMs: dist(afterDurable),
      journal,
      fsyncs,
    };
    // The row polls for the file: it must never see half of it.
    writeFileAtomic(out, JSON.stringify(report));
  });
}
