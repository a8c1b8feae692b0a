/**
 * Several durable sinks behind one store config. Each sink has its own
 * DurableWriter and spool; a write is reported durable (and the journal entries
 * behind it may settle) only once every sink has it, in its database or in its
 * spool. The first sink that answers queries is the store the query API,
 * backtests and reports read, and the one that keeps dead letters. A store of
 * server sinks only (InfluxDB, VictoriaMetrics without DuckDB) reads back from
 * the first of them, and keeps dead letters and the registry in files
 * (server-store.ts).
 *
 * Sink kinds come from a registry, so a new kind is one SinkKind (settings
 * normalised with specific errors, a factory) plus its editor fields.
 */
import { join } from 'node:path';
import { ConfigError } from '../errors';
import { Journal } from '../journal/journal';
import type { Reading } from '../reading';
import type { DeadLetter, ReadingSink, ReadingSource, TimeSeriesStore } from './types';
import { withReadingSource } from './query-source';
import { DurableWriter, type Durable, type WriterEvent, type WriterOptions, type WriterStats } from './writer';
import { duckdbSink } from './sinks-duckdb';
import { ServerStore, serverStoreFiles } from './server-store';
import { influxSink, victoriaSink } from './sinks-influx';

/** One sink's settings as saved in the store config: its id, kind and the kind's own options. */
export interface SinkConfig {
  /** Stable within the store config: names the spool and the health entry. */
  id: string;
  kind: string;
  [option: string]: unknown;
}

export interface SinkContext {
  /** The Upperstack data folder (default database files live here). */
  dataDir: string;
  /** Sinks of the same config, already normalised, for checks across them (two sinks on one file). */
  siblings: readonly SinkConfig[];
  /** The store config's id (names spools and files a sink keeps beside them); absent while only normalising. */
  configId?: string;
  /** Where a sink reports what a person should know (created a database, cannot create it). */
  notice?: (sinkId: string, text: string) => void;
  /** The store as people know it (`store config "embedded DuckDB" (id)`), named when another is refused its file. */
  owner?: string;
}

export interface SinkKind {
  kind: string;
  /** Whether its sinks answer queries and keep dead letters (TimeSeriesStore). */
  queryable: boolean;
  /** Settings of a new sink of this kind. */
  defaults(): Record<string, unknown>;
  /** Completes and checks one sink's settings; throws ConfigError naming the setting. */
  normalize(raw: SinkConfig, ctx: SinkContext): SinkConfig;
  /** False leaves the sink out without an error (an optional sink whose URL comes from an unset environment variable). */
  enabled?(raw: SinkConfig): boolean;
  /** Writer settings of its own (e.g. larger batches for a server), over the store config's. */
  writerOptions?(config: SinkConfig): WriterOptions;
  create(config: SinkConfig, ctx: SinkContext): ReadingSink;
  /** Reads back what its sinks wrote, for a store config that names such a sink as its query source (`querySink`). */
  reader?(config: SinkConfig, ctx: SinkContext): ReadingSource;
  /** Shown in labels and logs, e.g. `duckdb:/data/upperstack.duckdb`. */
  describe(config: SinkConfig, ctx: SinkContext): string;
}

const kinds = new Map<string, SinkKind>([
  [duckdbSink.kind, duckdbSink],
  [influxSink.kind, influxSink],
  [victoriaSink.kind, victoriaSink],
]);

/** Adds a sink kind (e.g. an InfluxDB writer); its editor fields go in nodes/store-config/store-config.html. */
export function registerSinkKind(kind: SinkKind): void {
  kinds.set(kind.kind, kind);
}

export function sinkKind(kind: string): SinkKind | undefined {
  return kinds.get(kind);
}

export function sinkKinds(): string[] {
  return [...kinds.keys()];
}

/** The id of the sink that keeps the spool path of stores from before several sinks (`spool/<config id>`). */
export const MAIN_SINK = 'main';

/** Where a sink's spool lives: the main sink keeps the old path, so spools already on disk still drain. */
export function spoolDir(dataDir: string, configId: string, sinkId: string): string {
  return join(dataDir, 'spool', sinkId === MAIN_SINK ? configId : `${configId}.${sinkId}`);
}

/**
 * Normalises a store config's sink list: known kinds, unique ids made of
 * letters, digits, - and _, each kind's own checks, and one queryable sink.
 */
export function normalizeSinks(raw: unknown, dataDir: string): SinkConfig[] {
  if (!Array.isArray(raw) || raw.length === 0) throw new ConfigError('a store needs at least one sink', { setting: 'sinks' });
  const out: SinkConfig[] = [];
  const ids = new Set<string>();
  for (let i = 0; i < raw.length; i++) {
    const r = raw[i] as Partial<SinkConfig> | null;
    if (!r || typeof r !== 'object') throw new ConfigError(`sink ${i + 1} is not an object`, { setting: 'sinks', index: i });
    const kind = sinkKind(String(r.kind ?? ''));
    if (!kind) throw new ConfigError(`sink ${i + 1} has an unknown kind "${String(r.kind)}" (known: ${sinkKinds().join(', ')})`, { setting: 'sinks', index: i });
    const id = String(r.id ?? '');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new ConfigError(`sink ${i + 1} needs an id of 1 to 32 letters, digits, - or _ (got "${id}")`, { setting: 'sinks', index: i });
    if (ids.has(id)) throw new ConfigError(`two sinks have the id "${id}"`, { setting: 'sinks', index: i });
    ids.add(id);
    if (kind.enabled && !kind.enabled({ ...kind.defaults(), ...r, id, kind: kind.kind })) continue;
    out.push(kind.normalize({ ...kind.defaults(), ...r, id, kind: kind.kind }, { dataDir, siblings: out }));
  }
  if (!out.some((s) => sinkKind(s.kind)!.queryable)) {
    // Without the embedded store, a server sink that can read back answers queries (server-store.ts).
    const server = serverOnly(out);
    if (!server) {
      const can = [...kinds.values()].filter((k) => k.queryable || k.reader).map((k) => k.kind);
      throw new ConfigError(`a store needs a sink that answers queries (${can.join(', ')})`, { setting: 'sinks' });
    }
    // Checks that it can answer them (InfluxDB 2.x/3.x only through the v1 compatibility API).
    sinkKind(server.kind)!.reader!(server, { dataDir, siblings: out });
  }
  return out;
}

/** The sink that answers queries of a store without a queryable sink: the first whose kind reads back; undefined when one is queryable. */
export function serverOnly(configs: readonly SinkConfig[]): SinkConfig | undefined {
  if (configs.some((c) => sinkKind(c.kind)?.queryable)) return undefined;
  return configs.find((c) => sinkKind(c.kind)?.reader);
}

/** The reader of the sink a store config reads readings from, checked: a sink of this config whose kind can read. */
export function querySource(configs: readonly SinkConfig[], ctx: SinkContext, id: string | undefined): { id: string; reader: ReadingSource } | undefined {
  const want = (id ?? '').trim();
  if (want === '') return undefined;
  const c = configs.find((x) => x.id === want);
  if (!c) throw new ConfigError(`the query source "${want}" is not one of this store's sinks (${configs.map((x) => x.id).join(', ')})`, { setting: 'querySink' });
  const kind = sinkKind(c.kind)!;
  if (kind.queryable) return undefined;
  if (!kind.reader) throw new ConfigError(`sink "${want}" (${c.kind}) cannot answer queries; choose an InfluxDB 1.x, VictoriaMetrics or DuckDB sink`, { setting: 'querySink' });
  return { id: c.id, reader: kind.reader(c, ctx) };
}

export interface SinkEntry {
  id: string;
  kind: string;
  /** What it writes to, for logs and /health. */
  label: string;
  sink: ReadingSink;
  writer: DurableWriter;
}

/** One sink's writer stats, with which sink it is. */
export interface SinkStats extends WriterStats {
  id: string;
  kind: string;
  label: string;
}

/** The writer stats of the set (what the store node's status shows) and each sink's own. */
export interface SinkSetStats extends WriterStats {
  sinks: SinkStats[];
}

export class SinkSet {
  readonly entries: readonly SinkEntry[];
  /** The store that answers queries and keeps dead letters. */
  readonly primary: TimeSeriesStore;
  private readonly primaryWriter: DurableWriter;

  /** Where queries read readings when that is not the primary store (the store config's `querySink`). */
  readonly source?: { id: string; reader: ReadingSource };

  constructor(entries: SinkEntry[], source?: { id: string; reader: ReadingSource }) {
    this.entries = entries;
    const first = entries.find((e) => sinkKind(e.kind)?.queryable || e.sink instanceof ServerStore);
    if (!first) throw new ConfigError('a store needs a sink that answers queries and keeps dead letters', { setting: 'sinks' });
    this.source = source;
    this.primary = source ? withReadingSource(first.sink as unknown as TimeSeriesStore, source.reader) : (first.sink as unknown as TimeSeriesStore);
    this.primaryWriter = first.writer;
  }

  /**
   * Builds every sink and its writer; spools follow spoolDir(). Readings a
   * sink refuses are dead-lettered through the primary store's writer.
   */
  static create(
    configs: readonly SinkConfig[],
    opts: {
      dataDir: string;
      configId: string;
      writer?: WriterOptions;
      onEvent?: (sinkId: string, e: WriterEvent) => void;
      notice?: (sinkId: string, text: string) => void;
      /** The sink whose server answers reading queries ('' or absent: the primary store). */
      querySink?: string;
      /** SinkContext.owner. */
      owner?: string;
    },
  ): SinkSet {
    const ctx: SinkContext = { dataDir: opts.dataDir, siblings: configs, configId: opts.configId, notice: opts.notice, owner: opts.owner };
    const server = serverOnly(configs);
    const built = configs.map((c) => {
      const kind = sinkKind(c.kind);
      if (!kind) throw new ConfigError(`unknown sink kind "${c.kind}"`, { setting: 'sinks' });
      const sink = kind.create(c, ctx);
      // The only store: it reads back from its server, dead letters and the registry go to files.
      if (c === server) return { c, kind, sink: new ServerStore(sink, kind.reader!(c, ctx), serverStoreFiles(opts.dataDir, opts.configId)) as ReadingSink };
      return { c, kind, sink };
    });
    const primary = server ? configs.indexOf(server) : built.findIndex((b) => b.kind.queryable);
    if (primary < 0) throw new ConfigError('a store needs a sink that answers queries and keeps dead letters', { setting: 'sinks' });
    const writerOf = (b: (typeof built)[number], deadLetters?: DurableWriter) =>
      new DurableWriter(b.sink, new Journal({ dir: spoolDir(opts.dataDir, opts.configId, b.c.id) }), {
        ...opts.writer,
        ...b.kind.writerOptions?.(b.c),
        ...(deadLetters ? { deadLetters } : {}),
        label: `the ${b.c.kind} sink "${b.c.id}"`,
        ...(opts.onEvent ? { onEvent: (e: WriterEvent) => opts.onEvent!(b.c.id, e) } : {}),
      });
    const primaryWriter = writerOf(built[primary]);
    const entries: SinkEntry[] = built.map((b, i) => ({
      id: b.c.id,
      kind: b.c.kind,
      label: b.kind.describe(b.c, ctx),
      sink: b.sink,
      writer: i === primary ? primaryWriter : writerOf(b, primaryWriter),
    }));
    return new SinkSet(entries, server ? undefined : querySource(configs, ctx, opts.querySink));
  }

  /**
   * Opens every sink and starts its writer (a sink that cannot be opened spools
   * until it can). Resolves once the primary is open; rejects with why it is not.
   * `onOpenError` hears about every sink that failed to open.
   */
  open(onOpenError?: (entry: SinkEntry, err: unknown) => void): Promise<void> {
    const opened = this.entries.map((e) =>
      e.sink.open().then(
        () => e.writer.start(),
        (err: unknown) => {
          onOpenError?.(e, err);
          e.writer.start();
          throw err;
        },
      ),
    );
    for (const p of opened) p.catch(() => undefined);
    return opened[this.entries.findIndex((e) => e.writer === this.primaryWriter)];
  }

  /** The nodes started with these sinks have registered their holds: retention's first pass may run. */
  holdsRegistered(): void {
    for (const e of this.entries) e.sink.holdsRegistered?.();
  }

  /**
   * Hands the readings to every sink's writer; `durable` runs once all of them
   * have them in their database or spool, with the first error any reported,
   * and `taken` once every writer has them in a write that has started.
   */
  write(readings: Reading[], durable: Durable, taken?: () => void): void {
    const n = this.entries.length;
    if (n === 1) return this.entries[0].writer.write(readings, durable, taken);
    let left = n;
    let untaken = n;
    let failure: Error | undefined;
    const one = taken
      ? () => {
          if (--untaken === 0) taken();
        }
      : undefined;
    for (const e of this.entries) {
      e.writer.write(
        readings,
        (err) => {
          if (err && !failure) failure = err;
          if (--left === 0) durable(failure);
        },
        one,
      );
    }
  }

  /** Dead letters go to the primary store (the one with the deadletters table). */
  writeDeadLetters(letters: DeadLetter[], durable: Durable): void {
    this.primaryWriter.writeDeadLetters(letters, durable);
  }

  stats(): SinkSetStats {
    const sinks = this.entries.map((e) => ({ ...e.writer.stats(), id: e.id, kind: e.kind, label: e.label }));
    // Durable in every sink is what counts for the pipeline: the slowest sink's figures.
    const s: SinkSetStats = {
      written: Math.min(...sinks.map((x) => x.written)),
      queued: Math.max(...sinks.map((x) => x.queued)),
      spooled: Math.max(...sinks.map((x) => x.spooled)),
      rejected: sinks.reduce((n, x) => n + x.rejected, 0),
      // Each sink's spool has its own budget; together they take at most the sum.
      spoolBytes: sinks.reduce((n, x) => n + x.spoolBytes, 0),
      spoolBudget: sinks.reduce((n, x) => n + x.spoolBudget, 0),
      overBudget: sinks.some((x) => x.overBudget),
      retries: sinks.reduce((n, x) => n + x.retries, 0),
      writtenPerSec: Math.min(...sinks.map((x) => x.writtenPerSec)),
      sinks,
    };
    const oldest = sinks.map((x) => x.oldestAt).filter((t): t is number => t !== undefined);
    if (oldest.length) s.oldestAt = Math.min(...oldest);
    const since = sinks.map((x) => x.failingSince).filter((t): t is number => t !== undefined);
    if (since.length) s.failingSince = Math.min(...since);
    const failing = sinks.find((x) => x.lastError);
    if (failing) s.lastError = sinks.length > 1 ? `${failing.id}: ${failing.lastError}` : failing.lastError;
    return s;
  }

  /** Flushes every writer (into its sink or spool), then closes the sinks. */
  async close(): Promise<void> {
    await Promise.all(this.entries.map((e) => e.writer.close()));
    await Promise.all(this.entries.map((e) => e.sink.close().catch(() => undefined)));
  }
}
