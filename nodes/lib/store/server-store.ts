/**
 * A time-series server (InfluxDB, VictoriaMetrics) as the only store, without
 * the embedded database: readings are written by the server sink, the query
 * API, reports and the Grafana routes read them back from the server, and what
 * the embedded store would otherwise keep goes to small files in the data
 * folder: dead letters (file-deadletters.ts, replay included) and the device
 * registry (file-registry.ts). What has no equivalent: roll-up tiers (the
 * server aggregates raw points; answers carry no `tier`) and the embedded
 * retention settings (the server's retention applies).
 */
import { join } from 'node:path';
import type { Reading } from '../reading';
import type { RegistryBackend } from '../devices/types';
import type { AggregatePoint, AggregateQuery, DeadLetter, DeadLetterQuery, DeviceQuery, DeviceSummary, ReadingSink, ReadingSource, ReadingsPage, ReadingsQuery, StoreHealth, TimeSeriesStore } from './types';
import { FileDeadLetters } from './file-deadletters';
import { FileRegistryBackend } from './file-registry';

/** Where a server-only store keeps its dead letters and registry: `<data>/store/<config id>.{deadletters.jsonl,registry.json}`. */
export function serverStoreFiles(dataDir: string, configId: string): { deadLetters: string; registry: string } {
  const base = join(dataDir, 'store', configId);
  return { deadLetters: `${base}.deadletters.jsonl`, registry: `${base}.registry.json` };
}

export class ServerStore implements TimeSeriesStore {
  readonly kind: string;
  private readonly letters: FileDeadLetters;
  private readonly registryBackend: FileRegistryBackend;

  constructor(
    private readonly sink: ReadingSink,
    private readonly source: ReadingSource,
    files: { deadLetters: string; registry: string },
  ) {
    this.kind = sink.kind;
    this.letters = new FileDeadLetters(files.deadLetters);
    this.registryBackend = new FileRegistryBackend(files.registry);
  }

  async open(): Promise<void> {
    // The files first: dead letters and the registry work while the server is still down.
    await this.letters.open();
    await this.sink.open();
  }

  write(readings: Reading[]): Promise<void> {
    return this.sink.write(readings);
  }

  writeDeadLetters(letters: DeadLetter[]): Promise<void> {
    return this.letters.write(letters);
  }

  deadLetters(q: DeadLetterQuery): Promise<DeadLetter[]> {
    return this.letters.query(q);
  }

  markDeadLettersReplayed(ids: number[], at: number): Promise<number[]> {
    return this.letters.markReplayed(ids, at);
  }

  unmarkDeadLettersReplayed(letters: Array<{ id: number; body?: string }>): Promise<void> {
    return this.letters.unmarkReplayed(letters);
  }

  readings(q: ReadingsQuery): Promise<ReadingsPage> {
    return this.source.readings(q);
  }

  aggregate(q: AggregateQuery): Promise<AggregatePoint[]> {
    return this.source.aggregate(q);
  }

  devices(q: DeviceQuery): Promise<DeviceSummary[]> {
    return this.source.devices ? this.source.devices(q) : Promise.resolve([]);
  }

  registry(): RegistryBackend {
    return this.registryBackend;
  }

  health(): Promise<StoreHealth> {
    return this.sink.health();
  }

  close(): Promise<void> {
    return this.sink.close();
  }
}
