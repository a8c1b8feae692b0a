/**
 * One DuckDB file, one store per process. Two store configs naming the same file (an editor import of a pack
 * beside the default one makes a second "embedded DuckDB") used to open it twice: DuckDB's lock is per process,
 * so both opened, and the second never saw what the first stored after it opened (a report on it missed the
 * day's readings). The second is now refused as unavailable, naming the first, until the first closes.
 */
import { relative } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { StoreUnavailableError } from '../../nodes/lib/errors';
import { duckdbFiles, r, T0 } from '../helpers/duckdb-store';

const { dbPath } = duckdbFiles();

test('a second store on a file another store of the process holds is refused until that one closes; then it sees everything', async () => {
  const path = dbPath();
  const first = new DuckDbStore({ path, owner: 'store config "embedded DuckDB" (us_store_cfg)' });
  const second = new DuckDbStore({ path, owner: 'store config "embedded DuckDB" (us_rep_store_cfg)' });
  try {
    await first.open();
    await first.write([r('m1', T0, { power: 1000 })]);
    await assert.rejects(second.open(), (err: Error) => {
      assert.ok(err instanceof StoreUnavailableError, `unavailable (the writer spools and retries), not ${err.name}`);
      assert.match(err.message, /is open in store config "embedded DuckDB" \(us_store_cfg\) already/);
      return true;
    });
    await assert.rejects(second.readings({ device: 'm1', limit: 10 }), StoreUnavailableError);
    // Stored by the holder after the refusal: nothing is left behind in another instance's view.
    await first.write([r('m1', T0 + 600_000, { power: 1000 })]);
    assert.equal((await second.health()).ok, false, '/health says the second store is not usable');
    await first.close();
    await second.open();
    const page = await second.readings({ device: 'm1', limit: 10 });
    assert.equal(page.readings.length, 2);
  } finally {
    await first.close();
    await second.close();
  }
});

test('a store that closes lets its file go, and one that reopens keeps it', async () => {
  const path = dbPath();
  const a = new DuckDbStore({ path });
  await a.open();
  await a.close();
  const b = new DuckDbStore({ path });
  await b.open();
  await b.write([r('d', T0, { x: 1 })]);
  await b.close();
  const c = new DuckDbStore({ path });
  await c.open();
  assert.equal((await c.readings({ device: 'd', limit: 10 })).readings.length, 1);
  await c.close();
});

test('the same file named by a relative path is the same file', async () => {
  const path = dbPath();
  const first = new DuckDbStore({ path, owner: 'store config "a" (a)' });
  const second = new DuckDbStore({ path: relative(process.cwd(), path), owner: 'store config "b" (b)' });
  try {
    await first.open();
    await assert.rejects(second.open(), /is open in store config "a" \(a\) already/);
  } finally {
    await first.close();
    await second.close();
  }
});
