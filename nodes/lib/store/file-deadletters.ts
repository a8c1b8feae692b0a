/**
 * Dead letters of a store without the embedded database (InfluxDB or
 * VictoriaMetrics as the only store): an append-only JSON-lines file in the
 * data folder, fsynced before a write resolves. A line is a letter
 * (`{"l":{...}}`), a replay mark (`{"m":id,"at":ms}`) or the undoing of one
 * (`{"u":id,"b":body}`); a query reads the file and folds the marks, so the
 * listing, paging and replay routes work as they do on DuckDB. A line torn by
 * a crash (the last one, never fsynced) is skipped.
 *
 * Meant for what dead letters are: rare. Bodies of letters not replayed yet are
 * kept up to a budget (as in DuckDB), beyond it only the excerpt.
 */
import { mkdirSync, promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { BadParameterError, StoreUnavailableError } from '../errors';
import type { DeadLetter, DeadLetterQuery } from './types';
/** Bodies of letters not replayed yet are kept up to this (as in the DuckDB table). */
const DEFAULT_BODY_BUDGET = 256 * 1024 * 1024;

/** An excerpt shorter than this is the whole message (as in the DuckDB table). */
const EXCERPT = 4096;

interface Line {
  l?: DeadLetter;
  m?: number;
  at?: number;
  u?: number;
  b?: string;
}

function bodyOf(l: DeadLetter): string | undefined {
  if (typeof l.body === 'string') return l.body;
  const p = l.payload;
  if (typeof p !== 'string') return undefined;
  const bytes = p.startsWith('base64:') ? Buffer.from(p.slice(7), 'base64') : Buffer.from(p, 'utf8');
  return bytes.length < EXCERPT && !p.endsWith('…') ? bytes.toString('base64') : undefined;
}

export class FileDeadLetters {
  private nextId = 1;
  private bodyBytes = 0;
  private loaded = false;
  /** Appends and reads one at a time, so ids follow the file's order. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly budget = DEFAULT_BODY_BUDGET,
  ) {}

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const p = this.chain.then(work, work);
    this.chain = p.catch(() => undefined);
    return p;
  }

  /** Every letter with its marks folded in, in id order. */
  private async all(): Promise<DeadLetter[]> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StoreUnavailableError(`cannot read the dead letters file ${this.file}: ${(err as Error).message}`);
    }
    const byId = new Map<number, DeadLetter>();
    for (const raw of text.split('\n')) {
      if (raw === '') continue;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        continue; // torn by a crash before its fsync: it was never reported written
      }
      if (line.l && typeof line.l.id === 'number') byId.set(line.l.id, line.l);
      else if (typeof line.m === 'number') {
        const l = byId.get(line.m);
        if (l) {
          l.replayedAt = line.at;
          delete l.body;
        }
      } else if (typeof line.u === 'number') {
        const l = byId.get(line.u);
        if (l) {
          delete l.replayedAt;
          if (typeof line.b === 'string') l.body = line.b;
        }
      }
    }
    return [...byId.values()];
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    mkdirSync(dirname(this.file), { recursive: true });
    await this.cutTornLine();
    const all = await this.all();
    this.nextId = all.reduce((n, l) => Math.max(n, (l.id ?? 0) + 1), 1);
    this.bodyBytes = all.reduce((n, l) => n + (l.replayedAt === undefined && l.body ? l.body.length : 0), 0);
    this.loaded = true;
  }

  /** A last line without its end (a crash while appending, never reported written) goes, so the next append starts a line of its own. */
  private async cutTornLine(): Promise<void> {
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(this.file, 'r+');
      const { size } = await fh.stat();
      let end = size;
      const buf = Buffer.alloc(64 * 1024);
      while (end > 0) {
        const from = Math.max(0, end - buf.length);
        const { bytesRead } = await fh.read(buf, 0, end - from, from);
        const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
        if (nl >= 0) {
          end = from + nl + 1;
          break;
        }
        end = from;
      }
      if (end < size) {
        await fh.truncate(end);
        await fh.datasync();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreUnavailableError(`cannot open the dead letters file ${this.file}: ${(err as Error).message}`);
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  private async append(lines: Line[]): Promise<void> {
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(this.file, 'a');
      await fh.appendFile(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      await fh.datasync();
    } catch (err) {
      throw new StoreUnavailableError(`cannot write the dead letters file ${this.file}: ${(err as Error).message}`);
    } finally {
      await fh?.close().catch(() => undefined);
    }
  }

  open(): Promise<void> {
    return this.serial(() => this.load());
  }

  write(letters: DeadLetter[]): Promise<void> {
    return this.serial(async () => {
      await this.load();
      const lines: Line[] = [];
      let id = this.nextId;
      let bytes = this.bodyBytes;
      for (const l of letters) {
        const body = bodyOf(l);
        const keep = body !== undefined && bytes + body.length <= this.budget;
        if (keep) bytes += body.length;
        const { replayable: _r, replayedAt: _p, ...rest } = l;
        const kept: DeadLetter = { ...rest, id: id++, ts: Number.isFinite(l.ts) ? Math.round(l.ts) : Date.now() };
        if (keep) kept.body = body;
        else delete kept.body;
        lines.push({ l: kept });
      }
      await this.append(lines);
      this.nextId = id;
      this.bodyBytes = bytes;
    });
  }

  query(q: DeadLetterQuery): Promise<DeadLetter[]> {
    if (!Number.isSafeInteger(q.limit) || q.limit < 1) throw new BadParameterError('limit', `"limit" must be a whole number of at least 1, got ${q.limit}`);
    return this.serial(async () => {
      const desc = q.order !== 'asc';
      const codes = q.codes?.length ? new Set(q.codes) : undefined;
      const ids = q.ids ? new Set(q.ids) : undefined;
      const after = q.after;
      const out = (await this.all()).filter((l) => {
        if (q.device !== undefined && l.device !== q.device) return false;
        if (codes && !codes.has(l.code)) return false;
        if (q.from !== undefined && l.ts < q.from) return false;
        if (q.to !== undefined && l.ts >= q.to) return false;
        if (after) {
          const cmp = l.ts === after.ts ? l.id! - after.id : l.ts - after.ts;
          if (desc ? cmp >= 0 : cmp <= 0) return false;
        }
        if (q.replayed !== undefined && (l.replayedAt !== undefined) !== q.replayed) return false;
        if (q.replayable !== undefined && (typeof l.body === 'string') !== q.replayable) return false;
        if (ids && !ids.has(l.id!)) return false;
        return true;
      });
      out.sort((a, b) => (a.ts === b.ts ? a.id! - b.id! : a.ts - b.ts) * (desc ? -1 : 1));
      return out.slice(0, q.limit).map((l) => {
        const { body, ...rest } = l;
        const shown: DeadLetter = { ...rest, replayable: typeof body === 'string' };
        if (q.withBody && typeof body === 'string') shown.body = body;
        return shown;
      });
    });
  }

  /** Marks the letters not replayed yet; resolves the ids this call marked. */
  markReplayed(ids: number[], at: number): Promise<number[]> {
    return this.serial(async () => {
      const want = new Set(ids);
      const open = (await this.all()).filter((l) => want.has(l.id!) && l.replayedAt === undefined);
      if (open.length === 0) return [];
      await this.append(open.map((l) => ({ m: l.id!, at })));
      for (const l of open) this.bodyBytes -= l.body?.length ?? 0;
      return open.map((l) => l.id!).sort((a, b) => a - b);
    });
  }

  unmarkReplayed(letters: Array<{ id: number; body?: string }>): Promise<void> {
    return this.serial(async () => {
      if (letters.length === 0) return;
      await this.append(letters.map((l) => (l.body === undefined ? { u: l.id } : { u: l.id, b: l.body })));
      for (const l of letters) this.bodyBytes += l.body?.length ?? 0;
    });
  }
}
