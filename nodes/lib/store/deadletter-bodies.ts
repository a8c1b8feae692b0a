/**
 * The bodies of dead letters kept for replay, in segment files beside the
 * DuckDB database (`<database>.bodies/<n>.bin`; a temporary folder for an
 * in-memory database) instead of in its `deadletters` table, which keeps
 * where each body lies (segment, offset, length).
 *
 * Why not a BLOB column: bodies are whole messages, up to 1 MiB each. Held in
 * the table, a flood of bad messages went through DuckDB's statement text,
 * its string heaps and the WAL's in-memory row groups, and the runtime's RSS
 * rose by ~160 MB in the hostile-mix bench row (548–584 MB against a 400 MB
 * bound) and did not come down. Written here they are one write and one
 * fdatasync a batch, and take page cache, not process memory.
 *
 * Appends go to the newest segment, a new one from each open (so nothing is
 * ever appended after a tail a crash may have torn) and past `segmentBytes`.
 * A segment no letter waiting for replay points into any more is deleted
 * (`keepOnly`); what the table does not point into (a write that failed
 * before its row committed) goes with its segment. The caller serialises all
 * calls (the store's write queue).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where a body lies. */
export interface BodyRef {
  seg: number;
  off: number;
  len: number;
}

/** A segment takes appends until it is this large. */
export const SEGMENT_BYTES = 16 * 1024 * 1024;
const NAME = /^(\d{1,12})\.bin$/;

export class DeadLetterBodies {
  private dir?: string;
  private fd?: FileHandle;
  /** The segment appends go to (0: none opened yet), and its size. */
  private current = 0;
  private currentSize = 0;
  /** Bytes of each segment file on disk. */
  private readonly sizes = new Map<number, number>();
  private scanned = false;

  /** `folder` undefined: a temporary folder, created on first use and removed by close(). */
  constructor(
    private readonly folder: string | undefined,
    private readonly segmentBytes = SEGMENT_BYTES,
  ) {}

  /** Bytes of all segment files. */
  diskBytes(): number {
    let sum = 0;
    for (const s of this.sizes.values()) sum += s;
    return sum;
  }

  /** Segments on disk, oldest first. */
  segments(): number[] {
    return [...this.sizes.keys()].sort((a, b) => a - b);
  }

  /** Reads the folder's segments once (a folder not there yet has none). */
  private async scan(): Promise<void> {
    if (this.scanned) return;
    const dir = this.dir ?? this.folder;
    const names = dir ? await readdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err))) : [];
    for (const name of names) {
      const m = NAME.exec(name);
      if (!m) continue;
      const seg = Number(m[1]);
      this.sizes.set(seg, (await stat(join(dir!, name))).size);
      if (seg > this.current) this.current = seg;
    }
    this.scanned = true;
  }

  /** The folder, made on first use. */
  private async folderPath(): Promise<string> {
    await this.scan();
    if (this.dir) return this.dir;
    if (this.folder) mkdirSync(this.folder, { recursive: true });
    this.dir = this.folder ?? mkdtempSync(join(tmpdir(), 'upperstack-deadletter-bodies-'));
    return this.dir;
  }

  /** Reads which segments are on disk (once); resolves them, oldest first. */
  async load(): Promise<number[]> {
    await this.scan();
    return this.segments();
  }

  private async next(): Promise<FileHandle> {
    const dir = await this.folderPath();
    await this.fd?.close();
    this.fd = undefined;
    this.current += 1;
    this.currentSize = 0;
    this.fd = await open(join(dir, `${this.current}.bin`), 'a');
    this.sizes.set(this.current, 0);
    return this.fd;
  }

  /**
   * Appends bodies and makes them durable (fdatasync) before resolving where
   * each lies: a row pointing at them commits only after.
   */
  async append(bodies: Uint8Array[]): Promise<BodyRef[]> {
    const refs: BodyRef[] = [];
    if (bodies.length === 0) return refs;
    let fd = this.fd ?? (await this.next());
    let pending: Uint8Array[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      await fd.writev(pending);
      await fd.datasync();
      pending = [];
    };
    for (const b of bodies) {
      if (this.currentSize > 0 && this.currentSize + b.length > this.segmentBytes) {
        await flush();
        fd = await this.next();
      }
      refs.push({ seg: this.current, off: this.currentSize, len: b.length });
      pending.push(b);
      this.currentSize += b.length;
      this.sizes.set(this.current, this.currentSize);
    }
    await flush();
    return refs;
  }

  /** A body, or undefined when its file is gone or shorter than the ref says. */
  async read(ref: BodyRef): Promise<Buffer | undefined> {
    await this.scan();
    const dir = this.dir ?? this.folder;
    if (!dir) return undefined;
    let fd: FileHandle | undefined;
    try {
      fd = await open(join(dir, `${ref.seg}.bin`), 'r');
      const buf = Buffer.allocUnsafe(ref.len);
      const { bytesRead } = await fd.read(buf, 0, ref.len, ref.off);
      return bytesRead === ref.len ? buf : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    } finally {
      await fd?.close();
    }
  }

  /** Deletes every segment but those in `inUse` and the one appends go to. */
  async keepOnly(inUse: ReadonlySet<number>): Promise<void> {
    await this.scan();
    const dir = this.dir ?? this.folder;
    if (!dir) return;
    for (const seg of this.segments()) {
      if (inUse.has(seg) || (seg === this.current && this.fd)) continue;
      await unlink(join(dir, `${seg}.bin`)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.sizes.delete(seg);
    }
  }

  /** Closes the segment appends go to; a temporary folder is removed. */
  async close(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    await fd?.close();
    if (this.folder === undefined && this.dir) {
      rmSync(this.dir, { recursive: true, force: true });
      this.dir = undefined;
      this.sizes.clear();
      this.current = 0;
      this.scanned = false;
    }
  }
}
