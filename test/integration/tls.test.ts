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
