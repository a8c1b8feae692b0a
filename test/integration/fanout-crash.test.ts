/**
 * Fan-out survives kill -9: validate is wired to two store nodes on two store
 * configs, one of them slow (it writes at most every 2 s). The runtime is
 * killed with SIGKILL midway through a stream of numbered QoS 1 readings and
 * restarted on the same data; every reading the broker acknowledged must then
 * be in both databases. Before fan-out settlement, the fast store settled each
 * journal entry and the slow one lost what it had not written yet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { tempDir } from '../helpers/temp';

const TOTAL = 12_000;
const DEVICE = 'fanout';

/** The default pack with a second, slow store beside the first, both fed by validate. */
function flows(dataDir: string): unknown[] {
  const pack = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;
  const validate = pack.find((n) => n.id === 'us_validate')!;
  (validate.wires as string[][])[0].push('fan_store_slow');
  pack.push(
    { id: 'fan_cfg_slow', type: 'upperstack-store-config', name: 'slow copy', sinks: [{ id: 'main', kind: 'duckdb', path: join(dataDir, 'slow.duckdb'), memoryLimit: 64 }], batchSize: 100000, flushMs: 2000, configVersion: 3 },
    { id: 'fan_store_slow', type: 'upperstack-store', z: validate.z, name: 'slow store', store: 'fan_cfg_slow', configVersion: 1, x: 720, y: 240, wires: [[]] },
  );
  return pack;
}

async function seqsIn(path: string): Promise<Set<number>> {
  const store = new DuckDbStore({ path, memoryLimitMb: 64 });
  await store.open();
  try {
    const seen = new Set<number>();
    let cursor: string | undefined;
    for (;;) {
      const page = await store.readings({ device: DEVICE, limit: 10_000, cursor });
      for (const r of page.readings) seen.add(r.fields.seq as number);
      if (!page.nextCursor) return seen;
      cursor = page.nextCursor;
    }
  } finally {
    await store.close();
  }
}

async function journalPending(rt: Runtime): Promise<number> {
  const body = (await (await rt.get('/health')).json()) as { journal?: { pending: number } };
  return body.journal?.pending ?? -1;
}

test('kill -9 with validate wired to two stores, one slow: every acknowledged reading is in both after the restart', { timeout: 300_000 }, async () => {
  const dataDir = tempDir('us-fanout-crash-');
  writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(flows(dataDir)));
  const first = await startRuntime({ dataDir });
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.mqttPort}`, { clientId: 'fanout-device', reconnectPeriod: 0 });
  client.on('error', () => undefined);
  const acked = new Set<number>();
  // Recent times: the default pack keeps raw readings for 30 days, and a restart runs the retention pass.
  const base = Date.now() - 3_600_000;
  let killed = false;
  const sends: Array<Promise<void>> = [];
  for (let seq = 0; seq < TOTAL; seq++) {
    sends.push(
      client.publishAsync(`devices/${DEVICE}/telemetry`, JSON.stringify({ ts: base + seq, seq, value: seq * 0.25 }), { qos: 1 }).then(
        () => void acked.add(seq),
        () => undefined,
      ),
    );
    if (seq % 200 === 199) await Promise.race([Promise.all(sends.slice(-200)), new Promise((r) => setTimeout(r, 2000))]);
    if (!killed && acked.size >= TOTAL / 2) {
      killed = true;
      await first.kill9();
      break;
    }
  }
  assert.ok(killed, 'the runtime was killed midway');
  client.end(true);
  await Promise.allSettled(sends);
  const ackedAtKill = [...acked];
  assert.ok(ackedAtKill.length >= TOTAL / 2 && ackedAtKill.length < TOTAL, `acknowledged ${ackedAtKill.length}`);

  const second = await startRuntime({ dataDir, httpPort: first.httpPort, mqttPort: first.mqttPort });
  try {
    // The replay is done when nothing is left unsettled: both stores have written (or spooled) all of it.
    await eventually(async () => ((await journalPending(second)) === 0 ? true : undefined), 120_000, 'the journal to settle after the restart');
  } finally {
    // A clean stop closes both databases, so this process can open them.
    await second.stop();
  }
  const fast = await seqsIn(join(dataDir, 'upperstack.duckdb'));
  const slow = await seqsIn(join(dataDir, 'slow.duckdb'));
  const missingFast = ackedAtKill.filter((s) => !fast.has(s));
  const missingSlow = ackedAtKill.filter((s) => !slow.has(s));
  assert.deepEqual(missingFast.slice(0, 20), [], `${missingFast.length} of ${ackedAtKill.length} acknowledged readings missing from the fast store`);
  assert.deepEqual(missingSlow.slice(0, 20), [], `${missingSlow.length} of ${ackedAtKill.length} acknowledged readings missing from the slow store`);
});
