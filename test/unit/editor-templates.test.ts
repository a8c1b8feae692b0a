/**
 * The validators of every node template, run in a bare context the way Node-RED's
 * editor runs them (no dialog open: they read the node's own values). A reason is
 * only shown, and the node only marked invalid, when the validator takes (v, opt);
 * and what the editor flags is what the runtime refuses to start with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { ANOMALY_DEFAULTS, engineOptionsOf, type AnomalyOptions } from '../../nodes/anomaly/options';
import { AnomalyEngine } from '../../nodes/lib/anomaly';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { parsePort } from '../../nodes/shared/config';
import { normalizeSinks } from '../../nodes/lib/store/sinks';
import { validateTariffs } from '../../nodes/lib/billing/tariff';
import { DEFAULT_LIMITS, resolveLimits } from '../../nodes/lib/limits';
import { topicLevelProblem } from '../../nodes/market/options';
import { grantMinutes } from '../../nodes/lib/devices/market';

type Validator = (this: unknown, v: unknown, opt?: object) => unknown;
interface Property {
  value?: unknown;
  required?: boolean;
  validate?: Validator;
}
interface Def {
  defaults: Record<string, Property>;
}

const root = join(__dirname, '..', '..', '..');

/** Each template's registerType definition, by node type. */
function loadTemplates(): Map<string, Def> {
  const defs = new Map<string, Def>();
  const context = {
    window: {},
    // No dialog is open: every lookup finds nothing, so validators read the node.
    $: () => ({ length: 0 }),
    RED: {
      nodes: {
        registerType: (type: string, def: Def) => void defs.set(type, def),
        node: () => null,
        eachNode: () => undefined,
      },
    },
  };
  runInNewContext(readFileSync(join(root, 'resources', 'editor.js'), 'utf8'), context);
  for (const dir of readdirSync(join(root, 'nodes'))) {
    const file = join(root, 'nodes', dir, `${dir}.html`);
    if (!existsSync(file)) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)) {
      runInNewContext(m[1], context, { filename: file });
    }
  }
  return defs;
}

const defs = loadTemplates();

/** What Node-RED 4.1's validateNodeProperty decides: true, or the reason (the property's name when there is none). */
function verdict(def: Def, node: Record<string, unknown>, prop: string): true | string {
  const p = def.defaults[prop];
  const value = node[prop];
  if (typeof value === 'string' && /^\$(\([a-zA-Z_][a-zA-Z0-9_]*\)|\{[a-zA-Z_][a-zA-Z0-9_]*\})$/.test(value)) return true;
  if (p.required && value === '') return prop;
  if (!p.validate) return true;
  if (p.required === false && value === '') return true;
  const res = p.validate.call(node, value, {});
  if (p.validate.length === 2 && typeof res === 'string') return res;
  return res ? true : prop;
}

/** The reasons Node-RED would list for the node, by property. */
function problems(type: string, node: Record<string, unknown>): Record<string, string> {
  const def = defs.get(type)!;
  const out: Record<string, string> = {};
  for (const prop of Object.keys(def.defaults)) {
    const v = verdict(def, node, prop);
    if (v !== true) out[prop] = v;
  }
  return out;
}

/** A node as the palette adds it, with changes. */
function fresh(type: string, changes: Record<string, unknown>): Record<string, unknown> {
  const node: Record<string, unknown> = {};
  for (const [prop, p] of Object.entries(defs.get(type)!.defaults)) node[prop] = p.value;
  return { ...node, ...changes };
}

test('every node template registers, and each of its validators takes (v, opt) so a returned reason counts as invalid', () => {
  const types = [...defs.keys()].sort();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
  assert.deepEqual(types, Object.keys(pkg['node-red'].nodes).sort(), 'one template per node in package.json');
  for (const [type, def] of defs) {
    for (const [prop, p] of Object.entries(def.defaults)) {
      if (p.validate) assert.equal(p.validate.length, 2, `${type}.${prop} declares (v, opt)`);
    }
  }
});

test('a new node of every type is valid with its defaults', () => {
  // Only the ones that need another node chosen first are not.
  const needs: Record<string, string[]> = { 'upperstack-api': ['store'], 'upperstack-query': ['store'], 'upperstack-store': ['store'], 'upperstack-report': ['store'], 'upperstack-invoice': ['store'], 'upperstack-devices': ['store'] };
  for (const type of defs.keys()) {
    assert.deepEqual(Object.keys(problems(type, fresh(type, {}))), needs[type] ?? [], type);
  }
});

/** The runtime's verdict on the broker options: a ConfigError or none. */
function brokerStarts(o: Record<string, string>): boolean {
  try {
    new EmbeddedMqttBroker({
      port: parsePort(o.port, 1883),
      bind: '127.0.0.1',
      wsPort: parsePort(o.wsPort, 0),
      tlsPort: parsePort(o.tlsPort, 0),
      tlsKeyFile: o.tlsKey || undefined,
      tlsCertFile: o.tlsCert || undefined,
    });
    return true;
  } catch {
    return false;
  }
}

test('the broker flags a TLS port without both files, as the runtime refuses it', () => {
  const tls = 'TLS needs both a key file and a certificate file';
  const cases: Array<[Record<string, string>, Record<string, string>]> = [
    [{ tlsPort: '8883' }, { tlsKey: tls, tlsCert: tls }],
    [{ tlsPort: '8883', tlsKey: 'key.pem' }, { tlsCert: tls }],
    [{ tlsPort: '8883', tlsCert: 'cert.pem' }, { tlsKey: tls }],
    [{ tlsPort: '8883', tlsKey: 'key.pem', tlsCert: 'cert.pem' }, {}],
    [{ tlsPort: '' }, {}],
    [{ tlsPort: '0' }, {}],
    [{ tlsPort: '', tlsKey: 'key.pem' }, {}],
  ];
  for (const [changes, expected] of cases) {
    const node = fresh('upperstack-broker', changes);
    const label = JSON.stringify(changes);
    assert.deepEqual(problems('upperstack-broker', node), expected, label);
    assert.equal(brokerStarts(node as Record<string, string>), Object.keys(expected).length === 0, `runtime: ${label}`);
  }
  // A TLS port in an environment variable: the files are then needed (or variables too).
  assert.deepEqual(problems('upperstack-broker', fresh('upperstack-broker', { tlsPort: '${TLS_PORT}' })), { tlsKey: tls, tlsCert: tls });
  assert.deepEqual(problems('upperstack-broker', fresh('upperstack-broker', { tlsPort: '${TLS_PORT}', tlsKey: '${TLS_KEY}', tlsCert: '${TLS_CERT}' })), {});
  // Saved before configVersion, without TLS: nothing to flag.
  assert.deepEqual(problems('upperstack-broker', { port: '1883' }), {});
});

/** The runtime's verdict on the anomaly options: the error it would show, or null. */
function anomalyError(o: Record<string, unknown>): string | null {
  try {
    new AnomalyEngine(engineOptionsOf({ name: '', ...ANOMALY_DEFAULTS, store: '', configVersion: 2, ...o } as AnomalyOptions));
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

test('the anomaly node flags exactly the settings the runtime refuses, each with its reason', () => {
  const number = 'must be a number';
  const duration = 'a duration such as 30s, 5m, 1h, 1d or 1w';
  const cases: Array<[Record<string, unknown>, Record<string, string>]> = [
    [{}, {}],
    [{ detector: 'nonsense' }, { detector: 'choose one of the detectors' }],
    [{ detector: 'limits' }, { min: 'give a minimum, a maximum, or per-field limits in the advanced config' }],
    [{ detector: 'limits', max: '80' }, {}],
    [{ detector: 'limits', min: '-5' }, {}],
    [{ detector: 'limits', min: 'cold' }, { min: number }],
    [{ detector: 'limits', max: 'hot' }, { max: number }],
    [{ detector: 'limits', min: '90', max: '80' }, { min: 'the minimum is above the maximum' }],
    [{ detector: 'limits', min: '80', max: '80' }, {}],
    [{ detector: 'limits', advanced: '{"fields": {"temperature": {"max": 80}}}' }, {}],
    [{ detector: 'limits', advanced: '{"type": "zscore"}' }, {}],
    [{ detector: 'limits', advanced: '{"max": 80}' }, {}],
    // A whole detector config in advanced: the fields for the chosen one are not read.
    [{ detector: 'limits', min: 'cold', advanced: '{"type": "zscore"}' }, {}],
    [{ detector: 'zscore', sigma: 'x', window: 'week', advanced: '{"type": "ewma"}' }, {}],
    [{ detector: 'zscore', sigma: 'x' }, { sigma: number }],
    [{ detector: 'zscore', sigma: '0' }, { sigma: 'a number above 0' }],
    [{ detector: 'ewma', sigma: '3.5' }, {}],
    [{ sigma: 'x' }, { sigma: number }],
    [{ detector: 'zscore', window: '7 days' }, { window: duration }],
    [{ detector: 'rate', window: '5000' }, { window: duration }],
    [{ detector: 'rate', window: '0h' }, { window: duration }],
    [{ detector: 'zscore', window: '7d' }, {}],
    [{ detector: 'rate', window: '90 min' }, {}],
    [{ detector: 'holtwinters', season: 'weekly' }, { season: 'auto, none, or a duration such as 1d' }],
    [{ detector: 'holtwinters', season: '0' }, { season: 'auto, none, or a duration such as 1d' }],
    [{ detector: 'holtwinters', season: 'none' }, {}],
    [{ detector: 'holtwinters', season: '1d' }, {}],
    [{ detector: 'holtwinters', season: '86400000' }, {}],
    [{ advanced: '{' }, { advanced: 'the advanced config is not valid JSON: ' }],
    [{ advanced: '[1]' }, { advanced: 'the advanced config must be a JSON object' }],
    [{ advanced: '{"window": "1d"}' }, { advanced: 'for the default detector the advanced config must be a whole detector config with "type"' }],
    [{ advanced: '{}' }, {}],
    [{ advanced: '{"type": "zscore", "window": "1d"}' }, {}],
    [{ detector: 'zscore', advanced: '{"window": "1d"}' }, {}],
    [{ threshold: '0' }, { threshold: 'a number above 0 and at most 1' }],
    [{ threshold: '1.5' }, { threshold: 'a number above 0 and at most 1' }],
    [{ threshold: 'high' }, { threshold: 'a number above 0 and at most 1' }],
    [{ threshold: '1' }, {}],
    [{ threshold: '' }, {}],
    [{ maxSeries: '0' }, { maxSeries: 'a whole number, at least 1' }],
    [{ maxSeries: '2.5' }, { maxSeries: 'a whole number, at least 1' }],
    [{ maxSeries: 'many' }, { maxSeries: 'a whole number, at least 1' }],
    [{ maxSeries: '1' }, {}],
    [{ maxSeriesPerDevice: '0' }, { maxSeriesPerDevice: 'a whole number, at least 1' }],
    [{ maxSeriesPerDevice: '1.5' }, { maxSeriesPerDevice: 'a whole number, at least 1' }],
    [{ maxSeriesPerDevice: 'few' }, { maxSeriesPerDevice: 'a whole number, at least 1' }],
    [{ maxSeriesPerDevice: '' }, {}],
    // Above Max series is no error: the total still caps all of them.
    [{ maxSeries: '1', maxSeriesPerDevice: '1' }, {}],
    [{ maxSeries: '5', maxSeriesPerDevice: '100' }, {}],
    [{ detector: 'zscore', warmup: '-1' }, { warmup: 'a whole number of readings, 0 or more' }],
    [{ detector: 'limits', max: '80', warmup: '2.5' }, { warmup: 'a whole number of readings, 0 or more' }],
    [{ detector: 'flatline', warmup: 'soon' }, { warmup: 'a whole number of readings, 0 or more' }],
    [{ detector: 'zscore', warmup: '0' }, {}],
    // Each detector's own least warm-up; the default runs Holt-Winters.
    [{ warmup: '9' }, { warmup: 'a whole number of readings, at least 10 for this detector' }],
    [{ warmup: 'soon' }, { warmup: 'a whole number of readings, at least 10 for this detector' }],
    [{ warmup: '10' }, {}],
    [{ detector: 'ewma', warmup: '1' }, { warmup: 'a whole number of readings, at least 2 for this detector' }],
    [{ detector: 'rate', warmup: '0' }, { warmup: 'a whole number of readings, at least 1 for this detector' }],
    [{ detector: 'rate', warmup: '1' }, {}],
    [{ detector: 'holtwinters', warmup: '9' }, { warmup: 'a whole number of readings, at least 10 for this detector' }],
    [{ detector: 'novelty', warmup: '9' }, { warmup: 'a whole number of readings, at least 10 for this detector' }],
    [{ detector: 'novelty', warmup: '10' }, {}],
    [{ detector: 'iforest', warmup: '100' }, { warmup: 'a whole number of readings, at least 515 for this detector' }],
    [{ detector: 'iforest', warmup: '515' }, {}],
    [{ detector: 'iforest', warmup: '20', advanced: '{"window": 16, "shingle": 1}' }, {}],
    [{ detector: 'iforest', warmup: '15', advanced: '{"window": 16, "shingle": 1}' }, { warmup: 'a whole number of readings, at least 16 for this detector' }],
    [{ detector: 'ewma', warmup: '0', advanced: '{"warmup": 5}' }, {}],
    [{ heartbeatMissed: '-1' }, { heartbeatMissed: 'a number of intervals, 0 (off) or more' }],
    [{ heartbeatMissed: 'few' }, { heartbeatMissed: 'a number of intervals, 0 (off) or more' }],
    [{ heartbeatMissed: '0' }, {}],
    [{ heartbeatMissed: '1.5' }, {}],
    [{ heartbeatInterval: 'often' }, { heartbeatInterval: duration }],
    [{ heartbeatInterval: '0' }, { heartbeatInterval: duration }],
    [{ heartbeatInterval: '60000' }, {}],
    [{ heartbeatInterval: '5m' }, {}],
    [{ heartbeatInterval: 'often', heartbeatMissed: '0' }, {}],
    [{ units: 'temperature' }, { units: 'write field=unit, separated by commas, e.g. temperature=°C, humidity=%' }],
    [{ units: 'temperature=°C, humidity=%' }, {}],
    [{ fields: 'temperature, humidity' }, {}],
  ];
  for (const [changes, expected] of cases) {
    const label = JSON.stringify(changes);
    const found = problems('upperstack-anomaly', fresh('upperstack-anomaly', changes));
    assert.deepEqual(Object.keys(found), Object.keys(expected), label);
    for (const [prop, reason] of Object.entries(expected)) assert.ok(found[prop].startsWith(reason), `${label}: ${found[prop]}`);
    const runtime = anomalyError(changes);
    assert.equal(runtime === null, Object.keys(expected).length === 0, `runtime: ${label}: ${runtime}`);
  }
});

test('an anomaly node saved before configVersion stays valid where the runtime\'s migration fills the gap', () => {
  // Options missing or null take the defaults; numbers were numbers; an unknown detector becomes the default.
  for (const legacy of [{}, { threshold: null, maxSeries: null, warmup: null }, { warmup: 20, maxSeries: 100, heartbeatMissed: 0, threshold: 0.9 }, { detector: 'nonsense' }]) {
    assert.deepEqual(problems('upperstack-anomaly', legacy), {}, JSON.stringify(legacy));
  }
  // What the migration cannot repair stays flagged.
  assert.deepEqual(Object.keys(problems('upperstack-anomaly', { warmup: -1 })), ['warmup']);
});

test('mqtt in from an external broker flags a missing connection, also once saved (the picker\'s "none" saves "")', () => {
  const need = 'choose the connection to the external broker';
  assert.deepEqual(problems('upperstack-mqtt-in', fresh('upperstack-mqtt-in', { source: 'external', connection: '' })), { connection: need });
  assert.deepEqual(problems('upperstack-mqtt-in', fresh('upperstack-mqtt-in', { source: 'external', connection: '_ADD_' })), { connection: need });
  assert.deepEqual(problems('upperstack-mqtt-in', fresh('upperstack-mqtt-in', { source: 'embedded', connection: '' })), {});
});

test('every message key a template names is in its node\'s catalogue, so the dialog shows the translated text', () => {
  for (const dir of readdirSync(join(root, 'nodes'))) {
    const file = join(root, 'nodes', dir, `${dir}.html`);
    if (!existsSync(file)) continue;
    const catalogue = JSON.parse(readFileSync(join(root, 'nodes', dir, 'locales', 'en-US', `${dir}.json`), 'utf8')) as Record<string, unknown>;
    for (const [, key] of readFileSync(file, 'utf8').matchAll(/\btr\('([\w.-]+)',/g)) {
      const found = key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), catalogue);
      assert.equal(typeof found, 'string', `${dir}: ${key}`);
    }
  }
});

test('the store config flags exactly the sink lists the runtime refuses', () => {
  const runtimeRefuses = (sinks: unknown) => {
    try {
      normalizeSinks(sinks, '/data');
      return false;
    } catch {
      return true;
    }
  };
  const main = { id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 };
  const cases: unknown[] = [
    [main],
    [main, { id: 's2', kind: 'duckdb', path: '', memoryLimit: 64 }],
    [main, { id: 's2', kind: 'duckdb', path: 'upperstack.duckdb', memoryLimit: 64 }],
    [{ ...main, path: '/srv/a.duckdb' }, { id: 's2', kind: 'duckdb', path: '/srv/a.duckdb', memoryLimit: 64 }],
    [main, { id: 'main', kind: 'duckdb', path: 'b.duckdb', memoryLimit: 64 }],
    [{ ...main, memoryLimit: 64.5 }],
    [{ ...main, memoryLimit: 'lots' }],
    [{ ...main, memoryLimit: 0 }],
    [{ ...main, id: 'no spaces' }],
    [{ ...main, kind: 'cassandra' }],
    [],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'h:8086', database: 'db', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: '', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', api: 'v2', org: 'o', bucket: '', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', api: 'auto', database: '', bucket: 'b', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db', retention: '30 days', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db', fieldTypes: 'n:int', slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db', batchSize: 0, slot: 1 }],
    [main, { id: 'influx', kind: 'influxdb', url: '${UPPERSTACK_INFLUX_URL}', database: 'db', optional: true, slot: 1 }],
    [main, { id: 'vm', kind: 'victoriametrics', url: 'http://h:8428', slot: 2 }],
    [main, { id: 'vm', kind: 'victoriametrics', url: '', slot: 2 }],
    [{ id: 'vm', kind: 'victoriametrics', url: 'http://h:8428', slot: 2 }],
  ];
  for (const sinks of cases) {
    const flagged = Object.keys(problems('upperstack-store-config', fresh('upperstack-store-config', { sinks }))).includes('sinks');
    assert.equal(flagged, runtimeRefuses(sinks), JSON.stringify(sinks));
  }
  assert.ok(runtimeRefuses([main, { id: 's2', kind: 'duckdb', path: '', memoryLimit: 64 }]) === false, 'two DuckDB files side by side are fine');
  // Saved before sinks existed: nothing to flag, the runtime's migration makes the list.
  assert.deepEqual(problems('upperstack-store-config', { name: '', kind: 'duckdb', path: '', batchSize: 1000, flushMs: 100, memoryLimit: 128, configVersion: 2 }), {});
});

/** The runtime's verdict on limit settings: the setting names it refuses. */
function refusedLimits(o: Record<string, unknown>): string[] {
  const refused: string[] = [];
  resolveLimits(o as Parameters<typeof resolveLimits>[0], (err) => refused.push(String(err.details.setting)));
  return refused;
}

test('decode and validate flag exactly the limit settings the runtime refuses, with the same defaults', () => {
  const decodeDefaults = fresh('upperstack-decode', {});
  for (const key of ['maxBytes', 'maxDepth', 'maxFields', 'maxStringLength', 'maxReadings'] as const) {
    assert.equal(decodeDefaults[key], DEFAULT_LIMITS[key], `decode.${key}`);
    if (key !== 'maxBytes' && key !== 'maxDepth') assert.equal(fresh('upperstack-validate', {})[key], DEFAULT_LIMITS[key], `validate.${key}`);
  }
  const cases: Array<Record<string, unknown>> = [
    {},
    { maxDepth: 1 },
    { maxDepth: 2 },
    { maxDepth: 1001 },
    { maxDepth: 'deep' },
    { maxFields: 0 },
    { maxFields: 1_000_000 },
    { maxFields: 1_000_001 },
    { maxStringLength: 2.5 },
    { maxStringLength: 67108864 },
    { maxReadings: 10_000_001 },
    { maxReadings: 1 },
    { maxBytes: 268435457 },
    { maxBytes: 268435456 },
  ];
  for (const changes of cases) {
    const label = JSON.stringify(changes);
    const flagged = Object.keys(problems('upperstack-decode', fresh('upperstack-decode', changes))).sort();
    assert.deepEqual(flagged, refusedLimits(fresh('upperstack-decode', changes)).sort(), `decode ${label}`);
    if (!('maxDepth' in changes) && !('maxBytes' in changes)) {
      const v = Object.keys(problems('upperstack-validate', fresh('upperstack-validate', changes))).sort();
      assert.deepEqual(v, refusedLimits(fresh('upperstack-validate', changes)).sort(), `validate ${label}`);
    }
  }
  // The reason names the range (here the built-in text; the dialog shows the catalogue's).
  assert.equal(problems('upperstack-decode', fresh('upperstack-decode', { maxDepth: 0 })).maxDepth, 'a whole number from 2 to 1000');
  assert.equal(problems('upperstack-validate', fresh('upperstack-validate', { maxFields: 0 })).maxFields, 'a whole number from 1 to 1000000');
});

test('decode and validate nodes saved at version 1, without limits, stay valid (the migration gives the defaults)', () => {
  assert.deepEqual(problems('upperstack-decode', { format: 'json', protoType: 'upperstack.Reading', protoDir: '', maxBytes: 1024, configVersion: 1 }), {});
  assert.deepEqual(problems('upperstack-validate', { schemaSource: 'default', schema: '', schemaFile: '', configVersion: 1 }), {});
  // From version 2 on, a limit must be set.
  assert.deepEqual(Object.keys(problems('upperstack-decode', { ...fresh('upperstack-decode', {}), maxDepth: '' })), ['maxDepth']);
});

test('the invoice dialog refuses the tariffs the runtime refuses, naming the place', () => {
  const def = defs.get('upperstack-invoice')!;
  const reason = (tariffs: string) => verdict(def, fresh('upperstack-invoice', { tariffs }), 'tariffs');
  const runtimeRefuses = (text: string) => {
    try {
      validateTariffs(JSON.parse(text));
      return false;
    } catch {
      return true;
    }
  };
  assert.equal(reason(String(def.defaults.tariffs.value)), true, 'the example tariffs are valid');
  assert.equal(runtimeRefuses(String(def.defaults.tariffs.value)), false);
  const cases: Array<[string, RegExp]> = [
    ['[{', /not valid JSON/],
    ['{}', /JSON list/],
    ['[{"name":"x","customers":[],"currency":"EUR","meters":[]}]', /tariffs\[0\]\.customers/],
    ['[{"name":"x","customers":["*"],"currency":"euro","meters":[]}]', /tariffs\[0\]\.currency/],
    ['[{"name":"x","customers":["*"],"currency":"EUR","standingCharge":"4,90","meters":[]}]', /tariffs\[0\]\.standingCharge/],
    ['[{"name":"x","customers":["*"],"currency":"EUR","meters":[{"field":"e","measure":"avg","unit":"kWh","pricing":{"model":"flat","unitPrice":"1"}}]}]', /tariffs\[0\]\.meters\[0\]\.measure/],
    ['[{"name":"x","customers":["*"],"currency":"EUR","meters":[{"field":"e","measure":"sum","unit":"kWh","pricing":{"model":"tiered"}}]}]', /tariffs\[0\]\.meters\[0\]\.pricing\.model/],
  ];
  for (const [text, expected] of cases) {
    assert.match(String(reason(text)), expected, text);
    assert.ok(runtimeRefuses(text), `the runtime refuses ${text} too`);
  }
});

test('the store config flags a spool budget the runtime would not use, and a config from before it stays valid', () => {
  for (const [budget, ok] of [[1024, true], [1, true], [1048576, true], [0, false], [1048577, false], ['big', false], [2.5, false]] as const) {
    const flagged = Object.keys(problems('upperstack-store-config', fresh('upperstack-store-config', { spoolBudget: budget })));
    assert.deepEqual(flagged, ok ? [] : ['spoolBudget'], String(budget));
  }
  assert.equal(fresh('upperstack-store-config', {}).spoolBudget, 1024);
  assert.equal(fresh('upperstack-store-config', {}).configVersion, 5);
  assert.deepEqual(problems('upperstack-store-config', { name: '', sinks: [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 }], batchSize: 1000, flushMs: 100, configVersion: 3 }), {});
});

test('market and grant flag exactly the device ids and minutes their runtime refuses', () => {
  for (const device of ['', 'plug1', 'a.b-c:d@e', '$SYS', 'a/b', 'a+', '#', 'x'.repeat(129)]) {
    const editor = problems('upperstack-market', fresh('upperstack-market', { device })).device === undefined;
    assert.equal(editor, topicLevelProblem(device) === undefined, `market device ${JSON.stringify(device)}`);
  }
  for (const minutes of ['60', '0.5', '1/60', '0.0167', '0.01', '0', '-1', 'soon', '527040', '600000', '']) {
    const editor = problems('upperstack-grant', fresh('upperstack-grant', { minutes })).minutes === undefined;
    let runtime = true;
    try {
      grantMinutes(minutes);
    } catch {
      runtime = false;
    }
    assert.equal(editor, runtime, `grant minutes ${JSON.stringify(minutes)}`);
  }
  assert.ok(problems('upperstack-grant', fresh('upperstack-grant', { device: 'a/b' })).device);
  assert.equal(problems('upperstack-grant', fresh('upperstack-grant', { device: '' })).device, undefined);
});
