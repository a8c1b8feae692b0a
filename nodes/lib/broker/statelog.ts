/**
 * The broker's state on disk: one append-only file of operations (CBOR records
 * framed with their length and a CRC), replayed on open. Operations of one
 * event-loop turn are written together with one synchronous write(2), so once
 * the broker has been told an operation is stored it survives the process being
 * killed (kill -9 included); fsync follows within `fsyncIntervalMs` for power
 * loss. When the file has grown well past the live state, it is rewritten from
 * a snapshot (written beside it, fsynced, then renamed over it), so it stays
 * proportional to what the broker holds, not to its history.
 */
import { closeSync, existsSync, fstatSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { Encoder as EncoderType } from 'cbor-x' with { 'resolution-mode': 'import' };
import { ConfigError } from '../errors';

// cbor-x ships CommonJS too; its types are only declared for ESM.
const { Encoder } = require('cbor-x') as { Encoder: typeof EncoderType };

const HEADER = 8; // u32 length, u32 crc32
const MAX_RECORD = 512 * 1024 * 1024;
const FILE = 'broker-state.log';

export interface StateLogOptions {
  dir: string;
  fsyncIntervalMs?: number;
  /** Rewrite once the file is this many times larger than the last snapshot (and at least `minCompactBytes`). */
  compactFactor?: number;
  minCompactBytes?: number;
}

export class StateLog<Op> {
  private fd: number | undefined;
  private readonly path: string;
  private readonly cbor = new Encoder({ useRecords: false, mapsAsObjects: true });
  private pending: Buffer[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private scheduled = false;
  private dirty = false;
  private fsyncTimer: NodeJS.Timeout | undefined;
  private bytes = 0;
  private snapshotBytes = 0;
  private failed: Error | undefined;

  constructor(private readonly opts: StateLogOptions) {
    this.path = join(opts.dir, FILE);
  }

  /** Reads what is stored, op by op; a torn or corrupt tail (a crash mid-write) ends the replay there. */
  open(apply: (op: Op) => void): { ops: number; truncatedAt?: number } {
    mkdirSync(this.opts.dir, { recursive: true });
    let ops = 0;
    let truncatedAt: number | undefined;
    if (existsSync(this.path)) {
      const buf = readFileSync(this.path);
      let off = 0;
      while (off + HEADER <= buf.length) {
        const len = buf.readUInt32LE(off);
        const crc = buf.readUInt32LE(off + 4);
        if (len > MAX_RECORD || off + HEADER + len > buf.length) break;
        const body = buf.subarray(off + HEADER, off + HEADER + len);
        if (crc32(body) !== crc) break;
        apply(this.cbor.decode(body) as Op);
        ops++;
        off += HEADER + len;
      }
      if (off < buf.length) truncatedAt = off;
      this.bytes = off;
    }
    this.fd = openSync(this.path, 'a+');
    if (truncatedAt !== undefined) {
      // Drop the unreadable tail so new records follow the last good one.
      closeSync(this.fd);
      const good = readFileSync(this.path).subarray(0, truncatedAt);
      this.rewriteWith(good);
    }
    this.snapshotBytes = this.bytes;
    const every = this.opts.fsyncIntervalMs ?? 1000;
    this.fsyncTimer = setInterval(() => this.sync(), every);
    this.fsyncTimer.unref();
    return { ops, truncatedAt };
  }

  /** Appends an op; resolves once it has been written (with the rest of this turn's ops). */
  append(op: Op): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.fd === undefined) return Promise.reject(new ConfigError('the broker state is not open'));
    this.pending.push(this.frame(op));
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return p;
  }

  /** Replaces the file with the ops of a snapshot, if it has grown enough to be worth it. */
  maybeCompact(snapshot: () => Iterable<Op>): void {
    const min = this.opts.minCompactBytes ?? 4 * 1024 * 1024;
    const factor = this.opts.compactFactor ?? 4;
    if (this.bytes < min || this.bytes < this.snapshotBytes * factor) return;
    this.flush();
    const parts: Buffer[] = [];
    for (const op of snapshot()) parts.push(this.frame(op));
    this.rewriteWith(Buffer.concat(parts));
    this.snapshotBytes = this.bytes;
  }

  size(): number {
    return this.bytes;
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0 || this.fd === undefined) return;
    const data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    const waiters = this.waiters;
    this.pending = [];
    this.waiters = [];
    try {
      let off = 0;
      while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
      this.bytes += data.length;
      this.dirty = true;
      for (const w of waiters) w.resolve();
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      for (const w of waiters) w.reject(e);
      // A part written before the failure (a full disk) would hide every later record from the
      // replay: cut it off, and go on with the next turn. If even that fails, stop for good.
      try {
        ftruncateSync(this.fd, this.bytes);
      } catch {
        this.failed = e;
      }
    }
  }

  close(): void {
    this.flush();
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    if (this.fd !== undefined) {
      try {
        fsyncSync(this.fd);
      } catch {
        // closing anyway
      }
      closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private sync(): void {
    if (!this.dirty || this.fd === undefined) return;
    this.dirty = false;
    fsync(this.fd, () => undefined);
  }

  private frame(op: Op): Buffer {
    const body = this.cbor.encode(op);
    const out = Buffer.allocUnsafe(HEADER + body.length);
    out.writeUInt32LE(body.length, 0);
    out.writeUInt32LE(crc32(body), 4);
    body.copy(out, HEADER);
    return out;
  }

  private rewriteWith(data: Buffer): void {
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // it may already be closed (the torn-tail path)
      }
    }
    renameSync(tmp, this.path);
    this.fd = openSync(this.path, 'a+');
    this.bytes = fstatSync(this.fd).size;
  }
}
