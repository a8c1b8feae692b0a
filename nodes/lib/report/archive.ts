/**
 * Produced reports and invoices in the data folder: one folder per id with
 * its files and a meta.json. Ids and file names are checked against a strict
 * pattern and against the folder's own list, so a request can never reach
 * outside it. A folder is written under a temporary name and renamed into
 * place, so a listing never shows half a report.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ReportFile } from './render';

export const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,160}$/;
export const FILE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/;

export interface StoredFile {
  name: string;
  contentType: string;
  size: number;
}

export interface ArchivedPeriod {
  key: string;
  label: string;
  from: string;
  to: string;
  timezone: string;
  /** Reports: false when produced before the period was over, as the report's JSON says. */
  finished?: boolean;
  /** Reports of a period not over: up to when its gaps and completeness cover it. */
  coveredUntil?: string;
  /** Reports of a period that starts before the store's raw readings: from when they are complete. */
  rawReadingsSince?: string;
}

export interface ArchiveEntry {
  id: string;
  kind: 'report' | 'invoice';
  /** The report's name, or the invoice series: retention counts per group. */
  group: string;
  createdAt: string;
  period: ArchivedPeriod;
  files: StoredFile[];
  /** Invoice: number, customer, total; report: what triggered it. */
  info?: Record<string, unknown>;
}

export class Archive {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  save(entry: Omit<ArchiveEntry, 'files'>, files: ReportFile[]): ArchiveEntry {
    if (!ID.test(entry.id)) throw new Error(`bad archive id ${JSON.stringify(entry.id)}`);
    for (const f of files) if (!FILE.test(f.name) || f.name === 'meta.json') throw new Error(`bad file name ${JSON.stringify(f.name)}`);
    mkdirSync(this.root, { recursive: true });
    const full: ArchiveEntry = { ...entry, files: files.map((f) => ({ name: f.name, contentType: f.contentType, size: f.data.length })) };
    const tmp = join(this.root, `.tmp-${entry.id}-${randomBytes(6).toString('hex')}`);
    mkdirSync(tmp);
    for (const f of files) writeFileSync(join(tmp, f.name), f.data);
    writeFileSync(join(tmp, 'meta.json'), JSON.stringify(full, null, 2));
    const target = join(this.root, entry.id);
    if (existsSync(target)) {
      const old = join(this.root, `.old-${entry.id}-${randomBytes(6).toString('hex')}`);
      renameSync(target, old);
      renameSync(tmp, target);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, target);
    }
    return full;
  }

  get(id: string): ArchiveEntry | undefined {
    if (!ID.test(id)) return undefined;
    try {
      return withPeriodState(JSON.parse(readFileSync(join(this.root, id, 'meta.json'), 'utf8')) as ArchiveEntry);
    } catch {
      return undefined;
    }
  }

  /** Newest first. */
  list(filter: { group?: string; kind?: string } = {}): ArchiveEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.root);
    } catch {
      return [];
    }
    const out: ArchiveEntry[] = [];
    for (const n of names) {
      if (n.startsWith('.')) continue;
      const e = this.get(n);
      if (!e) continue;
      if (filter.group !== undefined && e.group !== filter.group) continue;
      if (filter.kind !== undefined && e.kind !== filter.kind) continue;
      out.push(e);
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1));
  }

  /** The path of a stored file, or undefined when the id or the name is not one of ours. */
  file(id: string, name: string): { path: string; file: StoredFile } | undefined {
    if (!FILE.test(name)) return undefined;
    const e = this.get(id);
    const f = e?.files.find((x) => x.name === name);
    return f ? { path: join(this.root, id, name), file: f } : undefined;
  }

  /** Keeps the newest `keep` entries of a group; returns the ids removed. */
  prune(group: string, keep: number): string[] {
    if (!(keep > 0)) return [];
    const removed: string[] = [];
    for (const e of this.list({ group }).slice(keep)) {
      rmSync(join(this.root, e.id), { recursive: true, force: true });
      removed.push(e.id);
    }
    return removed;
  }
}

/**
 * A report kept before its entry said whether its period was over: it was
 * computed at its creation time, so that is how far it covers the period.
 */
function withPeriodState(e: ArchiveEntry): ArchiveEntry {
  if (e.kind !== 'report' || typeof e.period.finished === 'boolean') return e;
  const created = Date.parse(e.createdAt);
  const from = Date.parse(e.period.from);
  const to = Date.parse(e.period.to);
  if (!Number.isFinite(created) || !Number.isFinite(from) || !Number.isFinite(to)) return e;
  const finished = created >= to;
  return { ...e, period: { ...e.period, finished, ...(finished ? {} : { coveredUntil: new Date(Math.max(from, created)).toISOString() }) } };
}
