/**
 * /health on the real runtime with a short threshold from the environment: a
 * flow that drops what its MQTT input receives leaves a journal entry
 * unsettled, and /health says so (503, the input's journal, its age); once the
 * default flow is deployed again the entry is replayed and stored, /health is
 * 200, and the log has one line for each change.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { adminToken, eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

const ROOT = join(__dirname, '..', '..', '..');
const pipeline = JSON.parse(readFileSync(join(ROOT, 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;

interface HealthBody {
  status: string;
  failing: string[];
  problems: Array<{ component: string; code: string; message: string }>;
  journals: Array<{ name: string; pending: number; oldestUnsettledMs: number | null }>;
  disk: { journals: Array<{ bytes: number; budget: number }>; spools: Array<{ bytes: number; budget: number }> };
}

describe('/health on the running pipeline', () => {
  let rt: Runtime;
  const telemetry = pipeline.find((n) => n.type === 'upperstack-mqtt-in' && n.name === 'device telemetry')!;
  const component = `journal:${String(telemetry.name)}`;

  before(async () => {
    const dataDir = tempDir('us-health-e2e-');
    // The pack with the telemetry input wired to nothing: what it receives is never settled.
    const dropping = pipeline.map((n) => (n.id === telemetry.id ? { ...n, wires: [[], []] } : n));
    writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(dropping));
    rt = await startRuntime({ dataDir, env: { UPPERSTACK_HEALTH_UNSETTLED_SECONDS: '1' } });
  });
  after(async () => {
    await rt?.stop();
  });

  const health = async () => {
    const res = await fetch(`${rt.url}/health`);
    return { status: res.status, body: (await res.json()) as HealthBody };
  };

  test('an unsettled entry turns /health to 503 after the threshold; deploying a flow that stores it turns it back', async () => {
    const first = await health();
    assert.equal(first.status, 200);
    assert.ok(first.body.disk.journals.length >= 1 && first.body.disk.journals.every((j) => j.budget > 0), JSON.stringify(first.body.disk));
    assert.ok(first.body.disk.spools.length >= 1 && first.body.disk.spools.every((s) => s.budget > 0), JSON.stringify(first.body.disk));

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'health-device' });
    // A recent time: the redeployed store's retention pass (30 days) may run after the replayed write and would delete an old one.
    await client.publishAsync('devices/h1/telemetry', JSON.stringify({ t: 21.5, ts: Date.now() - 3_600_000 }), { qos: 1 });
    await client.endAsync();

    const stuck = await eventually(async () => {
      const h = await health();
      return h.status === 503 ? h.body : undefined;
    }, 20_000, '/health 503');
    assert.deepEqual(stuck.failing, [component]);
    assert.equal(stuck.problems[0].code, 'UNSETTLED');
    const j = stuck.journals.find((x) => x.name === component)!;
    assert.equal(j.pending, 1);
    assert.ok(j.oldestUnsettledMs! >= 1000);

    // Deploy the pack as shipped (Node-RED's admin API, logged in as the editor does).
    const token = await adminToken(rt);
    const deploy = await fetch(`${rt.url}/flows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(pipeline),
    });
    assert.equal(deploy.status, 204, await deploy.text());

    await eventually(async () => ((await health()).status === 200 ? true : undefined), 20_000, '/health 200 again');
    const stored = await eventually(async () => {
      const res = await rt.get('/api/v1/readings?device=h1');
      const body = (await res.json()) as { readings: Array<{ fields: { t: number } }> };
      return body.readings.length ? body.readings : undefined;
    }, 20_000, 'the replayed reading');
    assert.equal(stored[0].fields.t, 21.5);

    // The runtime's log comes through a pipe of its own, which may be read after the answer that saw the change.
    const lines = (text: string) => rt.output().split('\n').filter((l) => l.includes(text)).length;
    const failingLine = `[warn] health: ${component} is failing (UNSETTLED)`;
    const healthyLine = `[info] health: ${component} is healthy again (UNSETTLED`;
    await eventually(async () => (lines(failingLine) && lines(healthyLine) ? true : undefined), 30_000, 'both changes logged');
    assert.equal(lines(failingLine), 1, rt.output());
    assert.equal(lines(healthyLine), 1, rt.output());
  });
});

describe('/health of a second runtime on the CoAP port of another', () => {
  let first: Runtime | undefined;
  let second: Runtime | undefined;
  after(async () => {
    await second?.stop();
    await first?.stop();
  });

  test('the second runtime\'s CoAP input fails naming the port, its /health answers 503, and the first keeps the port', async () => {
    first = await startRuntime();
    const port = String(first.coapPort);
    second = await startRuntime({ env: { UPPERSTACK_COAP_PORT: port }, ready: 'answering' });
    const failing = await eventually(async () => {
      const res = await fetch(`${second!.url}/health`);
      const body = (await res.json()) as HealthBody;
      return res.status === 503 && body.failing.some((c) => c.startsWith('coap:')) ? body : undefined;
    }, 20_000, 'the second runtime\'s /health 503');
    const coap = failing.problems.find((p) => p.component.startsWith('coap:'));
    assert.ok(coap, JSON.stringify(failing));
    // Another runtime is another program to this one.
    assert.match(coap.message, new RegExp(`udp 127\\.0\\.0\\.1:${port}: port ${port} on 127\\.0\\.0\\.1 is already in use by another program`));
    assert.match(second.output(), new RegExp(`cannot listen on udp 127\\.0\\.0\\.1:${port}: port ${port} on 127\\.0\\.0\\.1 is already in use by another program`));
    assert.equal((await fetch(`${first.url}/health`)).status, 200);
  });
});
