/**
 * A reading whose time is too far past its arrival (a device clock in year 9999) is refused on every
 * input with TS_OUT_OF_RANGE: HTTP 422 (curl), CoAP 4.22 (coap-client-notls), a dead letter over MQTT;
 * none of it is stored or served. The bound is the runtime's setting (UPPERSTACK_MAX_AHEAD_SECONDS,
 * an hour here): a reading ten minutes ahead is taken, one two hours ahead is not.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

const run = promisify(execFile);

interface Letter {
  device: string;
  code: string;
  reason: string;
}

describe('timestamps too far ahead', () => {
  let rt: Runtime;

  const curl = async (device: string, body: string): Promise<{ status: number; body: string }> => {
    const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', '-X', 'POST', '-H', `authorization: Bearer ${rt.apiKey}`, '-H', 'content-type: application/json', '--data-binary', body, `${rt.url}/ingest/${device}`]);
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
  };
  const fields = async (device: string) =>
    ((await (await rt.get(`/api/v1/readings?device=${device}`)).json()) as { readings: Array<{ fields: Record<string, unknown> }> }).readings.map((r) => r.fields);
  const letters = async (device: string): Promise<Letter[]> => ((await (await rt.get(`/api/v1/deadletters?device=${device}`)).json()) as { deadLetters: Letter[] }).deadLetters;

  before(async () => {
    rt = await startRuntime({ env: { UPPERSTACK_MAX_AHEAD_SECONDS: '3600' } });
  });
  after(async () => {
    await rt?.stop();
  });

  test('HTTP answers 422 TS_OUT_OF_RANGE naming the time and the bound; a batch keeps its other readings', async () => {
    const one = await curl('ta-http', '{"ts":"9999-01-01T00:00:00Z","t":1}');
    assert.equal(one.status, 422, one.body);
    const { error } = JSON.parse(one.body) as { error: { code: string; message: string } };
    assert.equal(error.code, 'TS_OUT_OF_RANGE');
    assert.match(error.message, /ts 9999-01-01T00:00:00\.000Z is too far in the future: the latest time taken is \d{4}-\d\d-\d\dT[\d:.]+Z \(1 h after the reading arrived\)/);
    const now = Date.now();
    const batch = await curl('ta-http-batch', JSON.stringify([{ ts: now + 600_000, t: 1 }, { ts: now + 7_200_000, t: 2 }]));
    assert.equal(batch.status, 202, batch.body);
    assert.deepEqual((JSON.parse(batch.body) as { errors: Array<{ code: string; index: number }> }).errors.map((e) => [e.code, e.index]), [['TS_OUT_OF_RANGE', 1]]);
    await eventually(async () => ((await fields('ta-http-batch')).length ? true : undefined), 20_000, 'the reading ten minutes ahead');
    assert.deepEqual(await fields('ta-http-batch'), [{ t: 1 }]);
    assert.deepEqual(await fields('ta-http'), []);
  });

  test('CoAP answers 4.22 with a diagnostic naming the code', async () => {
    const coap = await run('coap-client-notls', ['-m', 'post', '-t', '50', '-e', '{"ts":"9999-01-01T00:00:00Z","t":1}', `coap://127.0.0.1:${rt.coapPort}/telemetry/ta-coap`], { timeout: 20_000 }).catch((e: { stdout: string; stderr: string }) => e);
    const said = `${coap.stdout}${coap.stderr}`;
    assert.match(said, /^4\.22 TS_OUT_OF_RANGE: ts 9999-01-01T00:00:00\.000Z is too far in the future/);
    const [letter] = await eventually(async () => ((await letters('ta-coap')).length ? letters('ta-coap') : undefined), 20_000, 'the CoAP letter');
    assert.equal(letter.code, 'TS_OUT_OF_RANGE');
  });

  test('MQTT dead-letters it with the code; nothing is stored', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'ta-device' });
    await client.publishAsync('devices/ta-mqtt/telemetry', JSON.stringify({ ts: '9999-01-01T00:00:00Z', t: 1 }), { qos: 1 });
    await client.endAsync();
    const [letter] = await eventually(async () => ((await letters('ta-mqtt')).length ? letters('ta-mqtt') : undefined), 20_000, 'the MQTT letter');
    assert.equal(letter.code, 'TS_OUT_OF_RANGE');
    assert.match(letter.reason, /^ts 9999-01-01T00:00:00\.000Z is too far in the future/);
    assert.deepEqual(await fields('ta-mqtt'), []);
  });
});
