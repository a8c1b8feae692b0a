/**
 * The device registry (devices, API keys, market clients, grants) of a store
 * without the embedded database: one JSON file in the data folder, replaced
 * whole (written beside it, fsynced, renamed) on every change. The registry is
 * small and changes rarely; secrets in it are hashes or sealed, as in DuckDB.
 */
import { mkdirSync, promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { StoreUnavailableError } from '../errors';
import type { RecordOf, RegistryBackend, RegistryData, RegistryTable } from '../devices/types';

export class FileRegistryBackend implements RegistryBackend {
  private data?: RegistryData;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string) {}

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const p = this.chain.then(work, work);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async read(): Promise<RegistryData> {
    if (this.data) return this.data;
    const empty: RegistryData = { devices: [], api_keys: [], clients: [], grants: [] };
    try {
      const saved = JSON.parse(await fsp.readFile(this.file, 'utf8')) as Partial<RegistryData>;
      this.data = { ...empty, ...saved };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreUnavailableError(`cannot read the device registry ${this.file}: ${(err as Error).message}`);
      this.data = empty;
    }
    return this.data;
  }

  private async save(data: RegistryData): Promise<void> {
    const tmp = `${this.file}.tmp`;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const fh = await fsp.open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(JSON.stringify(data));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, this.file);
    } catch (err) {
      throw new StoreUnavailableError(`cannot write the device registry ${this.file}: ${(err as Error).message}`);
    }
  }

  load(): Promise<RegistryData> {
    return this.serial(async () => structuredClone(await this.read()));
  }

  put<T extends RegistryTable>(table: T, record: RecordOf[T]): Promise<void> {
    return this.serial(async () => {
      const next = structuredClone(await this.read());
      const list = next[table] as Array<RecordOf[T]>;
      const i = list.findIndex((r) => r.id === record.id);
      if (i >= 0) list[i] = structuredClone(record);
      else list.push(structuredClone(record));
      await this.save(next);
      this.data = next;
    });
  }

  remove(table: RegistryTable, id: string): Promise<void> {
    return this.serial(async () => {
      const next = structuredClone(await this.read());
      const list = next[table] as Array<{ id: string }>;
      const i = list.findIndex((r) => r.id === id);
      if (i < 0) return;
      list.splice(i, 1);
      await this.save(next);
      this.data = next;
    });
  }
}
