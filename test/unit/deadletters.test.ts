/**
 * Dead letters as data: the DuckDB table (version 3, its bodies in files
 * beside the database, and the migrations from versions 1 and 2), filters and
 * paging, replay marks, the body budget, what the dead-letter node keeps for a
 * replay, and the API's parameters and bodies.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import type { DeadLetter } from '../../nodes/lib/store/types';
import { replayFacts } from '../../nodes/lib/deadletter-replay';
import { spoolSafe } from '../../nodes/lib/deadletter';
import { decodeDeadLetterCursor, encodeDeadLetterCursor, handleDeadLetters, parseDeadLetterParams } from '../../nodes/lib/api/deadletters';
import { BackpressureError, BadParameterError } from '../../nodes/lib/errors';
import { handleReplay, parseReplayParams, replayDeadLetters } from '../../nodes/lib/api/replay';
import { Intake, type IntakeItem, type IntakeOptions, type SubmitResult } from '../../nodes/lib/ingest/intake';
import type { Received } from '../../nodes/lib/ingest/record';
import type { TimeSeriesStore } from '../../nodes/lib/store/types';
import { tempDir } from '../helpers/temp';

const T0 = Date.UTC(2026, 0, 1);
let dir: string;
let n = 0;
const dbPath = () => join(dir, `d${n++}.duckdb`);

before(() => {
  dir = tempDir('upperstack-deadletters-');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A database as an older version left it: `sql` run on a plain DuckDB file. */
async function seed(path: string, sql: string): Promise<void> {
  const inst = await DuckDBInstance.create(path);
  const conn = await inst.connect();
  try {
    await conn.run(sql);
  } finally {
    conn.closeSync();
    inst.closeSync();
  }
}

async function withStore(fn: (s: DuckDbStore) => Promise<void>, opts: { path?: string; budget?: number } = {}): Promise<void> {
  const s = new DuckDbStore({ path: opts.path ?? dbPath(), deadLetterBodyBudget: opts.budget });
  await s.open();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

const letter = (i: number, extra: Partial<DeadLetter> = {}): DeadLetter => ({
  ts: T0 + i * 1000,
  device: i % 2 ? 'odd' : 'even',
  source: `mqtt:devices/${i % 2 ? 'odd' : 'even'}/telemetry`,
  code: i % 3 ? 'SCHEMA_VIOLATION' : 'DECODE_FAILED',
  reason: `reason ${i}`,
  payload: `{"i":${i}}`,
  ...extra,
});

describe('deadletters table', () => {
  test('filters by device, codes and time; pages by cursor both ways without gaps or repeats', async () => {
    await withStore(async (s) => {
      await s.writeDeadLetters(Array.from({ length: 12 }, (_, i) => letter(i)));
      const odd = await s.deadLetters({ device: 'odd', limit: 100, order: 'asc' });
      assert.deepEqual(odd.map((l) => l.reason), ['reason 1', 'reason 3', 'reason 5', 'reason 7', 'reason 9', 'reason 11']);
      const decodeFailed = await s.deadLetters({ codes: ['DECODE_FAILED'], limit: 100, order: 'asc' });
      assert.deepEqual(decodeFailed.map((l) => l.reason), ['reason 0', 'reason 3', 'reason 6', 'reason 9']);
      const window = await s.deadLetters({ from: T0 + 2000, to: T0 + 5000, limit: 100, order: 'asc' });
      assert.deepEqual(window.map((l) => l.reason), ['reason 2', 'reason 3', 'reason 4']);
      for (const order of ['asc', 'desc'] as const) {
        const seen: string[] = [];
        let after: { ts: number; id: number } | undefined;
        for (let page = 0; page < 10; page++) {
          const got = await s.deadLetters({ limit: 5, order, after });
          if (got.length === 0) break;
          seen.push(...got.map((l) => l.reason));
          const last = got[got.length - 1];
          after = { ts: last.ts, id: last.id! };
        }
        const expected = Array.from({ length: 12 }, (_, i) => `reason ${i}`);
        assert.deepEqual(seen, order === 'asc' ? expected : expected.reverse());
      }
    });
  });

  test('bodies: kept whole (base64), from a complete excerpt, not from a cut one; facts come back', async () => {
    await withStore(async (s) => {
      const bytes = Buffer.from([0x00, 0xff, 0x10, 0x80]);
      await s.writeDeadLetters([
        letter(0, { body: bytes.toString('base64'), contentType: 'application/cbor', format: 'cbor', meta: { precision: 'ns' }, input: 'in1', receivedAt: T0 - 5 }),
        letter(1, { payload: '{"short":true}' }),
        letter(2, { payload: 'x'.repeat(4095) + '…' }),
        letter(3, { payload: 'y'.repeat(5000) }),
      ]);
      const got = await s.deadLetters({ limit: 10, order: 'asc', withBody: true });
      assert.deepEqual(got[0], {
        ...letter(0),
        id: 1,
        body: bytes.toString('base64'),
        contentType: 'application/cbor',
        format: 'cbor',
        meta: { precision: 'ns' },
        input: 'in1',
        receivedAt: T0 - 5,
        replayable: true,
      });
      assert.equal(Buffer.from(got[1].body!, 'base64').toString(), '{"short":true}');
      assert.deepEqual([got[2].replayable, got[2].body, got[3].replayable], [false, undefined, false]);
      // Listings leave the bytes out.
      assert.equal((await s.deadLetters({ limit: 1, order: 'asc' }))[0].body, undefined);
    });
  });

  test('a lone surrogate in any text is stored as U+FFFD instead of failing the insert', async () => {
    await withStore(async (s) => {
      await s.writeDeadLetters([letter(0, { device: 'bad\ud800name', reason: 'r\udfff' })]);
      const [l] = await s.deadLetters({ limit: 1 });
      assert.deepEqual([l.device, l.reason], ['bad\ufffdname', 'r\ufffd']);
    });
  });

  test('the body budget: beyond it a letter keeps its excerpt only; replays free it again', async () => {
    await withStore(
      async (s) => {
        const body = (c: number) => Buffer.alloc(400, c).toString('base64');
        await s.writeDeadLetters([letter(0, { body: body(1) }), letter(1, { body: body(2) }), letter(2, { body: body(3) })]);
        const got = await s.deadLetters({ limit: 10, order: 'asc' });
        assert.deepEqual(got.map((l) => l.replayable), [true, true, false]);
        assert.deepEqual(await s.markDeadLettersReplayed([1], T0), [1]);
        await s.writeDeadLetters([letter(3, { body: body(4) })]);
        assert.equal((await s.deadLetters({ limit: 1, order: 'desc' }))[0].replayable, true);
      },
      { budget: 1000 },
    );
  });

  test('replay marks: each letter is taken once, even by concurrent calls; unmark restores the body', async () => {
    await withStore(async (s) => {
      await s.writeDeadLetters([letter(0, { body: 'AAE=' }), letter(1, { body: 'AgM=' }), letter(2, { body: 'BAU=' })]);
      const [a, b] = await Promise.all([s.markDeadLettersReplayed([1, 2], T0 + 1), s.markDeadLettersReplayed([2, 3], T0 + 2)]);
      assert.deepEqual([...a, ...b].sort(), [1, 2, 3]);
      assert.equal(a.filter((id) => b.includes(id)).length, 0);
      assert.deepEqual(await s.markDeadLettersReplayed([1, 2, 3], T0 + 3), []);
      const replayed = await s.deadLetters({ replayed: true, limit: 10, order: 'asc', withBody: true });
      assert.deepEqual(replayed.map((l) => [l.id, l.body, l.replayable]), [[1, undefined, false], [2, undefined, false], [3, undefined, false]]);
      await s.unmarkDeadLettersReplayed([{ id: 2, body: 'AgM=' }]);
      const waiting = await s.deadLetters({ replayed: false, limit: 10, withBody: true });
      assert.deepEqual(waiting.map((l) => [l.id, l.body, l.replayedAt]), [[2, 'AgM=', undefined]]);
    });
  });

  test('bodies are kept in files beside the database, not in its table, and come back byte for byte', async () => {
    const path = dbPath();
    const big = (c: number) => Buffer.alloc(300_000, c);
    await withStore(
      async (s) => {
        await s.writeDeadLetters([1, 2, 3].map((c) => letter(c, { body: big(c).toString('base64') })));
        const got = await s.deadLetters({ limit: 10, order: 'asc', withBody: true });
        assert.deepEqual(got.map((l) => Buffer.from(l.body!, 'base64').equals(big(l.id!))), [true, true, true]);
      },
      { path },
    );
    const folder = `${path}.bodies`;
    assert.equal(readdirSync(folder).reduce((n, f) => n + statSync(`${folder}/${f}`).size, 0), 900_000);
    const inst = await DuckDBInstance.create(path);
    const conn = await inst.connect();
    const types = (await conn.runAndReadAll(`SELECT data_type FROM information_schema.columns WHERE table_name = 'deadletters'`)).getRows().map((r) => String(r[0]));
    conn.closeSync();
    inst.closeSync();
    assert.equal(types.includes('BLOB'), false);
  });

  test('replays free the body files; beyond twice the budget on disk a body is not kept even under the budget', async () => {
    const path = dbPath();
    const folderBytes = () => readdirSync(`${path}.bodies`).reduce((n, f) => n + statSync(`${path}.bodies/${f}`).size, 0);
    const body = (c: number) => Buffer.alloc(400, c).toString('base64');
    const replayable = async (s: DuckDbStore) => (await s.deadLetters({ limit: 1, order: 'desc' }))[0].replayable;
    await withStore(
      async (s) => {
        await s.writeDeadLetters([letter(0, { body: body(1) }), letter(1, { body: body(2) })]);
        await s.markDeadLettersReplayed([1, 2], T0);
        await s.writeDeadLetters([letter(2, { body: body(3) }), letter(3, { body: body(4) })]);
        await s.markDeadLettersReplayed([3, 4], T0);
        // 0 bytes wait for replay, but the segment being written holds 1,600 of replayed bodies.
        await s.writeDeadLetters([letter(4, { body: body(5) })]);
        assert.equal(await replayable(s), true);
        await s.writeDeadLetters([letter(5, { body: body(6) })]);
        assert.equal(await replayable(s), false);
        assert.equal(folderBytes(), 2000);
      },
      { path, budget: 1000 },
    );
    // Opened again: the old segment stays while a body in it waits, and goes once that one is replayed.
    await withStore(
      async (s) => {
        assert.equal(folderBytes(), 2000);
        await s.markDeadLettersReplayed([5], T0);
        assert.equal(folderBytes(), 0);
        await s.writeDeadLetters([letter(6, { body: body(7) })]);
        assert.equal(await replayable(s), true);
        assert.equal(folderBytes(), 400);
        const [again] = await s.deadLetters({ limit: 1, order: 'desc', withBody: true });
        assert.equal(again.body, body(7));
      },
      { path, budget: 1000 },
    );
  });

  test('a body file lost outside the runtime: the letter is still listed, as not replayable', async () => {
    const path = dbPath();
    await withStore(
      async (s) => {
        await s.writeDeadLetters([letter(0, { body: 'AAEC' })]);
        rmSync(`${path}.bodies`, { recursive: true });
        const [l] = await s.deadLetters({ limit: 1, withBody: true });
        assert.deepEqual([l.id, l.reason, l.replayable, l.body], [1, 'reason 0', false, undefined]);
      },
      { path },
    );
  });

  test('a version 2 table is migrated: bodies move to files, ids, marks and the budget carry on', async () => {
    const path = dbPath();
    await seed(
      path,
      `CREATE TABLE deadletters (id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, device VARCHAR, source VARCHAR, code VARCHAR, reason VARCHAR,
        payload VARCHAR, body BLOB, content_type VARCHAR, format VARCHAR, meta VARCHAR, input VARCHAR, received_at TIMESTAMP, replayed_at TIMESTAMP);
      CREATE SEQUENCE deadletter_id START 4;
      CREATE TABLE upperstack_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
      INSERT INTO upperstack_meta VALUES ('schema_version', '1'), ('deadletters_version', '2');
      INSERT INTO deadletters VALUES
        (1, TIMESTAMP '2026-01-01 00:00:01', 'a', 'mqtt:t/a', 'DECODE_FAILED', 'raw', 'base64:AP8Q', from_base64('AP8Q'), 'application/cbor', 'cbor', '{"k":"v"}', 'in1', TIMESTAMP '2026-01-01 00:00:00', NULL),
        (2, TIMESTAMP '2026-01-01 00:00:02', 'b', 'mqtt:t/b', 'SCHEMA_VIOLATION', 'replayed', '{}', NULL, NULL, NULL, NULL, NULL, NULL, TIMESTAMP '2026-01-02 00:00:00'),
        (3, TIMESTAMP '2026-01-01 00:00:03', 'c', 'mqtt:t/c', 'DECODE_FAILED', 'cut', 'zz…', NULL, NULL, NULL, NULL, NULL, NULL, NULL);`,
    );
    await withStore(
      async (s) => {
        const got = await s.deadLetters({ limit: 10, order: 'asc', withBody: true });
        assert.deepEqual(
          got.map((l) => [l.id, l.reason, l.body, l.replayable, l.contentType, l.meta, l.input, l.replayedAt]),
          [
            [1, 'raw', 'AP8Q', true, 'application/cbor', { k: 'v' }, 'in1', undefined],
            [2, 'replayed', undefined, false, undefined, undefined, undefined, Date.UTC(2026, 0, 2)],
            [3, 'cut', undefined, false, undefined, undefined, undefined, undefined],
          ],
        );
        assert.deepEqual(readdirSync(`${path}.bodies`), ['1.bin']);
        // The 3 bytes moved count against the budget of 5.
        await s.writeDeadLetters([letter(9, { body: 'AQID' })]);
        const [newest] = await s.deadLetters({ limit: 1, order: 'desc' });
        assert.deepEqual([newest.id, newest.replayable], [4, false]);
        assert.deepEqual(await s.markDeadLettersReplayed([1], T0), [1]);
      },
      { path, budget: 5 },
    );
    await withStore(async (s) => assert.equal((await s.deadLetters({ limit: 10, replayable: true })).length, 0), { path });
  });

  test('a version 3 table gains the values reasons quote: its letters have none, new ones keep theirs', async () => {
    const path = dbPath();
    await seed(
      path,
      `CREATE TABLE deadletters (id BIGINT NOT NULL, ts TIMESTAMP NOT NULL, device VARCHAR, source VARCHAR, code VARCHAR, reason VARCHAR,
        payload VARCHAR, content_type VARCHAR, format VARCHAR, meta VARCHAR, input VARCHAR, received_at TIMESTAMP, replayed_at TIMESTAMP,
        body_seg INTEGER, body_off BIGINT, body_len INTEGER);
      CREATE SEQUENCE deadletter_id START 2;
      CREATE TABLE upperstack_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
      INSERT INTO upperstack_meta VALUES ('schema_version', '1'), ('deadletters_version', '3');
      INSERT INTO deadletters VALUES (1, TIMESTAMP '2026-01-01 00:00:01', 'a', 'mqtt:t/a', 'SCHEMA_VIOLATION', '/fields/x must be number (got "s")', '{}',
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);`,
    );
    const quoted = [{ at: 52, text: '"Jane"', kind: '(text without quotes)', field: 'owner' }];
    await withStore(
      async (s) => {
        await s.writeDeadLetters([letter(9, { reason: 'line protocol line 1, column 4: field "owner" has value "Jane"', quoted })]);
        const got = await s.deadLetters({ limit: 10, order: 'asc' });
        assert.deepEqual(got.map((l) => [l.id, l.quoted]), [[1, undefined], [2, quoted]]);
      },
      { path },
    );
  });

  test('a version 1 table is migrated: ids in time order, complete excerpts become bodies, nothing lost', async () => {
    const path = dbPath();
    await seed(
      path,
      `CREATE TABLE deadletters (ts TIMESTAMP NOT NULL, device VARCHAR, source VARCHAR, code VARCHAR, reason VARCHAR, payload VARCHAR);
      CREATE TABLE upperstack_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
      INSERT INTO upperstack_meta VALUES ('schema_version', '1');
      INSERT INTO deadletters VALUES
        (TIMESTAMP '2026-01-01 00:00:02', 'b', 'mqtt:t/b', 'SCHEMA_VIOLATION', 'later', '{"v":"x"}'),
        (TIMESTAMP '2026-01-01 00:00:01', 'a', 'mqtt:t/a', 'DECODE_FAILED', 'earlier', 'base64:AP8Q'),
        (TIMESTAMP '2026-01-01 00:00:03', 'c', 'mqtt:t/c', 'DECODE_FAILED', 'cut', '${'z'.repeat(4096)}');`,
    );
    await withStore(
      async (s) => {
        const got = await s.deadLetters({ limit: 10, order: 'asc', withBody: true });
        assert.deepEqual(
          got.map((l) => [l.id, l.device, l.reason, l.body, l.replayable]),
          [
            [1, 'a', 'earlier', Buffer.from([0x00, 0xff, 0x10]).toString('base64'), true],
            [2, 'b', 'later', Buffer.from('{"v":"x"}').toString('base64'), true],
            [3, 'c', 'cut', undefined, false],
          ],
        );
        // New letters continue the ids.
        await s.writeDeadLetters([letter(9)]);
        assert.equal((await s.deadLetters({ limit: 1, order: 'desc' }))[0].id, 4);
      },
      { path },
    );
    // Opening again leaves the table as it is.
    await withStore(async (s) => assert.equal((await s.deadLetters({ limit: 10 })).length, 4), { path });
  });
});

describe('replayFacts', () => {
  const receipts = [{ j: 'mqtt-in-1', s: 7 }];

  test('raw bytes are kept with their content type, format, meta, input and arrival time', () => {
    const payload = Buffer.from([1, 2, 3]);
    const facts = replayFacts({ payload, contentType: 'application/cbor', format: 'cbor', meta: { precision: 's' }, receivedAt: 5, upperstack: { receipts } });
    assert.deepEqual(facts, {
      input: 'mqtt-in-1',
      receivedAt: 5,
      meta: { precision: 's' },
      contentType: 'application/cbor',
      format: 'cbor',
      bytes: payload,
    });
    // The message's own bytes, not a copy of them.
    assert.equal(facts.bytes!.buffer, payload.buffer);
  });

  test('a letter with bytes goes to a spool as JSON with them as its base64 body, and is stored the same either way', async () => {
    const bytes = Buffer.from([0, 0xff, 7]);
    const spooled = JSON.parse(JSON.stringify(spoolSafe(letter(0, { bytes })))) as DeadLetter;
    assert.deepEqual([spooled.body, 'bytes' in spooled], ['AP8H', false]);
    await withStore(async (s) => {
      await s.writeDeadLetters([letter(0, { bytes }), spooled]);
      const got = await s.deadLetters({ limit: 2, order: 'asc', withBody: true });
      assert.deepEqual(got.map((l) => l.body), ['AP8H', 'AP8H']);
    });
  });

  test('Readings are kept as their JSON; too large or cut values are not kept', () => {
    const r = { device: 'd', ts: Date.UTC(2026, 0, 1), fields: { t: 'x' }, tags: {} };
    const facts = replayFacts({ payload: [r, r], contentType: 'application/cbor', format: 'cbor', meta: { route: 'insert' } });
    assert.deepEqual([facts.format, facts.contentType, facts.meta], ['json', 'application/json', undefined]);
    assert.deepEqual(JSON.parse(Buffer.from(facts.bytes!).toString()), [r, r]);
    assert.equal(replayFacts({ payload: Buffer.alloc(11) }, 10).bytes, undefined);
    // 10,000 levels deep: written without recursion, cut, so not kept (and no RangeError).
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = { a: deep };
    assert.equal(replayFacts({ payload: deep }, 1000).bytes, undefined);
    assert.equal(Buffer.from(replayFacts({ payload: { x: [1, 2] } }).bytes!).toString(), '{"x":[1,2]}');
  });
});

describe('GET /api/v1/deadletters handler', () => {
  test('parameters: codes, range, limit, order, replayed, cursor; each mistake names its parameter', () => {
    assert.deepEqual(parseDeadLetterParams({ device: 'd', code: 'A_B,C', from: String(T0), to: '2026-01-01T00:00:01Z', limit: '5', order: 'desc', replayed: 'false' }), {
      limit: 5,
      order: 'desc',
      from: T0,
      to: T0 + 1000,
      device: 'd',
      codes: ['A_B', 'C'],
      replayed: false,
    });
    const cursor = encodeDeadLetterCursor({ ts: T0, id: 42 });
    assert.deepEqual(decodeDeadLetterCursor(cursor), { ts: T0, id: 42 });
    for (const [q, parameter] of [
      [{ code: 'lower' }, 'code'],
      [{ limit: '0' }, 'limit'],
      [{ limit: '1001' }, 'limit'],
      [{ order: 'up' }, 'order'],
      [{ replayed: 'yes' }, 'replayed'],
      [{ cursor: 'nope' }, 'cursor'],
      [{ from: '2026-13-01' }, 'from'],
      [{ device: ' ' }, 'device'],
      // A misspelt filter is refused, not read as no filter.
      [{ devcie: 'd' }, 'devcie'],
    ] as const) {
      assert.throws(() => parseDeadLetterParams(q), (e: unknown) => e instanceof BadParameterError && e.details.parameter === parameter, JSON.stringify(q));
    }
  });

  test('JSON with next, CSV with the Next-Cursor header', async () => {
    await withStore(async (s) => {
      await s.writeDeadLetters([letter(0), letter(1, { reason: 'comma, "quoted"' }), letter(2)]);
      const first = await handleDeadLetters(s, { limit: '2' }, undefined);
      assert.equal(first.status, 200);
      const body = JSON.parse(first.body) as { deadLetters: Array<Record<string, unknown>>; next: string };
      assert.deepEqual(body.deadLetters[0], {
        id: 1,
        ts: '2026-01-01T00:00:00.000Z',
        device: 'even',
        source: 'mqtt:devices/even/telemetry',
        code: 'DECODE_FAILED',
        reason: 'reason 0',
        payload: '{"i":0}',
        replayable: true,
        replayedAt: null,
      });
      assert.equal(first.headers?.['Next-Cursor'], body.next);
      const csv = await handleDeadLetters(s, { cursor: body.next }, 'text/csv');
      // The last page: no Next-Cursor, only what says the type follows Accept.
      assert.deepEqual(csv.headers, { Vary: 'Accept' });
      assert.equal(csv.body, 'id,ts,device,source,code,reason,replayable,replayed_at,payload\r\n3,2026-01-01T00:00:02.000Z,even,mqtt:devices/even/telemetry,SCHEMA_VIOLATION,reason 2,true,,"{""i"":2}"\r\n');
      const bad = await handleDeadLetters(s, { limit: 'x' }, undefined);
      assert.equal(bad.status, 400);
      assert.equal((JSON.parse(bad.body) as { error: { parameter: string } }).error.parameter, 'limit');
    });
  });
});

describe('replayDeadLetters', () => {
  const body = (text: string) => Buffer.from(text).toString('base64');
  async function withIntake(fn: (intake: Intake, emitted: IntakeItem[]) => Promise<void>, opts: Partial<IntakeOptions> = {}): Promise<void> {
    const emitted: IntakeItem[] = [];
    const intake = new Intake({ id: `replay-${n++}`, dir: join(dir, `journal-${n}`), highWater: 0, emit: (items) => emitted.push(...items), ...opts });
    intake.open();
    try {
      await fn(intake, emitted);
    } finally {
      intake.close();
    }
  }

  test('letters go back in through the input as they came: source, bytes, content type, meta, device, first arrival', async () => {
    await withStore(async (s) => {
      await withIntake(async (intake, emitted) => {
        await s.writeDeadLetters([
          letter(0, { body: body('{"t":1}'), contentType: 'application/json', meta: { precision: 'ms' }, receivedAt: T0 - 60_000, input: intake.id }),
          letter(1, { payload: 'y'.repeat(5000) }),
          letter(2, { body: body('{"t":3}'), source: 'coap:/t' }),
        ]);
        const target = { id: intake.id, submit: (recs: Received[]) => intake.submit(recs) };
        const targetFor = (l: DeadLetter) => (l.source.startsWith('coap:') ? 'no coap input is deployed' : target);
        const r = await replayDeadLetters(s, parseReplayParams({}, undefined), targetFor);
        assert.deepEqual(r, { replayed: 1, ids: [1], skipped: [{ id: 3, code: 'NO_INPUT', reason: 'no coap input is deployed' }], notReplayable: 1 });
        await new Promise((resolve) => setImmediate(resolve));
        assert.equal(emitted.length, 1);
        const rec = emitted[0].rec;
        assert.deepEqual(
          { source: rec.source, payload: rec.payload.toString(), contentType: rec.contentType, meta: rec.meta, device: rec.device, receivedAt: rec.receivedAt },
          { source: 'mqtt:devices/even/telemetry', payload: '{"t":1}', contentType: 'application/json', meta: { precision: 'ms', replayOf: '1' }, device: 'even', receivedAt: T0 - 60_000 },
        );
        // Marked; taken once only.
        assert.deepEqual((await replayDeadLetters(s, parseReplayParams({}, undefined), targetFor)).replayed, 0);
        // Named ids that are not replayed say why: replayed already, message not kept, no such letter.
        const named = await replayDeadLetters(s, parseReplayParams({}, { ids: [1, 2, 99] }), targetFor);
        assert.equal(named.replayed, 0);
        assert.deepEqual(
          named.skipped.map((x) => [x.id, x.code, x.reason.replace(/at .*$/, 'at T')]),
          [
            [1, 'ALREADY_REPLAYED', 'it was replayed already, at T'],
            [2, 'NOT_KEPT', "its message was not kept (SCHEMA_VIOLATION: a replay would be refused the same way, or the message was an impostor's or too large to keep), so it cannot be replayed"],
            [99, 'NOT_FOUND', 'no dead letter has this id'],
          ],
        );
        const [marked] = await s.deadLetters({ ids: [1], limit: 1 });
        assert.ok(marked.replayedAt !== undefined);
      });
    });
  });

  test('a letter whose body file was lost is skipped with a reason, not replayed as an empty message nor marked', async () => {
    const path = dbPath();
    await withStore(
      async (s) => {
        await s.writeDeadLetters([letter(0, { body: body('{"t":1}') })]);
        rmSync(`${path}.bodies`, { recursive: true });
        const submitted: Received[] = [];
        const target = {
          id: 'in',
          submit: async (recs: Received[]): Promise<SubmitResult> => {
            submitted.push(...recs);
            return { accepted: recs.map((_, i) => i) };
          },
        };
        const r = await replayDeadLetters(s, parseReplayParams({}, undefined), () => target);
        assert.deepEqual(r, { replayed: 0, ids: [], skipped: [{ id: 1, code: 'BODY_MISSING', reason: 'its message could not be read back from the store' }], notReplayable: 0 });
        assert.equal(submitted.length, 0);
        assert.equal((await s.deadLetters({ ids: [1], limit: 1 }))[0].replayedAt, undefined);
      },
      { path },
    );
  });

  test('a letter that fails again during the call is not taken again by the same call', async () => {
    await withStore(async (s) => {
      await s.writeDeadLetters(Array.from({ length: 3 }, (_, i) => letter(i, { body: body(`{"i":${i}}`) })));
      let submits = 0;
      const target = {
        id: 'in',
        // Each replayed message fails again at once: a new letter, later than every other.
        submit: async (recs: Received[]) => {
          submits += recs.length;
          await s.writeDeadLetters(recs.map((r, i) => ({ ...letter(100 + submits + i, { body: r.payload.toString('base64') }), ts: Date.now() })));
          return { accepted: recs.map((_, i) => i) };
        },
      };
      const r = await replayDeadLetters(s, parseReplayParams({ limit: '100' }, undefined), () => target);
      assert.deepEqual([r.replayed, r.ids], [3, [1, 2, 3]]);
      assert.equal(submits, 3);
      // The new letters wait for the next call.
      assert.equal((await s.deadLetters({ replayed: false, limit: 10 })).length, 3);
    });
  });

  test('concurrent replays submit each letter once', async () => {
    await withStore(async (s) => {
      await s.writeDeadLetters(Array.from({ length: 20 }, (_, i) => letter(i, { body: body(`{"i":${i}}`) })));
      const submitted: string[] = [];
      const target = {
        id: 'in',
        submit: async (recs: Received[]) => {
          await new Promise((r) => setTimeout(r, 5));
          submitted.push(...recs.map((r) => r.meta!.replayOf));
          return { accepted: recs.map((_, i) => i) };
        },
      };
      const [a, b] = await Promise.all([replayDeadLetters(s, parseReplayParams({}, undefined), () => target), replayDeadLetters(s, parseReplayParams({}, undefined), () => target)]);
      assert.equal(a.replayed + b.replayed, 20);
      assert.equal(submitted.length, 20);
      assert.equal(new Set(submitted).size, 20);
    });
  });

  test('an input that refuses (backpressure): the rest waits, unmarked, for the next call', async () => {
    await withStore(async (s) => {
      await s.writeDeadLetters([letter(0, { body: body('a') }), letter(1, { body: body('b') })]);
      let refuse = true;
      const target = {
        id: 'in',
        submit: async (recs: Received[]): Promise<SubmitResult> =>
          refuse ? { refused: 'backlog', retryAfterMs: 1500, error: new BackpressureError('in cannot take more now', { reason: 'backlog', retryAfterMs: 1500 }) } : { accepted: recs.map((_, i) => i) },
      };
      const first = await handleReplay(s as unknown as TimeSeriesStore, {}, undefined, () => target);
      assert.equal(first.status, 503);
      assert.equal(first.headers?.['Retry-After'], '2');
      assert.equal((await s.deadLetters({ replayed: false, limit: 10 })).length, 2);
      refuse = false;
      const second = await handleReplay(s as unknown as TimeSeriesStore, { limit: '1' }, { code: ['SCHEMA_VIOLATION', 'DECODE_FAILED'] }, () => target);
      assert.deepEqual(JSON.parse(second.body), { replayed: 1, ids: [1], skipped: [], notReplayable: 0 });
    });
  });

  test('parameters: query string and body together; what does not apply to a replay is refused by name', () => {
    assert.deepEqual(parseReplayParams({ device: 'd' }, { code: 'SCHEMA_VIOLATION', ids: [3, 4], input: 'in1', from: T0 }), {
      query: { limit: 1000, order: 'asc', from: T0, device: 'd', codes: ['SCHEMA_VIOLATION'], ids: [3, 4] },
      input: 'in1',
    });
    // ids in the query string, as a comma-separated list.
    assert.deepEqual(parseReplayParams({ ids: '2,3' }, undefined).query.ids, [2, 3]);
    for (const [q, b, parameter] of [
      [{ cursor: 'x' }, undefined, 'cursor'],
      [{}, { replayed: true }, 'replayed'],
      [{}, { ids: [0] }, 'ids'],
      [{}, { ids: 'all' }, 'ids'],
      [{ limit: '10001' }, undefined, 'limit'],
      [{}, [1, 2], 'body'],
      [{}, { device: 3 }, 'device'],
      // A misspelt filter in the query string would replay every letter: refused by name.
      [{ devcie: 'dev9' }, undefined, 'devcie'],
      [{ ids: 'all' }, undefined, 'ids'],
      [{ ids: '2,,3' }, undefined, 'ids'],
    ] as const) {
      assert.throws(() => parseReplayParams(q, b), (e: unknown) => e instanceof BadParameterError && e.details.parameter === parameter, JSON.stringify([q, b]));
    }
  });
});
