/**
 * Three cluster members (`npm start` with UPPERSTACK_CLUSTER_BROKER) behind
 * Debian's mosquitto, writing to Debian's influxd, all on loopback: 1,000
 * simulated devices publish at QoS 1 to `devices/<id>/telemetry`; the members
 * share them through `$share/<group>/devices/+/telemetry`. One member is killed
 * with SIGKILL mid-stream and started again on its data folder (a crashed pod
 * coming back): every reading the broker accepted is stored in the shared
 * server exactly once (a count per device, not a sum over duplicates), and any
 * member's query API answers for devices another member ingested. The 64
 * analytics partitions are owned by the three members, and the killed
 * member's move to the other two.
 *
 * UPPERSTACK_CLUSTER_TEST_READINGS sets the number of readings (default 100,000,
 * about a minute here).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { eventually, freePort, startRuntime, type Runtime } from '../helpers/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import { influxQuery, startInfluxd, type TsdbServer } from '../helpers/influxd';
import { tempDir } from '../helpers/temp';
import { watchClaims } from '../helpers/cluster';

const DEVICES = 1000;
const READINGS = Number(process.env.UPPERSTACK_CLUSTER_TEST_READINGS || 100_000);
const PER_DEVICE = Math.ceil(READINGS / DEVICES);
// Recent times: the embedded store's default retention (30 days) refuses readings for buckets it has sealed.
const T0 = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 2 * 3_600_000;

let mosq: Mosquitto;
let influx: TsdbServer;
const members: Array<{ rt: Runtime; env: Record<string, string>; dataDir: string; httpPort: number; mqttPort: number }> = [];

function device(i: number): string {
  return `dev${String(i).padStart(4, '0')}`;
}

async function startMember(n: number, again?: (typeof members)[number]): Promise<(typeof members)[number]> {
  const m = again ?? {
    rt: undefined as unknown as Runtime,
    dataDir: tempDir(`us-cluster-${n}-`),
    httpPort: await freePort(),
    mqttPort: await freePort(),
    env: {
      UPPERSTACK_CLUSTER_BROKER: `mqtt://127.0.0.1:${mosq.port}`,
      UPPERSTACK_CLUSTER_GROUP: 'e2e',
      UPPERSTACK_CLUSTER_MEMBER: `m${n}`,
      UPPERSTACK_CLUSTER_SINK: influx.url,
      UPPERSTACK_CLUSTER_SINK_KIND: 'influxdb',
    },
  };
  m.rt = await startRuntime({ dataDir: m.dataDir, httpPort: m.httpPort, mqttPort: m.mqttPort, env: m.env });
  return m;
}

before(async () => {
  mosq = await startMosquitto({ maxQueuedMessages: 1_000_000 });
  influx = await startInfluxd();
  for (let n = 1; n <= 3; n++) members.push(await startMember(n));
});

after(async () => {
  for (const m of members) await m.rt?.stop();
  await influx?.destroy();
  await mosq?.stop();
});

/** Publishes readings k in [from, to) of every device, QoS 1, from four connections; resolves once the broker has acknowledged all. */
async function publish(clients: MqttClient[], from: number, to: number): Promise<void> {
  const pending: Promise<unknown>[] = [];
  let c = 0;
  for (let k = from; k < to; k++) {
    for (let i = 0; i < DEVICES; i++) {
      if (k * DEVICES + i >= READINGS) break;
      const body = JSON.stringify({ ts: T0 + k * 10_000, seq: k, temp: 20 + (i % 7) });
      pending.push(clients[c++ % clients.length].publishAsync(`devices/${device(i)}/telemetry`, body, { qos: 1 }));
      if (pending.length >= 2000) await Promise.all(pending.splice(0));
    }
  }
  await Promise.all(pending);
}

async function storedPerDevice(): Promise<Map<string, number>> {
  const [r] = await influxQuery(influx, 'SELECT count(seq) FROM telemetry GROUP BY device', 'upperstack');
  return new Map((r.series ?? []).map((s) => [s.tags!.device, Number(s.values[0][1])]));
}

test('1,000 devices through three members, one killed with SIGKILL mid-stream: every reading stored once', async () => {
  const clients = await Promise.all([0, 1, 2, 3].map((i) => mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { clientId: `sim-${i}`, protocolVersion: 5 })));
  // The analytics partitions' owners, as the broker holds them (retained claims).
  const { claims, client: watcher } = await watchClaims(mosq, 'e2e');
  const owners = () => new Set(claims.values());
  try {
    await eventually(async () => (claims.size === 64 && owners().size === 3 ? true : undefined), 60_000, 'the 64 partitions owned by the three members');
    const killAt = Math.floor(PER_DEVICE * 0.4);
    await publish(clients, 0, killAt);
    // Mid-stream: member 2 has readings journaled and acknowledged but not all stored yet.
    await members[1].rt.kill9();
    await publish(clients, killAt, PER_DEVICE);
    // Its partitions move to the two others (the broker sends its will at once; at the latest the lease ends).
    await eventually(async () => (claims.size === 64 && !owners().has('m2') ? true : undefined), 60_000, 'the killed member’s partitions taken over');
    // The other two keep storing meanwhile.
    const before = await eventually(async () => {
      const m = await storedPerDevice();
      const total = [...m.values()].reduce((a, b) => a + b, 0);
      return total >= READINGS * 0.6 ? total : undefined;
    }, 120_000, 'the remaining members storing');
    assert.ok(before < READINGS || before === READINGS);
    // It comes back on its data folder and session: its journal replays, the broker delivers what it held for it.
    members[1] = await startMember(2, members[1]);
    let stored = 0;
    const perDevice = await eventually(async () => {
      const m = await storedPerDevice();
      stored = [...m.values()].reduce((a, b) => a + b, 0);
      return stored >= READINGS ? m : undefined;
    }, 180_000, `all ${READINGS} readings in InfluxDB`).catch(async (err: unknown) => {
      const health = await Promise.all(members.map((m) => m.rt.get('/health').then((r) => r.text()).catch((e: unknown) => String(e))));
      throw new Error(`${String(err)} (${stored} stored)\n${health.join('\n')}`);
    });
    assert.equal(perDevice.size, DEVICES);
    for (let i = 0; i < DEVICES; i++) {
      const want = Math.max(0, Math.min(PER_DEVICE, Math.ceil((READINGS - i) / DEVICES)));
      assert.equal(perDevice.get(device(i)), want, device(i));
    }
    const [sum] = await influxQuery(influx, 'SELECT sum(seq) FROM telemetry', 'upperstack');
    let wantSum = 0;
    for (let k = 0; k < PER_DEVICE; k++) for (let i = 0; i < DEVICES; i++) if (k * DEVICES + i < READINGS) wantSum += k;
    assert.equal(Number(sum.series![0].values[0][1]), wantSum);
  } finally {
    await Promise.all(clients.map((c) => c.endAsync()));
    await watcher.endAsync();
  }
});

test('each member answers queries for every device from the shared server', async () => {
  for (const m of members) {
    const res = await m.rt.get(`/api/v1/readings?device=${device(7)}&limit=1000`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { readings: Array<{ fields: { seq: number } }> };
    assert.deepEqual(body.readings.map((r) => r.fields.seq), Array.from({ length: PER_DEVICE }, (_, k) => k));
  }
});
