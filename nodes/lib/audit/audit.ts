/**
 * The audit log: who did what, when, from where. One JSON object per line in
 * `audit.jsonl` in the data folder, appended with a synchronous write so an
 * entry is on disk before the change it records is reported done; rotated by
 * size (`audit.1.jsonl` is the previous file, up to `keep` files), so it never
 * fills the disk. `query` reads it back, newest first, for GET /api/v1/audit.
 *
 * What is recorded: failed logins (every protocol), changes to devices, API
 * keys and grants, access refused by the rules (a device writing as another, a
 * subscription it may not hold), signed messages refused, rate limits hit, and
 * reads of the query API. A refusal repeated by the same actor for the same
 * reason is written once per `quietMs`, the next entry saying how many were
 * folded into it, so a flood cannot turn the log into a disk-filling loop.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface AuditEntry {
  /** Epoch ms; set when written. */
  ts: number;
  /** Who: `device:<id>`, `client:<id>`, `key:<id>`, `admin` (the API key of the settings), `user:<name>`, `anonymous`, `flow:<node id>`. */
  actor: string;
  /** What: `auth.failed`, `acl.denied`, `device.add`, `key.revoke`, `grant.create`, `query.readings`, ... */
  action: string;
  /** Through what: `mqtt`, `http`, `coap`, `api`, `editor`, `flow`, `cli`. */
  via?: string;
  /** What it was done to: a device id, a topic, a key id, a route. */
  target?: string;
  /** Where from: the peer address. */
  remote?: string;
  /** `ok`, `denied` or `failed`. */
  outcome?: 'ok' | 'denied' | 'failed';
  /** Why (an error code such as REPLAYED, a reason code such as 0x87). */
  reason?: string;
  note?: string;
  before?: unknown;
  after?: unknown;
  /** How many identical refusals this entry stands for (when folded). */
  count?: number;
  /** The refusal of a message sent again by the runtime (a dead-letter replay, the journal after a restart), not by its sender. */
  replay?: true;
}

export type AuditInput = Omit<AuditEntry, 'ts'> & { ts?: number };

export interface AuditOptions {
  /** Rotate when the file passes this size (default 10 MiB). */
  maxBytes?: number;
  /** Files kept, the current one included (default 10). */
  keep?: number;
  /** Identical refusals within this window are folded (default 10 s). */
  quietMs?: number;
  now?: () => number;
  /** Told when an entry cannot be written (disk full...). */
  onError?: (err: Error) => void;
}

export interface AuditQuery {
  from?: number;
  to?: number;
  actor?: string;
  /** Prefix: `auth` gives auth.failed...; exact otherwise. */
  action?: string;
  target?: string;
  outcome?: string;
  limit: number;
  /** Entries of these targets only (a scoped reader sees its devices' entries). */
  targets?: (target: string | undefined) => boolean;
}

export const AUDIT_FILE = 'audit.jsonl';

export class AuditLog {
  readonly file: string;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly quietMs: number;
  private readonly now: () => number;
  private size = -1;
  private folded = new Map<string, { until: number; count: number }>();

  constructor(readonly dir: string, private readonly opts: AuditOptions = {}) {
    this.file = join(dir, AUDIT_FILE);
    this.maxBytes = opts.maxBytes ?? 10 * 1024 * 1024;
    this.keep = Math.max(1, opts.keep ?? 10);
    this.quietMs = opts.quietMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Writes an entry now (a change someone made). */
  record(input: AuditInput): void {
    this.write({ ...input, ts: input.ts ?? this.now() });
  }

  /**
   * A refusal or failure: written at once the first time, then at most once per
   * quiet window for the same actor, action, protocol, target, reason and address.
   */
  refusal(input: AuditInput): void {
    const now = this.now();
    const key = `${input.actor}\u0000${input.action}\u0000${input.via ?? ''}\u0000${input.target ?? ''}\u0000${input.reason ?? ''}\u0000${input.remote ?? ''}\u0000${input.replay ? 'r' : ''}`;
    const f = this.folded.get(key);
    if (f && now < f.until) {
      f.count++;
      return;
    }
    const entry: AuditEntry = { ...input, ts: input.ts ?? now };
    if (f && f.count > 0) entry.count = f.count + 1;
    if (this.folded.size > 10_000) {
      for (const [k, v] of this.folded) if (v.until <= now) this.folded.delete(k);
      if (this.folded.size > 10_000) this.folded.clear();
    }
    this.folded.set(key, { until: now + this.quietMs, count: 0 });
    this.write(entry);
  }

  private write(entry: AuditEntry): void {
    // The time first, so the file reads as a log.
    const { ts, ...rest } = entry;
    const line = `${JSON.stringify({ ts, ...rest })}\n`;
    try {
      if (this.size < 0) {
        mkdirSync(this.dir, { recursive: true });
        this.size = existsSync(this.file) ? statSync(this.file).size : 0;
      }
      if (this.size > 0 && this.size + line.length > this.maxBytes) this.rotate();
      appendFileSync(this.file, line, { mode: 0o600 });
      this.size += Buffer.byteLength(line);
    } catch (err) {
      this.size = -1;
      this.opts.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private rotate(): void {
    const name = (i: number) => (i === 0 ? this.file : join(this.dir, `audit.${i}.jsonl`));
    rmSync(name(this.keep - 1), { force: true });
    for (let i = this.keep - 2; i >= 0; i--) if (existsSync(name(i))) renameSync(name(i), name(i + 1));
    this.size = 0;
  }

  /** The files, newest first. */
  files(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.keep; i++) {
      const f = i === 0 ? this.file : join(this.dir, `audit.${i}.jsonl`);
      if (existsSync(f)) out.push(f);
    }
    return out;
  }

  /** Entries matching the query, newest first, at most `limit`. */
  query(q: AuditQuery): AuditEntry[] {
    const out: AuditEntry[] = [];
    for (const file of this.files()) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      const lines = text.split('\n');
      for (let i = lines.length - 1; i >= 0; i--) {
        const line = lines[i];
        if (!line) continue;
        let e: AuditEntry;
        try {
          e = JSON.parse(line) as AuditEntry;
        } catch {
          continue; // a line cut by a crash
        }
        if (typeof e !== 'object' || e === null || typeof e.ts !== 'number') continue;
        if (q.to !== undefined && e.ts >= q.to) continue;
        if (q.from !== undefined && e.ts < q.from) continue;
        if (q.actor !== undefined && e.actor !== q.actor) continue;
        if (q.action !== undefined && e.action !== q.action && !String(e.action).startsWith(`${q.action}.`)) continue;
        if (q.target !== undefined && e.target !== q.target) continue;
        if (q.outcome !== undefined && e.outcome !== q.outcome) continue;
        if (q.targets && !q.targets(e.target)) continue;
        out.push(e);
        if (out.length >= q.limit) return out;
      }
    }
    return out;
  }
}

const logs = new Map<string, AuditLog>();

/** The one audit log of a data folder (every writer in the runtime shares its size count and rotation). */
export function auditLogFor(dir: string, opts?: AuditOptions): AuditLog {
  let log = logs.get(dir);
  if (!log) {
    log = new AuditLog(dir, opts);
    logs.set(dir, log);
  }
  return log;
}
