/**
 * Dead letters of a store without the embedded database (InfluxDB or
 * VictoriaMetrics as the only store): an append-only JSON-lines file in the
 * data folder, fsynced before a write resolves. A line is a letter
 * (`{"l":{...}}`), a replay mark (`{"m":id,"at":ms}`) or the undoing of one
 * (`{"u":id,"b":body}`). A line torn by a crash (the last one, never fsynced)
 * is cut at open.
 *
 * The file is read once, at open, into an index in memory: per letter its id,
 * time, device, code, replay mark and where its line (and its body's line)
 * lie in the file, about 80 bytes a letter whatever its payload. A query
 * filters and orders the index and reads from the file only the lines of the
 * letters it answers (at most `limit`), so listing, paging and replay cost the
 * same with ten letters or a million. Bodies of letters not replayed yet are
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

/** Chunk of the streaming read at open. */
const CHUNK = 256 * 1024;

interface Line {
  l?: DeadLetter;
  m?: number;
  at?: number;
  u?: number;
  b?: string;
}

function bodyOf(l: DeadLetter): string | undefined {
  // Refused whatever the settings (an empty message, a content type its input never reads): a replay would be refused alike.
  if (l.replayable === false) return undefined;
  if (l.bytes !== undefined) return Buffer.from(l.bytes.buffer, l.bytes.byteOffset, l.bytes.byteLength).toString('base64');
  if (typeof l.body === 'string') return l.body;
  const p = l.payload;
  // An empty excerpt is a body not kept (an impostor's, one the store refused to hold), not an empty body.
  if (typeof p !== 'string' || p === '') return undefined;
  const bytes = p.startsWith('base64:') ? Buffer.from(p.slice(7), 'base64') : Buffer.from(p, 'utf8');
  return bytes.length < EXCERPT && !p.endsWith('…') ? bytes.toString('base64') : undefined;
}

/** Where a line lies in the file. */
interface Span {
  off: number;
  len: number;
}

/** What the index keeps of a letter: enough to filter and order without reading the file. */
interface Entry {
  id: number;
  ts: number;
  device: string;
  code: string;
  line: Span;
  /** Replay mark, epoch ms. */
  replayedAt?: number;
  /** The line holding the letter's current body: its own (`l.body`) or an unmark's (`b`). */
  body?: Span & { unmark: boolean; chars: number };
}

export class FileDeadLetters {
  private nextId = 1;
  private bodyBytes = 0;
  private loaded = false;
  /** Bytes of the file: where the next line starts. */
  private size = 0;
  /** In id order (ids only grow). */
  private entries: Entry[] = [];
  private readonly byId = new Map<number, Entry>();
  /** Device names and codes repeat: one string each. */
  private readonly names = new Map<string, string>();
  /** Bytes read from the file by queries, marks and unmarks (not the index at open): what a query costs. */
  readBytes = 0;
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

  private intern(s: string): string {
    const had = this.names.get(s);
    if (had !== undefined) return had;
    this.names.set(s, s);
    return s;
  }

  /** Folds one line of the file, lying at `span`, into the index. */
  private index(line: Line, span: Span): void {
    const l = line.l;
    if (l && typeof l.id === 'number') {
      const e: Entry = { id: l.id, ts: l.ts, device: this.intern(String(l.device)), code: this.intern(String(l.code)), line: span };
      if (typeof l.replayedAt === 'number') e.replayedAt = l.replayedAt;
      if (typeof l.body === 'string') e.body = { ...span, unmark: false, chars: l.body.length };
      const old = this.byId.get(l.id);
      if (old) this.entries[this.entries.indexOf(old)] = e;
      else this.entries.push(e);
      this.byId.set(l.id, e);
      if (l.id >= this.nextId) this.nextId = l.id + 1;
    } else if (typeof line.m === 'number') {
      const e = this.byId.get(line.m);
      if (e) {
        e.replayedAt = line.at;
        delete e.body;
      }
    } else if (typeof line.u === 'number') {
      const e = this.byId.get(line.u);
      if (e) {
        delete e.replayedAt;
        if (typeof line.b === 'string') e.body = { ...span, unmark: true, chars: line.b.length };
      }
    }
  }

  /** Reads the file once, a chunk at a time, into the index. */
  private async scan(): Promise<void> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new StoreUnavailableError(`cannot read the dead letters file ${this.file}: ${(err as Error).message}`);
    }
    try {
      const buf = Buffer.alloc(CHUNK);
      let pos = 0;
      /** Start of the first unfinished line, and its bytes so far. */
      let start = 0;
      let pending: Buffer[] = [];
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        let from = 0;
        for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
          const bytes = pending.length ? Buffer.concat([...pending, chunk.subarray(from, nl)]) : chunk.subarray(from, nl);
          pending = [];
          this.fold(bytes, { off: start, len: bytes.length });
          start = pos + nl + 1;
          from = nl + 1;
        }
        if (from < bytesRead) pending.push(Buffer.from(chunk.subarray(from)));
        pos += bytesRead;
      }
      this.size = pos;
    } catch (err) {
      throw new StoreUnavailableError(`cannot read the dead letters file ${this.file}: ${(err as Error).message}`);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  private fold(bytes: Buffer, span: Span): void {
    if (bytes.length === 0) return;
    let line: Line;
    try {
      line = JSON.parse(bytes.toString('utf8')) as Line;
    } catch {
      return; // not a line this file writes (a torn line is cut at open)
    }
    this.index(line, span);
  }

  private async load(): Promise<void> {
    if (this.loaded) return;
    mkdirSync(dirname(this.file), { recursive: true });
    await this.cutTornLine();
    await this.scan();
    this.bodyBytes = this.entries.reduce((n, e) => n + (e.replayedAt === undefined && e.body ? e.body.chars : 0), 0);
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

  /** Appends and fsyncs the lines, then indexes them. A failed append drops the index: the next call reads the file again. */
  private async append(lines: Line[]): Promise<void> {
    const texts = lines.map((l) => JSON.stringify(l));
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(this.file, 'a');
      await fh.appendFile(texts.join('\n') + '\n');
      await fh.datasync();
    } catch (err) {
      this.reset();
      throw new StoreUnavailableError(`cannot write the dead letters file ${this.file}: ${(err as Error).message}`);
    } finally {
      await fh?.close().catch(() => undefined);
    }
    let off = this.size;
    for (let i = 0; i < lines.length; i++) {
      const len = Buffer.byteLength(texts[i]);
      this.index(lines[i], { off, len });
      off += len + 1;
    }
    this.size = off;
  }

  private reset(): void {
    this.loaded = false;
    this.entries = [];
    this.byId.clear();
    this.names.clear();
    this.nextId = 1;
    this.size = 0;
  }

  /** The lines at these places, parsed (a query's letters and their bodies). */
  private async read(spans: Span[]): Promise<Line[]> {
    if (spans.length === 0) return [];
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await fsp.open(this.file, 'r');
      const out: Line[] = [];
      for (const s of spans) {
        const buf = Buffer.allocUnsafe(s.len);
        const { bytesRead } = await fh.read(buf, 0, s.len, s.off);
        this.readBytes += bytesRead;
        out.push(JSON.parse(buf.subarray(0, bytesRead).toString('utf8')) as Line);
      }
      return out;
    } catch (err) {
      // The file changed under the index (edited or replaced by hand): read it again next time.
      this.reset();
      throw new StoreUnavailableError(`cannot read the dead letters file ${this.file}: ${(err as Error).message}`);
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
        const { replayable: _r, replayedAt: _p, bytes: _b, ...rest } = l;
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
      await this.load();
      const desc = q.order !== 'asc';
      const codes = q.codes?.length ? new Set(q.codes) : undefined;
      const ids = q.ids ? new Set(q.ids) : undefined;
      const after = q.after;
      const found: Entry[] = [];
      for (const e of this.entries) {
        if (q.device !== undefined && e.device !== q.device) continue;
        if (codes && !codes.has(e.code)) continue;
        if (q.from !== undefined && e.ts < q.from) continue;
        if (q.to !== undefined && e.ts >= q.to) continue;
        if (after) {
          const cmp = e.ts === after.ts ? e.id - after.id : e.ts - after.ts;
          if (desc ? cmp >= 0 : cmp <= 0) continue;
        }
        if (q.replayed !== undefined && (e.replayedAt !== undefined) !== q.replayed) continue;
        if (q.replayable !== undefined && (e.body !== undefined) !== q.replayable) continue;
        if (ids && !ids.has(e.id)) continue;
        found.push(e);
      }
      found.sort((a, b) => (a.ts === b.ts ? a.id - b.id : a.ts - b.ts) * (desc ? -1 : 1));
      const page = found.slice(0, q.limit);
      const lines = await this.read(page.map((e) => e.line));
      const bodyLines = q.withBody ? await this.read(page.filter((e) => e.body?.unmark).map((e) => e.body!)) : [];
      let b = 0;
      return page.map((e, i) => {
        const { body: ownBody, replayedAt: _r, replayable: _p, ...rest } = lines[i].l!;
        const shown: DeadLetter = { ...rest, replayable: e.body !== undefined };
        if (e.replayedAt !== undefined) shown.replayedAt = e.replayedAt;
        if (q.withBody && e.body) shown.body = e.body.unmark ? bodyLines[b++].b : ownBody;
        return shown;
      });
    });
  }

  /** Marks the letters not replayed yet; resolves the ids this call marked. */
  markReplayed(ids: number[], at: number): Promise<number[]> {
    return this.serial(async () => {
      await this.load();
      const open = [...new Set(ids)].map((id) => this.byId.get(id)).filter((e): e is Entry => e !== undefined && e.replayedAt === undefined);
      if (open.length === 0) return [];
      const freed = open.reduce((n, e) => n + (e.body?.chars ?? 0), 0);
      await this.append(open.map((e) => ({ m: e.id, at })));
      this.bodyBytes -= freed;
      return open.map((e) => e.id).sort((a, b) => a - b);
    });
  }

  unmarkReplayed(letters: Array<{ id: number; body?: string }>): Promise<void> {
    return this.serial(async () => {
      if (letters.length === 0) return;
      await this.load();
      await this.append(letters.map((l) => (l.body === undefined ? { u: l.id } : { u: l.id, b: l.body })));
      for (const l of letters) this.bodyBytes += l.body?.length ?? 0;
    });
  }
}
