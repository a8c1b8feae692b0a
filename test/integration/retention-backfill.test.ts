/**
 * A backfill older than the store keeps, on the real runtime (default pack,
 * 30-day raw retention): hours of history 40 days old are stored, a restart's
 * retention pass removes their raw rows and seals their hours, then a device
 * re-sends 5,000 readings for those hours. The store names them all as too
 * old, they are dead-lettered with BEYOND_RETENTION and the cutoff, and the
 * input's journal drains, so readings sent after the backfill are stored
 * (before, each reading was isolated on its own and the journal stayed paused
 * for minutes).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

const HOUR = 3_600_000;
const DEVICE = 'backfill';
const HOURS = 120;

interface Letter {
  device: string;
  code: string;
  reason: string;
}

let rt: Runtime | undefined;
after(async () => {
  await rt?.stop();
});

async function publishAll(r: Runtime, rows: Array<{ ts: number; v: number }>, per = 100): Promise<void> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${r.mqttPort}`, { clientId: `backfill-${Date.now()}` });
  try {
    for (let i = 0; i < rows.length; i += per) await client.publishAsync(`devices/${DEVICE}/telemetry`, JSON.stringify(rows.slice(i, i + per)), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

async function health(r: Runtime): Promise<{ journal: { pending: number } }> {
  return (await (await r.get('/health')).json()) as { journal: { pending: number } };
}

/** Every dead letter of the device with that code, page by page. */
async function letters(r: Runtime, code: string): Promise<Letter[]> {
  const out: Letter[] = [];
  let cursor = '';
  for (;;) {
    const res = await r.get(`/api/v1/deadletters?device=${DEVICE}&code=${code}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    assert.equal(res.status, 200, await res.clone().text());
    const page = (await res.json()) as { deadLetters: Letter[]; next?: string };
    out.push(...page.deadLetters);
    if (!page.next) return out;
    cursor = page.next;
  }
}

test('5,000 readings for hours retention has sealed are dead-lettered together and the journal drains', async () => {
  const start = Math.floor((Date.now() - 40 * 24 * HOUR) / HOUR) * HOUR;
  rt = await startRuntime();
  const dataDir = rt.dataDir;
  // History the store never held is taken (its raw rows go at the next retention pass).
  await publishAll(
    rt,
    Array.from({ length: HOURS }, (_, h) => ({ ts: start + h * HOUR + 1000, v: h })),
  );
  await eventually(async () => ((await health(rt!)).journal.pending === 0 ? true : undefined), 60_000, 'the history stored');
  await rt.stop();

  // The restart's retention pass removes those raw rows and seals their hours.
  rt = await startRuntime({ dataDir });
  const backfill = Array.from({ length: 5000 }, (_, i) => ({ ts: start + (i % HOURS) * HOUR + 2000 + Math.floor(i / HOURS), v: -i }));
  await publishAll(rt, backfill);
  // Readings of today after the backfill: they wait behind it in the journal.
  const now = Date.now();
  await publishAll(rt, Array.from({ length: 10 }, (_, i) => ({ ts: now - 60_000 + i, v: i })));

  const refused = await eventually(
    async () => {
      const l = await letters(rt!, 'BEYOND_RETENTION');
      return l.length >= 5000 ? l : undefined;
    },
    120_000,
    '5,000 dead letters',
  );
  assert.equal(refused.length, 5000);
  assert.ok(refused.every((l) => /older than the store keeps \(cutoff \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)/.test(l.reason)), refused[0].reason);
  assert.equal((await letters(rt, 'STORE_REJECTED')).length, 0, 'none went through the one-by-one isolation');
  await eventually(async () => ((await health(rt!)).journal.pending === 0 ? true : undefined), 60_000, 'the journal drained');
  const res = await rt.get(`/api/v1/readings?device=${DEVICE}&from=${new Date(now - 120_000).toISOString()}&limit=100`);
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { readings: Array<{ ts: string | number }> };
  assert.equal(body.readings.length, 10, 'the readings after the backfill are stored');
});
