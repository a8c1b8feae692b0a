/**
 * HTTPS and MQTT over TLS on the real runtime, from key and certificate files
 * named in the environment: the self-signed pair of docs/security.md (made
 * with the openssl command there, kept in test/fixtures/tls). curl trusts it
 * with --cacert, mosquitto_pub with --cafile; without them both refuse it,
 * and plain HTTP on the HTTPS port gets no answer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, freePort, startRuntime, type Runtime } from '../helpers/runtime';

const run = promisify(execFile);
const TLS = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tls');
const CERT = join(TLS, 'selfsigned-cert.pem');
const KEY = join(TLS, 'selfsigned-key.pem');
let rt: Runtime;
let tlsPort = 0;

async function exec(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 30_000 });
    return { code: 0, out: `${stdout}${stderr}` };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: `${x.stdout ?? ''}${x.stderr ?? ''}` };
  }
}

before(async () => {
  tlsPort = await freePort();
  rt = await startRuntime({
    httpsCa: readFileSync(CERT, 'utf8'),
    env: { UPPERSTACK_HTTPS_KEY: KEY, UPPERSTACK_HTTPS_CERT: CERT, UPPERSTACK_MQTT_TLS_PORT: String(tlsPort) },
  });
});

after(async () => {
  await rt?.stop();
});

test('HTTPS: curl --cacert reaches the API; without the certificate curl refuses it; plain HTTP gets no answer', async () => {
  const ok = await exec('curl', ['-s', '-S', '--cacert', CERT, '-w', '\n%{http_code}', '-H', `Authorization: Bearer ${rt.apiKey}`, `https://localhost:${rt.httpPort}/api/v1/readings?device=x`]);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /\n200$/);
  const untrusted = await exec('curl', ['-s', '-S', `https://localhost:${rt.httpPort}/health`]);
  assert.equal(untrusted.code, 60, `curl exit 60 (certificate problem): ${untrusted.out}`);
  const plain = await exec('curl', ['-s', '-S', '-m', '10', '-w', '%{http_code}', `http://127.0.0.1:${rt.httpPort}/health`]);
  assert.doesNotMatch(plain.out, /200$/);
});

test('MQTT over TLS: mosquitto_pub --cafile is accepted and stored; trusting another certificate the handshake fails', async () => {
  const pub = await exec('mosquitto_pub', ['--cafile', CERT, '-h', 'localhost', '-p', String(tlsPort), '-q', '1', '-i', 'tls-dev', '-t', 'devices/tls1/telemetry', '-m', '{"t":21.5}']);
  assert.equal(pub.code, 0, pub.out);
  const body = await eventually(async () => {
    const r = await exec('curl', ['-s', '--cacert', CERT, '-H', `Authorization: Bearer ${rt.apiKey}`, `https://localhost:${rt.httpPort}/api/v1/readings?device=tls1`]);
    const j = JSON.parse(r.out) as { readings: Array<{ fields: Record<string, number> }> };
    return j.readings.length ? j : undefined;
  });
  assert.equal(body.readings[0].fields.t, 21.5);
  // Another certificate as the CA (the broker unit test's pair): the broker's is not signed by it.
  const untrusted = await exec('mosquitto_pub', ['-h', 'localhost', '-p', String(tlsPort), '--cafile', join(TLS, 'cert.pem'), '-q', '1', '-t', 'devices/tls1/telemetry', '-m', '{"t":1}']);
  assert.notEqual(untrusted.code, 0, untrusted.out);
  // Plain MQTT still on its own port.
  const plain = await exec('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/tls2/telemetry', '-m', '{"t":2}']);
  assert.equal(plain.code, 0, plain.out);
});

test('a device CA set for HTTPS: a registered device logs in with its client certificate (CN = device id) over HTTPS and over MQTT on TLS; another CA\'s certificate does not', async () => {
  const mqttTls = String(await freePort());
  const https = await startRuntime({
    httpsCa: readFileSync(CERT, 'utf8'),
    env: { UPPERSTACK_HTTPS_KEY: KEY, UPPERSTACK_HTTPS_CERT: CERT, UPPERSTACK_HTTPS_CA: join(TLS, 'ca.pem'), UPPERSTACK_MQTT_TLS_PORT: mqttTls },
  });
  try {
    const base = `https://localhost:${https.httpPort}`;
    const curl = (args: string[]) => exec('curl', ['-s', '-S', '--cacert', CERT, '-w', '\n%{http_code}', ...args]);
    const secrets: Record<string, string> = {};
    for (const id of ['devA', 'devB']) {
      const add = await curl(['-H', `Authorization: Bearer ${https.apiKey}`, '-H', 'content-type: application/json', '-d', JSON.stringify({ id }), `${base}/api/v1/devices`]);
      assert.match(add.out, /\n201$/, add.out);
      secrets[id] = (JSON.parse(add.out.slice(0, add.out.lastIndexOf('\n'))) as { secret: string }).secret;
    }
    const post = (device: string, cert?: string) =>
      curl([...(cert ? ['--cert', join(TLS, `${cert}.pem`), '--key', join(TLS, `${cert}-key.pem`)] : []), '-H', 'content-type: application/json', '-d', '{"t":1.5}', `${base}/ingest/${device}`]);
    // The certificate alone is the login: no secret sent.
    const own = await post('devA', 'client-devA');
    assert.match(own.out, /\n202$/, own.out);
    // Registered devices cannot write without it, and it does not make devA anyone else.
    assert.match((await post('devA')).out, /\n401$/);
    assert.match((await post('devB', 'client-devA')).out, /\n403$/);
    // devA's certificate with devB's login, Basic or Bearer: refused as a mismatch, not taken as devA.
    for (const login of [['-u', `devB:${secrets.devB}`], ['-H', `Authorization: Bearer ${secrets.devB}`]]) {
      const r = await curl(['--cert', join(TLS, 'client-devA.pem'), '--key', join(TLS, 'client-devA-key.pem'), ...login, '-H', 'content-type: application/json', '-d', '{"t":9}', `${base}/ingest/${login[0] === '-u' ? 'devA' : 'devB'}`]);
      assert.match(r.out, /\n403$/, r.out);
      assert.equal((JSON.parse(r.out.slice(0, r.out.lastIndexOf('\n'))) as { error: { code: string } }).error.code, 'DEVICE_MISMATCH', r.out);
    }
    // A certificate for devB signed by another CA is not a login.
    assert.match((await post('devB', 'rogue-devB')).out, /\n401$/);
    const stored = await eventually(async () => {
      const r = await curl(['-H', `Authorization: Bearer ${https.apiKey}`, `${base}/api/v1/readings?device=devA`]);
      const j = JSON.parse(r.out.slice(0, r.out.lastIndexOf('\n'))) as { readings: Array<{ fields: Record<string, number> }> };
      return j.readings.length ? j : undefined;
    });
    assert.equal(stored.readings[0].fields.t, 1.5);

    // The broker's TLS listener takes the same device CA (no UPPERSTACK_MQTT_TLS_CA): the certificate alone logs devA in over MQTT.
    const mqttPub = (cert: string, device: string, t: number) =>
      exec('mosquitto_pub', ['--cafile', CERT, '--cert', join(TLS, `${cert}.pem`), '--key', join(TLS, `${cert}-key.pem`), '-h', 'localhost', '-p', mqttTls, '-i', `${cert}-mqtt`, '-q', '1', '-t', `devices/${device}/telemetry`, '-m', JSON.stringify({ t })]);
    const overMqtt = await mqttPub('client-devA', 'devA', 2.5);
    assert.equal(overMqtt.code, 0, overMqtt.out);
    await eventually(async () => {
      const r = await curl(['-H', `Authorization: Bearer ${https.apiKey}`, `${base}/api/v1/readings?device=devA`]);
      const j = JSON.parse(r.out.slice(0, r.out.lastIndexOf('\n'))) as { readings: Array<{ fields: Record<string, number> }> };
      return j.readings.some((x) => x.fields.t === 2.5) ? true : undefined;
    }, 30_000, 'the reading sent over MQTT with the device certificate');
    // A certificate another CA signed is no login there either.
    assert.notEqual((await mqttPub('rogue-devB', 'devB', 3.5)).code, 0);

    // The TLS listener is logged and listed in /health beside the plain port.
    assert.match(https.output(), new RegExp(`MQTT over TLS listening on 127\\.0\\.0\\.1:${mqttTls}`));
    const health = await curl([`${base}/health`]);
    const components = (JSON.parse(health.out.slice(0, health.out.lastIndexOf('\n'))) as { components: Record<string, { detail: string }> }).components;
    const broker = Object.entries(components).find(([name]) => name.startsWith('broker:'));
    assert.match(broker?.[1].detail ?? '', new RegExp(`listening on 127\\.0\\.0\\.1:${https.mqttPort}, MQTT over TLS on ${mqttTls},`), JSON.stringify(components));
  } finally {
    await https.stop();
  }
});

test('a TLS port without key and certificate: the broker is in /health as failing (503) with the reason, not left out', async () => {
  // No UPPERSTACK_HTTPS_* either, so the broker has no key to fall back on: it refuses its configuration.
  const refused = await startRuntime({ env: { UPPERSTACK_MQTT_TLS_PORT: String(await freePort()) }, ready: 'answering' });
  try {
    const body = await eventually(async () => {
      const res = await fetch(`${refused.url}/health`);
      const b = (await res.json()) as { failing: string[]; problems: Array<{ component: string; message: string }> };
      return res.status === 503 && b.failing.some((c) => c.startsWith('broker:')) ? b : undefined;
    }, 30_000, '/health 503 naming the broker');
    const broker = body.problems.find((p) => p.component.startsWith('broker:'));
    assert.match(broker?.message ?? '', /TLS needs both a key file and a certificate file for the TLS port \d+, and neither is set: .*UPPERSTACK_MQTT_TLS_KEY and UPPERSTACK_MQTT_TLS_CERT \(which default to UPPERSTACK_HTTPS_KEY and UPPERSTACK_HTTPS_CERT\)/, JSON.stringify(body));
    const plain = await exec('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(refused.mqttPort), '-q', '1', '-t', 'devices/x/telemetry', '-m', '{"t":1}']);
    assert.notEqual(plain.code, 0, plain.out);
  } finally {
    await refused.stop();
  }
});

for (const [what, env, names] of [
  ['a key that does not belong to the certificate', { UPPERSTACK_HTTPS_KEY: KEY, UPPERSTACK_HTTPS_CERT: join(TLS, 'cert.pem') }, /^upperstack: UPPERSTACK_HTTPS_KEY \(.*selfsigned-key\.pem\) and UPPERSTACK_HTTPS_CERT \(.*cert\.pem\): the key does not belong to the certificate$/m],
  ['a key file that is not there', { UPPERSTACK_HTTPS_KEY: join(TLS, 'no-such-key.pem'), UPPERSTACK_HTTPS_CERT: CERT }, /^upperstack: UPPERSTACK_HTTPS_KEY: cannot read .*no-such-key\.pem: no such file$/m],
] as const) {
  test(`HTTPS with ${what}: the start is refused in one line naming the variable and the file, exit status 1`, async () => {
    let output = '';
    await assert.rejects(startRuntime({ httpsCa: readFileSync(CERT, 'utf8'), env: { ...env } }), (err: Error) => {
      output = err.message;
      return true;
    });
    assert.match(output, /^runtime exited with 1:/, output);
    assert.match(output, names, output);
    assert.doesNotMatch(output, /\n\s+at /, output);
  });
}
