/**
 * Every secret the README's configuration section lists (its "Secrets." paragraph) set at a first start, each
 * to a value of its own: none of them is in clear in any file of the data folder, in the runtime's output, in
 * /health, /metrics, or the flows and settings the editor gets. A variable the table adds that is named as
 * secrets are (…_PASSWORD, …_TOKEN, …_SECRET, …_API_KEY) must be listed there, so it is checked too.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCredentials } from '../../nodes/lib/flows/credentials-file';
import { freePort, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';
import { filesHolding } from '../helpers/files-holding';

const README = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');

/** The secrets paragraph: plain variables, and those whose URL's password is the secret. */
function listedSecrets(): { plain: string[]; urls: string[] } {
  const line = README.split('\n').find((l) => l.startsWith('**Secrets.**'));
  assert.ok(line, 'the README lists the secrets');
  const [plain, urls] = line.split(/and a password in the URL of/);
  const names = (text: string) => [...text.matchAll(/`(UPPERSTACK_[A-Z0-9_]+)`/g)].map((m) => m[1]);
  return { plain: names(plain), urls: names(urls ?? '') };
}

/** Every variable the configuration table names. */
function tableVariables(): string[] {
  const rows = README.split('\n').filter((l) => l.startsWith('| `UPPERSTACK_'));
  return [...new Set(rows.flatMap((r) => [...r.split(' | ')[0].matchAll(/`(UPPERSTACK_[A-Z0-9_]+)`/g)].map((m) => m[1])))];
}

const { plain, urls } = listedSecrets();
/** Each secret's value: recognisable, and none a part of another. */
const values = new Map([...plain, ...urls].map((name) => [name, `sEcReT-${name.toLowerCase().replace(/_/g, '-')}-${randomBytes(6).toString('hex')}`]));
const ADMIN = values.get('UPPERSTACK_ADMIN_PASSWORD')!;
let rt: Runtime;

before(async () => {
  // Nothing listens there: the member's broker and the servers fail, which is not what is looked at.
  const closed = await freePort();
  const env: Record<string, string> = {
    UPPERSTACK_PACKS: 'influx-grafana,alerts',
    UPPERSTACK_MQTT_USERNAME: 'devices',
    UPPERSTACK_INFLUX_USER: 'influx-user',
    UPPERSTACK_CLUSTER_BROKER_USERNAME: 'member',
    UPPERSTACK_CLUSTER_MEMBER: 'm1',
  };
  for (const name of plain) env[name] = values.get(name)!;
  for (const name of urls) env[name] = `${/BROKER|MQTT/.test(name) ? 'mqtt' : 'http'}://user-of-${name.toLowerCase()}:${values.get(name)}@127.0.0.1:${closed}`;
  rt = await startRuntime({ dataDir: tempDir('us-secrets-'), env, ready: 'answering' });
});

after(async () => {
  await rt?.stop();
});

test('the README lists every variable of its table named as a secret, and some behind URLs', () => {
  const table = tableVariables();
  for (const name of [...plain, ...urls]) assert.ok(table.includes(name), `${name} is in the configuration table`);
  const named = table.filter((n) => /(_PASSWORD|_TOKEN|_SECRET|_API_KEY)$/.test(n));
  assert.deepEqual(named.filter((n) => !plain.includes(n)), [], 'listed in the README\'s "Secrets." paragraph');
  assert.ok(urls.includes('UPPERSTACK_CLUSTER_BROKER') && urls.includes('UPPERSTACK_CLUSTER_SINK'));
});

test('no secret is in clear in the data folder, the output, /health, /metrics, or what the editor gets', async () => {
  const token = await fetch(`${rt.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'node-red-editor', grant_type: 'password', scope: '', username: 'admin', password: ADMIN }),
  });
  assert.equal(token.status, 200, 'the admin logs in with UPPERSTACK_ADMIN_PASSWORD');
  const editor = { authorization: `Bearer ${((await token.json()) as { access_token: string }).access_token}` };
  const served: Record<string, string> = {};
  for (const [what, path, headers] of [
    ['/health', '/health', {}],
    ['/metrics', '/metrics', { authorization: `Bearer ${values.get('UPPERSTACK_METRICS_TOKEN')}` }],
    ['the editor\'s flows', '/flows', { ...editor, 'node-red-api-version': 'v2' }],
    ['the editor\'s settings', '/settings', editor],
  ] as const) {
    const res = await fetch(rt.url + path, { headers });
    served[what] = await res.text();
    assert.ok(res.status < 500 || what === '/health', `${what}: ${res.status}`);
  }
  assert.match(served['the editor\'s flows'], /us_cluster_broker/);
  const found: string[] = [];
  for (const [name, value] of values) {
    for (const file of filesHolding(rt.dataDir, value)) found.push(`${name} in ${file}`);
    if (rt.output().includes(value)) found.push(`${name} in the output`);
    for (const [what, body] of Object.entries(served)) if (body.includes(value)) found.push(`${name} in ${what}`);
  }
  assert.deepEqual(found, []);
});

test('the logins taken out of URLs are in the sealed credentials file', () => {
  const { credentialSecret } = JSON.parse(readFileSync(join(rt.dataDir, 'upperstack-secrets.json'), 'utf8')) as { credentialSecret: string };
  const creds = openCredentials(readFileSync(join(rt.dataDir, 'flows_cred.json'), 'utf8'), credentialSecret);
  assert.deepEqual(creds.us_cluster_broker, { username: 'user-of-upperstack_cluster_broker', password: values.get('UPPERSTACK_CLUSTER_BROKER') });
  // The shared sink's slot beside the default pack's InfluxDB sink's references.
  assert.deepEqual(creds.us_store_cfg, {
    user1: '${UPPERSTACK_INFLUX_USER}',
    password1: '${UPPERSTACK_INFLUX_PASSWORD}',
    token1: '${UPPERSTACK_INFLUX_TOKEN}',
    user2: 'user-of-upperstack_cluster_sink',
    password2: values.get('UPPERSTACK_CLUSTER_SINK'),
  });
});
