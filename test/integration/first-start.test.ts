/**
 * The API key and editor password a first start makes, with the real start script: a start refused before
 * the runtime serves (a setting that cannot work, the HTTP port taken) prints and keeps neither; the start
 * that works prints them, they work, and the next start prints nothing and takes the same ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startRuntime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

// Neither given: the first start makes both.
const GENERATED = { UPPERSTACK_API_KEY: '', UPPERSTACK_ADMIN_PASSWORD: '' };

function keptSecrets(dataDir: string): Record<string, unknown> {
  const file = join(dataDir, 'upperstack-secrets.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
}

async function refusedOutput(start: Promise<unknown>): Promise<string> {
  let output = '';
  await assert.rejects(start, (err: Error) => {
    assert.match(err.message, /^runtime exited with 1:/);
    output = err.message;
    return true;
  });
  return output;
}

async function login(url: string, password: string): Promise<number> {
  const res = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope: '', username: 'admin', password }),
  });
  await res.arrayBuffer();
  return res.status;
}

test('a first start refused before the runtime serves prints no key or password and keeps none; the start that works prints them, and they stay valid', { timeout: 240_000 }, async () => {
  const dataDir = tempDir('us-first-');
  const refusedBySettings = await refusedOutput(startRuntime({ dataDir, env: { ...GENERATED, UPPERSTACK_PACKS: 'http-gateway' } }));
  assert.match(refusedBySettings, /UPPERSTACK_PACKS names "http-gateway"/);
  assert.doesNotMatch(refusedBySettings, /not shown again|query API key|editor login:/);
  assert.deepEqual(Object.keys(keptSecrets(dataDir)).filter((k) => k !== 'credentialSecret'), []);

  // The HTTP port is taken: Node-RED cannot listen and exits.
  const squatter = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  try {
    const port = (squatter.address() as AddressInfo).port;
    const portTaken = await refusedOutput(startRuntime({ dataDir, httpPort: port, env: GENERATED }));
    assert.match(portTaken, /Unable to listen on .*\n.*port in use/);
    assert.doesNotMatch(portTaken, /not shown again|query API key|editor login:/);
  } finally {
    await new Promise((resolve) => squatter.close(resolve));
  }
  assert.deepEqual(Object.keys(keptSecrets(dataDir)).filter((k) => k !== 'credentialSecret'), []);

  const first = await startRuntime({ dataDir, env: GENERATED });
  let apiKey: string;
  try {
    const out = first.output();
    assert.match(out, /first start; keep these, they are not shown again/);
    apiKey = /query API key:\s+(\S+)/.exec(out)![1];
    const password = /editor login:\s+admin \/ (\S+)/.exec(out)![1];
    const res = await fetch(`${first.url}/api/v1/readings?device=nobody`, { headers: { authorization: `Bearer ${apiKey}` } });
    assert.equal(res.status, 200, await res.text());
    assert.equal(await login(first.url, password), 200);
    assert.equal(keptSecrets(dataDir).apiKey, apiKey);
  } finally {
    await first.stop();
  }

  const next = await startRuntime({ dataDir, env: GENERATED });
  try {
    assert.doesNotMatch(next.output(), /not shown again|query API key|editor login:/);
    const res = await fetch(`${next.url}/api/v1/readings?device=nobody`, { headers: { authorization: `Bearer ${apiKey}` } });
    assert.equal(res.status, 200, await res.text());
  } finally {
    await next.stop();
  }
});

test('a port variable that is not a port stops the start in one line naming each such variable, exit status 1, before anything listens', { timeout: 120_000 }, async () => {
  const dataDir = tempDir('us-first-');
  // Node-RED given no usable port would start the flows without its HTTP server and keep running.
  const out = await refusedOutput(startRuntime({ dataDir, env: { ...GENERATED, UPPERSTACK_HTTP_PORT: '18o1', UPPERSTACK_MQTT_PORT: '70000' } }));
  const line = out.split('\n').find((l) => l.startsWith('upperstack: '));
  assert.equal(line, 'upperstack: UPPERSTACK_HTTP_PORT="18o1", UPPERSTACK_MQTT_PORT="70000": a port must be a whole number from 1 to 65535', out);
  assert.doesNotMatch(out, /Starting flows|not shown again/);
});

test('a first start with packs in UPPERSTACK_PACKS names each variable they need that is unset, one line each; none for the key it makes itself', { timeout: 120_000 }, async () => {
  const rt = await startRuntime({
    dataDir: tempDir('us-first-packs-'),
    env: { ...GENERATED, UPPERSTACK_PACKS: 'alerts,influx-grafana', UPPERSTACK_MQTT_URL: '', UPPERSTACK_INFLUX_URL: '' },
    // Without its broker the influx-grafana pack's connection fails: /health answers, not healthy.
    ready: 'answering',
  });
  try {
    const lines = rt.output().split('\n').filter((l) => l.startsWith('upperstack: warning: '));
    assert.deepEqual(lines.map((l) => /needs (\w+), not set: /.exec(l)?.[1]), ['UPPERSTACK_MQTT_URL', 'UPPERSTACK_INFLUX_URL'], rt.output());
    assert.match(lines[0], /^upperstack: warning: UPPERSTACK_PACKS pack "influx-grafana" needs UPPERSTACK_MQTT_URL, not set: the external broker/);
  } finally {
    await rt.stop();
  }
});

test('a later start says which first-start-only variable it does not apply and how to, and names the unset variables of the deployed packs again', { timeout: 240_000 }, async () => {
  const dataDir = tempDir('us-later-');
  const noBrokers = { UPPERSTACK_MQTT_URL: '', UPPERSTACK_INFLUX_URL: '' };
  const warnings = async (env: Record<string, string>): Promise<string[]> => {
    // Without its broker the influx-grafana pack's connection fails: /health answers, not healthy.
    const rt = await startRuntime({ dataDir, env, ready: 'answering' });
    try {
      return rt.output().split('\n').filter((l) => l.startsWith('upperstack: warning: '));
    } finally {
      await rt.stop();
    }
  };
  const notApplied = (lines: string[]) => lines.filter((l) => / is not applied: /.test(l));
  const needs = (lines: string[]) => lines.map((l) => /^upperstack: warning: the deployed tab "[^"]+" needs (\w+), not set: /.exec(l)?.[1]).filter(Boolean);

  const first = await warnings({ UPPERSTACK_PACKS: 'influx-grafana', ...noBrokers });
  assert.deepEqual(notApplied(first), []);
  assert.equal(first.length, 2, first.join('\n'));
  assert.deepEqual(JSON.parse(readFileSync(join(dataDir, 'upperstack-first-start.json'), 'utf8')), { packs: ['influx-grafana'], store: 'duckdb', cluster: '' });

  // The same settings, the default store named: nothing differs; the pack's unset variables are named again.
  const same = await warnings({ UPPERSTACK_PACKS: ' influx-grafana ', UPPERSTACK_STORE: 'duckdb', ...noBrokers });
  assert.deepEqual(notApplied(same), []);
  assert.deepEqual(needs(same), ['UPPERSTACK_MQTT_URL', 'UPPERSTACK_INFLUX_URL'], same.join('\n'));

  const other = await warnings({ UPPERSTACK_PACKS: 'alerts', UPPERSTACK_STORE: 'victoriametrics', UPPERSTACK_MQTT_URL: '', UPPERSTACK_INFLUX_URL: 'http://127.0.0.1:9' });
  const [packs, store] = notApplied(other);
  assert.equal(notApplied(other).length, 2, other.join('\n'));
  assert.match(packs, /^upperstack: warning: UPPERSTACK_PACKS=alerts is not applied: this data folder got its flows with influx-grafana beside the default pack \(first start\); .*npx upperstack flows import flows\/<pack>\.json/);
  assert.match(store, /^upperstack: warning: UPPERSTACK_STORE=victoriametrics is not applied: this data folder got its flows with the store duckdb \(first start\); .*in the editor/);
  assert.deepEqual(needs(other), ['UPPERSTACK_MQTT_URL']);

  // A data folder from before the record: a variable that is set may differ.
  rmSync(join(dataDir, 'upperstack-first-start.json'));
  const older = await warnings({ UPPERSTACK_PACKS: 'influx-grafana', ...noBrokers });
  assert.equal(notApplied(older).length, 1, older.join('\n'));
  assert.match(notApplied(older)[0], /UPPERSTACK_PACKS=influx-grafana is not applied: it is used only when the data folder gets its flows \(first start\), and this one's may differ/);
});
