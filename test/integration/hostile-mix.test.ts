/**
 * 10,000 MQTT messages, half of them hostile (nested 5,000 to 100,000 deep,
 * 20,000 fields wide, long strings, NaN, invalid UTF-8, lone surrogates,
 * truncated, junk, too many readings, too large), against the real runtime with
 * the default flow pack: afterwards a new device is stored and queryable,
 * /health is 200, the journals hold nothing unsettled, and every message is
 * accounted for: stored + dead-lettered = sent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { DuckDBInstance } from '@duckdb/node-api';
import { Journal } from '../../nodes/lib/journal/journal';
import { publishMix } from '../helpers/hostile-mix';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

const COUNT = Number(process.env.HOSTILE_MESSAGES ?? 10_000);

async function sql(dataDir: string, query: string): Promise<unknown[][]> {
  const db = await DuckDBInstance.create(join(dataDir, 'upperstack.duckdb'));
  try {
    const conn = await db.connect();
    const rows = (await conn.runAndReadAll(query)).getRows();
    conn.closeSync();
    return rows;
  } finally {
    db.closeSync();
  }
}

describe('a hostile mix of 10,000 MQTT messages', () => {
  let rt: Runtime;
  before(async () => {
    rt = await startRuntime();
  });
  after(async () => {
    await rt?.stop();
  });

  test('leaves the pipeline healthy, settled, and every message stored or dead-lettered', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'hostile-mix' });
    const sent = await publishMix(client, COUNT);
    await client.endAsync();
    assert.equal(sent.stored + sent.dead, COUNT);

    // A device that has never been seen before is stored and queryable.
    execFileSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/after-mix/telemetry', '-m', '{"v":42}']);
    const readings = await eventually(async () => {
      const body = (await (await rt.get('/api/v1/readings?device=after-mix')).json()) as { readings: Array<{ fields: Record<string, unknown> }> };
      return body.readings.length ? body.readings : undefined;
    }, 120_000, 'the reading of a new device after the mix');
    assert.deepEqual(readings[0].fields, { v: 42 });
    await eventually(async () => ((await fetch(`${rt.url}/health`)).status === 200 ? true : undefined), 60_000, '/health 200');
    // Everything journaled is settled before the runtime stops, so nothing is left to replay.
    await eventually(async () => {
      const h = (await (await fetch(`${rt.url}/health`)).json()) as { journal?: { pending?: number } };
      return h.journal?.pending === 0 ? true : undefined;
    }, 120_000, 'the journal backlog (/health journal.pending) to drain');
    await rt.stop();

    const root = join(rt.dataDir, 'journal');
    let unsettled = 0;
    for (const id of readdirSync(root)) {
      const j = new Journal({ dir: join(root, id) });
      unsettled += j.open().length;
      j.close();
    }
    assert.equal(unsettled, 0, 'the journals hold nothing unsettled');

    const [[stored]] = await sql(rt.dataDir, `SELECT count(DISTINCT device) FROM readings WHERE device LIKE 'hm-ok-%'`);
    const [[dead]] = await sql(rt.dataDir, `SELECT count(DISTINCT device) FROM deadletters WHERE device LIKE 'hm-bad-%'`);
    const [[extra]] = await sql(rt.dataDir, `SELECT count(*) FROM deadletters WHERE device LIKE 'hm-ok-%'`);
    const codes = await sql(rt.dataDir, `SELECT code, count(*) FROM deadletters WHERE device LIKE 'hm-bad-%' GROUP BY code ORDER BY code`);
    const detail = `sent ${JSON.stringify(sent)}; dead letters by code ${JSON.stringify(codes.map(([c, n]) => `${String(c)}=${String(n)}`))}`;
    assert.equal(Number(extra), 0, `no ordinary message was dead-lettered: ${detail}`);
    assert.equal(Number(stored), sent.stored, `every ordinary message is stored: ${detail}`);
    assert.equal(Number(dead), sent.dead, `every hostile message is dead-lettered: ${detail}`);
    assert.equal(Number(stored) + Number(dead), COUNT);
    rt = await startRuntime({ dataDir: rt.dataDir, httpPort: rt.httpPort, mqttPort: rt.mqttPort });
  });
});
