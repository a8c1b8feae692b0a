/** DuckDB store files for unit tests: one temp folder per test file, removed after its tests. */
import { after, before } from 'node:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import type { Reading } from '../../nodes/lib/reading';
import { tempDir } from './temp';

export const T0 = Date.UTC(2026, 0, 1);

export function r(device: string, ts: number, fields: Reading['fields'], tags: Reading['tags'] = {}): Reading {
  return { device, ts, fields, tags };
}

export interface StoreFiles {
  /** The folder (exists between before and after). */
  dir(): string;
  /** A new file name in it. */
  dbPath(): string;
  /** Opens a store on a new file for fn, closing it after. */
  withStore(fn: (s: DuckDbStore, path: string) => Promise<void>): Promise<void>;
}

/** Call at the top of a test file: registers the folder's before/after hooks. */
export function duckdbFiles(): StoreFiles {
  let dir: string;
  let n = 0;
  before(() => {
    dir = tempDir('upperstack-duckdb-');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const dbPath = (): string => join(dir, `t${n++}.duckdb`);
  return {
    dir: () => dir,
    dbPath,
    async withStore(fn) {
      const path = dbPath();
      const s = new DuckDbStore({ path });
      await s.open();
      try {
        await fn(s, path);
      } finally {
        await s.close();
      }
    },
  };
}
