/**
 * No container engine runs where the tests run, so this checks docker-compose.yml
 * against what the app and the images read: every variable set for upperstack is
 * one the app reads, the ports and the data volume are the ones the image uses,
 * every service has a health check and its volumes are declared, the mounted
 * files exist, and Grafana's provisioning points at the services as compose
 * names and publishes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { spawnSync } from 'node:child_process';
import { SECRET_PLACEHOLDERS, SECRET_VARIABLES } from '../../nodes/lib/security/placeholders';
import { tempDir } from '../helpers/temp';

const root = join(__dirname, '..', '..', '..');
interface Service {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const runtime = dockerfile.split(/^FROM /m)[2];

/** Every UPPERSTACK_* variable the shipped code and flow packs read. */
function variablesRead(): Set<string> {
  const found = new Set<string>();
  const scan = (p: string) => {
    if (statSync(p).isDirectory()) return readdirSync(p).forEach((f) => scan(join(p, f)));
    if (!/\.(ts|html|json)$/.test(p)) return;
    for (const m of readFileSync(p, 'utf8').matchAll(/\bUPPERSTACK_[A-Z0-9_]+\b/g)) found.add(m[0]);
  };
  for (const p of ['settings.ts', 'nodes', 'scripts', 'flows']) scan(join(root, p));
  return found;
}

/** "HOST:CONTAINER" or "IP:HOST:CONTAINER" → the container port. */
/** The container side of a published port, with its protocol when not TCP: 1883, "5683/udp". */
const containerPort = (p: string): number | string => {
  const side = p.split(':').pop()!;
  return /\/udp$/.test(side) ? side : Number(side);
};
/** The value before ${VAR:-default} substitution, or the default. */
const resolved = (v: string) => /^\$\{[A-Z_]+:-([^}]*)\}$/.exec(v)?.[1] ?? v;

test('every service has a health check and restarts; named volumes are declared', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    assert.ok(s.healthcheck?.test?.length, `${name} has a health check`);
    assert.ok((s as { restart?: string }).restart, `${name} restarts`);
    for (const v of s.volumes ?? []) {
      const source = v.split(':')[0];
      if (source.startsWith('.')) assert.ok(existsSync(join(root, source)), `${name}: ${source} exists in the repository`);
      else assert.ok(source in compose.volumes, `${name}: volume ${source} is declared`);
    }
    for (const dep of Object.keys(s.depends_on ?? {})) assert.ok(compose.services[dep].healthcheck, `${name} waits for ${dep}'s health`);
  }
});

test('upperstack: every variable is one the app reads, and the ports, data volume and health check are the image\'s', () => {
  const app = compose.services.upperstack;
  assert.equal(app.build, '.');
  const env = app.environment!;
  const read = variablesRead();
  const unknown = Object.keys(env).filter((k) => !read.has(k));
  assert.deepEqual(unknown, [], 'variables no code reads (a typo?)');
  // Bound off loopback, the embedded broker needs a device login.
  assert.equal(env.UPPERSTACK_BIND, '0.0.0.0');
  assert.ok(env.UPPERSTACK_MQTT_USERNAME && env.UPPERSTACK_MQTT_PASSWORD);
  assert.match(env.UPPERSTACK_API_KEY, /:\?/, 'the API key must be set, not generated inside the container');
  const http = Number(resolved(env.UPPERSTACK_HTTP_PORT));
  const mqtt = Number(resolved(env.UPPERSTACK_MQTT_PORT));
  // The default pack's CoAP input listens on UDP: devices outside the container reach it only if published.
  const coap = `${Number(resolved(env.UPPERSTACK_COAP_PORT))}/udp`;
  assert.equal(/UPPERSTACK_COAP_PORT=(\d+)/.exec(runtime)?.[1], resolved(env.UPPERSTACK_COAP_PORT));
  const exposed = /^EXPOSE (.+)$/m.exec(runtime)![1].split(/\s+/).map((p) => (/\/udp$/.test(p) ? p : Number(p)));
  const order = (a: number | string, b: number | string) => String(a).localeCompare(String(b));
  assert.deepEqual(app.ports!.map(containerPort).sort(order), [http, mqtt, coap].sort(order));
  assert.deepEqual(exposed.sort(order), [http, mqtt, coap].sort(order), 'the Dockerfile exposes the same ports');
  const volume = /^VOLUME (\S+)$/m.exec(runtime)![1];
  assert.equal(env.UPPERSTACK_DATA, volume);
  assert.equal(/UPPERSTACK_DATA=(\S+)/.exec(runtime)![1], volume);
  assert.ok(app.volumes!.some((v) => v.endsWith(`:${volume}`)), 'the data folder is a volume');
  // The same script as the image's health check, which asks http or https as UPPERSTACK_HTTPS_KEY says.
  assert.deepEqual(app.healthcheck!.test, ['CMD', 'node', 'dist/scripts/healthcheck.js']);
  assert.match(runtime, /^HEALTHCHECK [^\n]*\\\n\s+CMD \["node", "dist\/scripts\/healthcheck\.js"\]$/m);
  for (const level of ['UPPERSTACK_LOG_FORMAT', 'UPPERSTACK_METRICS_AUTH']) assert.ok(read.has(level));
  assert.match(resolved(env.UPPERSTACK_METRICS_AUTH), /^(key|none)$/);
  assert.match(resolved(env.UPPERSTACK_LOG_FORMAT), /^(json|text)$/);
});

test('.env.example: every secret is a placeholder the runtime refuses to start with', () => {
  const example = Object.fromEntries(
    readFileSync(join(root, 'compose', '.env.example'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const app = compose.services.upperstack.environment!;
  for (const name of SECRET_VARIABLES) {
    assert.match(app[name], /:\?/, `${name} must be set in .env`);
    assert.ok(SECRET_PLACEHOLDERS.includes(example[name]), `${name} in .env.example is "${example[name]}"`);
  }
  // Started as the example is, the runtime stops before it listens and says which secrets to change.
  const started = spawnSync(process.execPath, [join(root, 'dist', 'scripts', 'start.js')], {
    env: { PATH: process.env.PATH, ...example, UPPERSTACK_DATA: tempDir('us-placeholder-'), UPPERSTACK_HTTP_PORT: '0', UPPERSTACK_MQTT_PORT: '0', UPPERSTACK_COAP_PORT: '0' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.notEqual(started.status, 0);
  assert.match(started.stderr + started.stdout, /UPPERSTACK_API_KEY, UPPERSTACK_ADMIN_PASSWORD, UPPERSTACK_MQTT_PASSWORD are still the example value from compose\/\.env\.example/);
});

test('mosquitto and InfluxDB listen where their health checks and the provisioning look', () => {
  const conf = readFileSync(join(root, 'compose', 'mosquitto.conf'), 'utf8');
  const listener = Number(/^listener (\d+)/m.exec(conf)![1]);
  const m = compose.services.mosquitto;
  assert.deepEqual(m.ports!.map(containerPort), [listener]);
  assert.ok(m.volumes!.some((v) => v.startsWith('./compose/mosquitto.conf:/mosquitto/config/mosquitto.conf')));
  assert.ok(m.healthcheck!.test.includes(String(listener)));
  const i = compose.services.influxdb;
  assert.deepEqual(i.ports!.map(containerPort), [8086]);
  assert.match(i.healthcheck!.test.join(' '), /:8086\/ping/);
});

test('grafana: the provisioning is mounted, its datasources name compose services on their ports, and the dashboards use them', () => {
  const g = compose.services.grafana;
  assert.ok(g.volumes!.includes('./grafana/provisioning:/etc/grafana/provisioning:ro'));
  const dashMount = g.volumes!.find((v) => v.startsWith('./grafana/dashboards:'))!.split(':')[1];
  const provider = parse(readFileSync(join(root, 'grafana', 'provisioning', 'dashboards', 'upperstack.yaml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
  assert.equal(provider.providers[0].options.path, dashMount);
  const ds = parse(readFileSync(join(root, 'grafana', 'provisioning', 'datasources', 'upperstack.yaml'), 'utf8')) as {
    datasources: Array<{ uid: string; type: string; url: string; jsonData?: { dbName?: string }; secureJsonData?: Record<string, string> }>;
  };
  const influx = ds.datasources.find((d) => d.type === 'influxdb')!;
  const influxEnv = compose.services.influxdb.environment!;
  assert.equal(influx.url, `http://influxdb:${containerPort(compose.services.influxdb.ports![0])}`);
  assert.equal(influx.jsonData!.dbName, influxEnv.INFLUXDB_DB);
  const json = ds.datasources.find((d) => d.type === 'simpod-json-datasource')!;
  const httpPort = Number(resolved(compose.services.upperstack.environment!.UPPERSTACK_HTTP_PORT));
  assert.equal(json.url, `http://upperstack:${httpPort}/api/v1/grafana`);
  assert.equal(json.secureJsonData!.httpHeaderValue1, 'Bearer $UPPERSTACK_API_KEY');
  assert.ok(g.environment!.UPPERSTACK_API_KEY, 'Grafana gets the key its datasource sends');
  assert.match(g.environment!.GF_INSTALL_PLUGINS, /simpod-json-datasource/);
  const uids = new Set(ds.datasources.map((d) => d.uid));
  const dir = join(root, 'grafana', 'dashboards');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 2);
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    const dash = JSON.parse(text) as { uid: string; panels: unknown[] };
    assert.ok(dash.uid && dash.panels.length, f);
    for (const m of text.matchAll(/"uid": "([^"]+)"/g)) if (m[1] !== dash.uid) assert.ok(uids.has(m[1]), `${f} uses datasource ${m[1]}`);
  }
});

test('upperstack writes to the compose InfluxDB the Grafana datasource reads, and takes telemetry from the compose mosquitto', () => {
  const env = compose.services.upperstack.environment!;
  const influxPort = containerPort(compose.services.influxdb.ports![0]);
  assert.equal(env.UPPERSTACK_INFLUX_URL, `http://influxdb:${influxPort}`);
  const ds = parse(readFileSync(join(root, 'grafana', 'provisioning', 'datasources', 'upperstack.yaml'), 'utf8')) as { datasources: Array<{ type: string; jsonData?: { dbName?: string } }> };
  assert.equal(env.UPPERSTACK_INFLUX_DB, ds.datasources.find((d) => d.type === 'influxdb')!.jsonData!.dbName);
  assert.ok(compose.services.upperstack.depends_on?.influxdb && compose.services.upperstack.depends_on.mosquitto);
  // The packs named exist, and the one that reads mosquitto is among them, pointed at its listener.
  const packs = resolved(env.UPPERSTACK_PACKS).split(',').map((s) => s.trim());
  for (const p of packs) assert.ok(existsSync(join(root, 'flows', `${p}.json`)), `flows/${p}.json`);
  assert.ok(packs.includes('influx-grafana'));
  const listener = Number(/^listener (\d+)/m.exec(readFileSync(join(root, 'compose', 'mosquitto.conf'), 'utf8'))![1]);
  assert.equal(env.UPPERSTACK_MQTT_URL, `mqtt://mosquitto:${listener}`);
  const pack = readFileSync(join(root, 'flows', 'influx-grafana.json'), 'utf8');
  assert.match(pack, /\$\{UPPERSTACK_MQTT_URL\}/);
  // The InfluxDB dashboard charts the measurement and device tag the default pack's sink writes.
  const sink = (JSON.parse(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8')) as Array<{ type: string; sinks?: Array<{ kind: string; url?: string; measurement?: string; deviceTag?: string; database?: string }> }>)
    .find((n) => n.type === 'upperstack-store-config')!.sinks!.find((s) => s.kind === 'influxdb')!;
  assert.equal(sink.url, '${UPPERSTACK_INFLUX_URL}');
  assert.equal(sink.database, '${UPPERSTACK_INFLUX_DB}');
  const dash = readFileSync(join(root, 'grafana', 'dashboards', 'upperstack-influxdb.json'), 'utf8');
  const queries = [...dash.matchAll(/"query": "((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
  assert.ok(queries.length >= 5);
  for (const q of queries) {
    assert.ok(q.includes(`FROM "${sink.measurement}"`), q);
    assert.ok(q.includes(`"${sink.deviceTag}"`), q);
  }
});
