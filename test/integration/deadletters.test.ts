/**
 * Dead letters over HTTP on the real runtime, while it runs (DuckDB holds its
 * file lock, so SQL from outside is not an option): devices publish messages
 * that cannot be decoded or do not fit the schema, and
 * GET /api/v1/deadletters lists them, filtered, paged, as JSON and CSV.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import mqtt from 'mqtt';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';

interface Letter {
  id: number;
  ts: string;
  device: string;
  source: string;
  code: string;
  reason: string;
  payload: string;
  replayable: boolean;
  replayedAt: string | null;
  contentType?: string;
  format?: string;
}
/** A real client's run: its exit code and output (a timeout or a non-zero exit is a result, not a throw). */
function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (err, stdout) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout }));
  });
}

interface Page {
  deadLetters: Letter[];
  next?: string;
}

describe('GET /api/v1/deadletters on the running pipeline', () => {
  let rt: Runtime;
  let client: mqtt.MqttClient;
  let since = '';

  before(async () => {
    rt = await startRuntime();
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'dl-device' });
    since = new Date(Date.now() - 1000).toISOString();
    for (let i = 0; i < 3; i++) await client.publishAsync('devices/dl-a/telemetry', `{"t":${i},`, { qos: 1 });
    // A field name with a space does not fit the reading schema.
    for (let i = 0; i < 2; i++) await client.publishAsync('devices/dl-b/telemetry', JSON.stringify({ [`bad name ${i}`]: i, ts: 1767225600000 + i }), { qos: 1 });
    await eventually(async () => {
      const res = await rt.get(`/api/v1/deadletters?from=${since}`);
      const page = (await res.json()) as Page;
      return page.deadLetters.length >= 5 ? true : undefined;
    }, 20_000, '5 dead letters');
  });
  after(async () => {
    await client?.endAsync();
    await rt?.stop();
  });

  const page = async (query: string): Promise<Page> => {
    const res = await rt.get(`/api/v1/deadletters?${query}`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    return (await res.json()) as Page;
  };

  test('by device and by code, with where each came from and why', async () => {
    const a = await page('device=dl-a');
    assert.equal(a.deadLetters.length, 3);
    for (const l of a.deadLetters) {
      assert.equal(l.code, 'DECODE_FAILED');
      assert.equal(l.source, 'mqtt:devices/dl-a/telemetry');
      assert.match(l.reason, /byte|offset|JSON/i);
      assert.equal(l.replayable, true);
      assert.equal(l.replayedAt, null);
    }
    assert.deepEqual(a.deadLetters.map((l) => l.payload), ['{"t":0,', '{"t":1,', '{"t":2,']);
    const b = await page('device=dl-b&code=SCHEMA_VIOLATION');
    assert.equal(b.deadLetters.length, 2);
    assert.match(b.deadLetters[0].reason, /bad name/);
    assert.equal((await page('device=dl-b&code=DECODE_FAILED')).deadLetters.length, 0);
  });

  test('cursor paging visits each letter once, oldest first', async () => {
    const seen: number[] = [];
    let cursor = '';
    for (let i = 0; i < 10; i++) {
      const p = await page(`from=${since}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...p.deadLetters.map((l) => l.id));
      if (!p.next) break;
      cursor = p.next;
    }
    assert.equal(seen.length, 5);
    assert.deepEqual([...seen].sort((x, y) => x - y), seen);
    assert.equal(new Set(seen).size, 5);
  });

  test('CSV with the same key; a missing key is 401 and a bad parameter 400, both JSON', async () => {
    const csv = await rt.get(`/api/v1/deadletters?device=dl-a`, { accept: 'text/csv' });
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    const lines = (await csv.text()).trimEnd().split('\r\n');
    assert.equal(lines[0], 'id,ts,device,source,code,reason,replayable,replayed_at,payload');
    assert.equal(lines.length, 4);
    assert.match(lines[1], /^\d+,\d{4}-\d\d-\d\dT[^,]+Z,dl-a,mqtt:devices\/dl-a\/telemetry,DECODE_FAILED,/);

    const none = await fetch(`${rt.url}/api/v1/deadletters`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    const bad = await rt.get('/api/v1/deadletters?limit=lots');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { parameter: string } }).error.parameter, 'limit');
  });

  // Last: its letters come after the ones the paging test counts.
  test('an MQTT 5 publish with a Content Type keeps it in its letter (as HTTP and CoAP letters keep theirs); one without names none', async () => {
    const v5 = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'dl-device-v5', protocolVersion: 5 });
    try {
      const sent: Array<[string | Buffer, string | undefined]> = [['{"t":', 'application/json'], ['{"t":1,', undefined], [Buffer.from([0xff, 0x01]), 'application/cbor'], ['zz', 'text/x-own']];
      for (const [payload, contentType] of sent) await v5.publishAsync('devices/dl-ct/telemetry', payload, { qos: 1, ...(contentType ? { properties: { contentType } } : {}) });
    } finally {
      await v5.endAsync();
    }
    const letters = await eventually(async () => {
      const p = await page('device=dl-ct');
      return p.deadLetters.length >= 4 ? p.deadLetters : undefined;
    }, 20_000, '4 letters of dl-ct');
    assert.deepEqual(letters.map((l) => [l.payload, l.code, l.contentType, l.format]), [
      ['{"t":', 'DECODE_FAILED', 'application/json', 'json'],
      ['{"t":1,', 'DECODE_FAILED', undefined, undefined],
      ['base64:/wE=', 'DECODE_FAILED', 'application/cbor', 'cbor'],
      ['zz', 'UNSUPPORTED_FORMAT', 'text/x-own', undefined],
    ]);
  });

  test('an MQTT 5 content type no decoder reads is dead-lettered UNSUPPORTED_FORMAT naming the types HTTP names, and settled; parameters and case HTTP takes still pass', async () => {
    const v5 = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'dl-device-unk', protocolVersion: 5 });
    try {
      // JSON the bytes could be read as: only the content type says it is something else.
      const sent: Array<[string, string]> = [
        ['{"ts":1767225600000,"a":1}', 'image/png'],
        ['{"ts":1767225600000,"b":2}', 'application/JSON; charset=utf-8'],
        ['{"ts":1767225600000,"c":3}', 'application/json; charset=latin1'],
        ['{"ts":1767225600000,"d":4}', 'application/octet-stream'],
      ];
      for (const [payload, contentType] of sent) await v5.publishAsync('devices/dl-unk/telemetry', payload, { qos: 1, properties: { contentType } });
    } finally {
      await v5.endAsync();
    }
    const letters = await eventually(async () => {
      const p = await page('device=dl-unk');
      return p.deadLetters.length >= 2 ? p.deadLetters : undefined;
    }, 20_000, '2 letters of dl-unk');
    assert.deepEqual(letters.map((l) => [l.code, l.contentType, l.source]), [
      ['UNSUPPORTED_FORMAT', 'image/png', 'mqtt:devices/dl-unk/telemetry'],
      ['UNSUPPORTED_FORMAT', 'application/json; charset=latin1', 'mqtt:devices/dl-unk/telemetry'],
    ]);
    // The list of types is HTTP's 415 list, word for word.
    const http = await fetch(`${rt.url}/ingest/dl-unk-http`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: '{"a":1}' });
    assert.equal(http.status, 415);
    const accepted = /use one of (.*)$/.exec(((await http.json()) as { error: { message: string } }).error.message)?.[1];
    assert.ok(accepted);
    assert.ok(letters[0].reason.startsWith(`content type image/png is not supported; use one of ${accepted}`), letters[0].reason);
    assert.match(letters[1].reason, /charset latin1 is not supported/);
    // One reading time: the fields stored come back as one row.
    const stored = await eventually(async () => {
      const r = (await (await rt.get('/api/v1/readings?device=dl-unk')).json()) as { readings: Array<{ fields: Record<string, number> }> };
      const fields = r.readings.flatMap((x) => Object.keys(x.fields)).sort();
      return fields.length >= 2 ? fields : undefined;
    }, 20_000, 'the readings of dl-unk');
    assert.deepEqual(stored, ['b', 'd']);
    // Refused like any other dead letter: its journal entry is settled, nothing waits to be replayed.
    await eventually(async () => {
      const h = (await (await rt.get('/health')).json()) as { journal?: { pending: number } };
      return h.journal?.pending === 0 ? true : undefined;
    }, 20_000, 'nothing unsettled');
  });

  test('an empty payload is DECODE_FAILED "the payload is empty" over MQTT, HTTP and CoAP alike', async () => {
    const client5 = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'dl-device-empty' });
    try {
      await client5.publishAsync('devices/dl-empty-mqtt/telemetry', '', { qos: 1 });
    } finally {
      await client5.endAsync();
    }
    const http = await fetch(`${rt.url}/ingest/dl-empty-http`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' });
    assert.equal(http.status, 400);
    assert.deepEqual((({ code, message }) => [code, message])(((await http.json()) as { error: { code: string; message: string } }).error), ['DECODE_FAILED', 'the payload is empty']);
    const coap = await new Promise<string>((resolve) => execFile('coap-client-notls', ['-m', 'post', '-t', '50', `coap://127.0.0.1:${rt.coapPort}/telemetry/dl-empty-coap`], { timeout: 20_000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`)));
    assert.match(coap, /4\.00 DECODE_FAILED: the payload is empty/);
    for (const device of ['dl-empty-mqtt', 'dl-empty-http', 'dl-empty-coap']) {
      const letters = await eventually(async () => {
        const p = await page(`device=${device}`);
        return p.deadLetters.length >= 1 ? p.deadLetters : undefined;
      }, 20_000, `a letter of ${device}`);
      assert.deepEqual(letters.map((l) => [l.code, l.reason]), [['DECODE_FAILED', 'the payload is empty']], device);
    }
  });

  test('an empty retained publish clears the retained message: acknowledged, counted, no reading and no letter', async () => {
    const topic = 'devices/dl-retained/telemetry';
    const pub = (...args: string[]) => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', topic, ...args]);
    const retained = () => run('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-u', 'apikey', '-P', rt.apiKey, '-t', topic, '--retained-only', '-C', '1', '-W', '3']);
    await pub('-r', '-m', '{"ts":1767225600000,"t":1}');
    assert.equal((await retained()).stdout.trim(), '{"ts":1767225600000,"t":1}');
    // mosquitto_pub waits for the PUBACK of its QoS 1 publish: exit 0 is the broker's acknowledgement.
    assert.equal((await pub('-r', '-n')).code, 0);
    assert.equal((await retained()).stdout, '', 'the retained message is cleared');
    // A bad message after the clear: once its letter is there, the clear (journaled before it) has been settled.
    await pub('-m', '{"t":');
    const letters = await eventually(async () => {
      const p = await page('device=dl-retained');
      return p.deadLetters.length >= 1 ? p.deadLetters : undefined;
    }, 20_000, 'the letter after the clear');
    assert.deepEqual(letters.map((l) => [l.code, l.payload]), [['DECODE_FAILED', '{"t":']]);
    const readings = await eventually(async () => {
      const body = (await (await rt.get('/api/v1/readings?device=dl-retained')).json()) as { readings: Array<{ fields: Record<string, unknown> }> };
      return body.readings.length >= 1 ? body.readings : undefined;
    }, 20_000, 'the retained reading');
    assert.deepEqual(readings.map((r) => r.fields.t), [1]);
    assert.match(await (await rt.get('/metrics')).text(), /^upperstack_mqtt_retained_cleared_total 1$/m);
  });

  test('a SenML pack with two records of the same name and time is refused alike over MQTT, HTTP and CoAP, naming both', async () => {
    const pack = (device: string) => JSON.stringify([{ bn: `${device}:`, bt: 1767225600, n: 'temp', v: 1 }, { n: 'temp', vs: 'hot' }]);
    const reason = (device: string) => `SenML [1]: record "${device}:temp" has the same resolved name and time as record [0]: a pack gives one value per name and time`;
    assert.equal((await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/dl-senml-mqtt/telemetry', '-m', pack('dl-senml-mqtt')])).code, 0);
    const http = await fetch(`${rt.url}/ingest/dl-senml-http`, { method: 'POST', headers: { 'content-type': 'application/senml+json' }, body: pack('dl-senml-http') });
    assert.equal(http.status, 400);
    assert.deepEqual((({ code, message, path }) => [code, message, path])(((await http.json()) as { error: { code: string; message: string; path: string } }).error), ['DECODE_FAILED', reason('dl-senml-http'), '[1]']);
    // Content-Format 110: application/senml+json.
    const coap = await new Promise<string>((resolve) => execFile('coap-client-notls', ['-m', 'post', '-t', '110', '-e', pack('dl-senml-coap'), `coap://127.0.0.1:${rt.coapPort}/telemetry/dl-senml-coap`], { timeout: 20_000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`)));
    assert.equal(coap.trim(), `4.00 DECODE_FAILED: ${reason('dl-senml-coap')}`);
    for (const device of ['dl-senml-mqtt', 'dl-senml-http', 'dl-senml-coap']) {
      const letters = await eventually(async () => {
        const p = await page(`device=${device}`);
        return p.deadLetters.length >= 1 ? p.deadLetters : undefined;
      }, 20_000, `a letter of ${device}`);
      assert.deepEqual(letters.map((l) => [l.code, l.reason]), [['DECODE_FAILED', reason(device)]], device);
    }
  });

  test('HTTP and CoAP letters name the format their Content-Type / Content-Format named, as MQTT 5 letters do', async () => {
    await fetch(`${rt.url}/ingest/dl-http`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: Buffer.from([0xff, 0x01]) });
    // Content-Format 60: application/cbor.
    await new Promise<void>((resolve) => execFile('coap-client-notls', ['-m', 'post', '-t', '60', '-e', '\u00ff', `coap://127.0.0.1:${rt.coapPort}/telemetry/dl-coap`], { timeout: 20_000 }, () => resolve()));
    for (const device of ['dl-http', 'dl-coap']) {
      const letters = await eventually(async () => {
        const p = await page(`device=${device}`);
        return p.deadLetters.length >= 1 ? p.deadLetters : undefined;
      }, 20_000, `a letter of ${device}`);
      assert.deepEqual(letters.map((l) => [l.code, l.contentType, l.format]), [['DECODE_FAILED', 'application/cbor', 'cbor']], device);
    }
  });
});
