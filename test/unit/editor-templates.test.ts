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
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { parsePort } from '../../nodes/shared/config';
import { validateTariffs } from '../../nodes/lib/billing/tariff';
import { checkCron } from '../../nodes/lib/report/schedule';
import { topicLevelProblem } from '../../nodes/market/options';
import { SIMULATE_TARGETS, simulateTopicProblem } from '../../nodes/simulate/options';
import { grantMinutes } from '../../nodes/lib/devices/market';
import { added, defs, fresh, problems, root, verdict } from '../helpers/editor-templates';
import { clusterOptionsFromEnv } from '../../nodes/lib/cluster/config';
import { CLUSTER_CONNECTION_ID, clusterPack, type FlowNode } from '../../nodes/lib/cluster/pack';

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

test('a node dropped from the palette takes the only store config, so it is valid at once; with several or none it waits for a choice', () => {
  const store = { id: 'us_store_cfg', type: 'upperstack-store-config' };
  const other = { id: 'cfg2', type: 'upperstack-store-config' };
  const needStore = [...defs.entries()].filter(([, def]) => def.defaults.store?.required && def.defaults.store.value === '').map(([type]) => type);
  // Config nodes are added with the "+" beside a picker, not dropped: the registry picks its store in that dialog.
  assert.deepEqual(needStore.sort(), ['upperstack-api', 'upperstack-devices', 'upperstack-invoice', 'upperstack-query', 'upperstack-report', 'upperstack-store']);
  for (const type of needStore.filter((t) => t !== 'upperstack-devices')) {
    const node = added(type, 'tab1', [store, { id: 'b1', type: 'upperstack-broker-x' }]);
    assert.equal(node.store, 'us_store_cfg', type);
    assert.deepEqual(problems(type, node), {}, type);
    // A store config on another tab, or disabled, is not one this node can use.
    assert.equal(added(type, 'tab1', [store, { ...other, z: 'tab2' }]).store, 'us_store_cfg', type);
    assert.equal(added(type, 'tab1', [store, { ...other, d: true }]).store, 'us_store_cfg', type);
    assert.equal(added(type, 'tab1', [store, { ...other, z: 'tab1' }]).store, '', `${type}: two to choose from`);
    assert.equal(added(type, 'tab1', [store, other]).store, '', `${type}: two to choose from`);
    assert.equal(added(type, 'tab1', []).store, '', `${type}: none to choose`);
  }
  // Pasted or imported with a store, it keeps it.
  const pasted = { ...fresh('upperstack-store', { store: 'cfg2', z: 'tab1' }) };
  defs.get('upperstack-store')!.onadd?.call(pasted);
  assert.equal(pasted.store, 'cfg2');
});

/** The runtime's verdict on the broker options: a ConfigError or none. */
function brokerStarts(o: Record<string, string>): boolean {
  try {
    new EmbeddedMqttBroker({
      // A new broker's `${UPPERSTACK_MQTT_PORT}` unset here: the default port, as broker.ts takes it.
      port: parsePort(/^\$\{\w+\}$/.test(o.port) ? '' : o.port, 1883),
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

test('mqtt in from an external broker flags a missing connection, also once saved (the picker\'s "none" saves "")', () => {
  const need = 'choose the connection to the external broker';
  assert.deepEqual(problems('upperstack-mqtt-in', fresh('upperstack-mqtt-in', { source: 'external', connection: '' })), { connection: need });
  assert.deepEqual(problems('upperstack-mqtt-in', fresh('upperstack-mqtt-in', { source: 'external', connection: '_ADD_' })), { connection: need });
  assert.deepEqual(problems('upperstack-mqtt-in', fresh('upperstack-mqtt-in', { source: 'embedded', connection: '' })), {});
});

test('the HTTP and CoAP inputs take an empty or absent body timeout and readings mark as the default, at any config version', () => {
  // An empty field is what the dialog shows for an option the node was saved without; the runtime uses its default.
  for (const configVersion of [1, 2, 3]) {
    for (const empty of [undefined, '', ' ']) {
      assert.deepEqual(problems('upperstack-http-in', fresh('upperstack-http-in', { configVersion, bodyTimeout: empty, highWaterReadings: empty })), {}, `http-in v${configVersion} ${JSON.stringify(empty)}`);
      assert.deepEqual(problems('upperstack-coap-in', fresh('upperstack-coap-in', { configVersion, highWaterReadings: empty })), {}, `coap-in v${configVersion} ${JSON.stringify(empty)}`);
    }
  }
  // A value typed in is still checked.
  assert.deepEqual(Object.keys(problems('upperstack-http-in', fresh('upperstack-http-in', { bodyTimeout: '3601', highWaterReadings: 'many' }))), ['bodyTimeout', 'highWaterReadings']);
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

test('every node type the editor registers has help, with its properties, in its node\'s locale folder', () => {
  const types: string[] = [];
  for (const dir of readdirSync(join(root, 'nodes'))) {
    const file = join(root, 'nodes', dir, `${dir}.html`);
    if (!existsSync(file)) continue;
    const help = readFileSync(join(root, 'nodes', dir, 'locales', 'en-US', `${dir}.html`), 'utf8');
    for (const [, type] of readFileSync(file, 'utf8').matchAll(/RED\.nodes\.registerType\('([\w-]+)'/g)) {
      types.push(type);
      const start = help.indexOf(`data-help-name="${type}"`);
      assert.ok(start >= 0, `${type}: no help in ${dir}/locales/en-US/${dir}.html`);
      const body = help.slice(start, help.indexOf('</script>', start));
      assert.match(body, /<p>[^<]*\S/, `${type}: the help says what the node is`);
      assert.match(body, /<dl class="message-properties">|<h3>/, `${type}: the help lists its properties or sections`);
    }
  }
  assert.ok(types.includes('upperstack-mqtt-connection'), 'config nodes are covered too');
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
  // A meter of the given pricing, in a tariff that is fine otherwise.
  const priced = (pricing: unknown, meter: Record<string, unknown> = {}, tariff: Record<string, unknown> = {}) =>
    JSON.stringify([{ name: 'x', customers: ['*'], currency: 'EUR', ...tariff, meters: [{ field: 'e', measure: 'sum', unit: 'kWh', pricing, ...meter }] }]);
  const open = (tiers: unknown[]) => ({ model: 'graduated', tiers });
  cases.push(
    // What the runtime checks beyond the shape: tiers, prices, signs, rounding, time units, packages.
    [priced(open([{ upTo: '100', unitPrice: '0.3' }, { upTo: '50', unitPrice: '0.2' }, { upTo: null, unitPrice: '0.1' }])), /tiers\[1\]\.upTo: must be more than the tier before \(100\)/],
    [priced(open([{ upTo: null, unitPrice: '0.3' }, { upTo: null, unitPrice: '0.2' }])), /tiers\[0\]\.upTo: only the last tier may be open/],
    [priced(open([{ upTo: '100', unitPrice: '0.3' }, { upTo: '500', unitPrice: '0.2' }])), /tiers\[1\]\.upTo: must be null/],
    [priced({ model: 'volume', tiers: [{ upTo: '5', unitPrice: '1' }] }), /tiers\[0\]\.upTo: must be null/],
    [priced(open([])), /pricing\.tiers: list 1 to 100 tiers/],
    [priced(open([{ upTo: null, unitPrice: 'abc' }])), /tiers\[0\]: a decimal number/],
    [priced(open([{ upTo: null, unitPrice: '0.3', flatFee: '-1' }])), /tiers\[0\]: must not be negative/],
    [priced({ model: 'flat', unitPrice: '-0.30' }), /pricing\.unitPrice: must not be negative/],
    [priced({ model: 'flat' }), /pricing\.unitPrice: a decimal number/],
    [priced({ model: 'package', packageSize: '0', packagePrice: '12.50' }), /pricing\.packageSize: must be more than 0/],
    [priced({ model: 'package', packageSize: '100', packagePrice: '12.50', packageRounding: 'nearest' }), /pricing\.packageRounding/],
    [priced({ model: 'flat', unitPrice: '1e9999' }), /pricing\.unitPrice: a decimal number/],
    [priced({ model: 'flat', unitPrice: '1' }, { per: 'hour' }), /meters\[0\]\.per: s, min, h, d/],
    [priced({ model: 'flat', unitPrice: '1' }, { scale: 'milli' }), /meters\[0\]\.scale/],
    [priced({ model: 'flat', unitPrice: '1' }, {}, { rounding: 'nearest' }), /tariffs\[0\]\.rounding/],
    [priced({ model: 'flat', unitPrice: '1' }, {}, { minimumCharge: '-10' }), /tariffs\[0\]\.minimumCharge: must not be negative/],
    ['[{"name":"a","customers":["acme"],"currency":"EUR","meters":[]},{"name":"b","customers":["acme"],"currency":"EUR","meters":[]}]', /tariffs\[1\]\.customers: "acme" is already billed by tariff "a"/],
  );
  for (const [text, expected] of cases) {
    assert.match(String(reason(text)), expected, text);
    assert.ok(runtimeRefuses(text), `the runtime refuses ${text} too`);
  }
  // And what the runtime takes, the dialog takes.
  for (const text of [
    priced({ model: 'package', packageSize: '100', packagePrice: '12.50', packageRounding: 'down' }, { measure: 'integral', per: 'min', scale: '-1' }, { rounding: 'half-even', taxPercent: 7 }),
    priced({ model: 'volume', tiers: [{ upTo: '5', unitPrice: '30.5', flatFee: '2' }, { upTo: null, unitPrice: '25.25' }] }),
    priced(open([{ upTo: 100, unitPrice: 0.3 }, { unitPrice: '0.2' }])),
  ]) {
    assert.equal(runtimeRefuses(text), false, text);
    assert.equal(reason(text), true, text);
  }
});

test('the report dialog flags a cron number outside its field\'s range, and only what node-cron refuses too', () => {
  const reason = (cron: string) => problems('upperstack-report', fresh('upperstack-report', { store: 'cfg', schedule: 'cron', cron })).cron;
  const refused = (cron: string) => {
    try {
      checkCron(cron);
      return false;
    } catch {
      return true;
    }
  };
  const flagged: Array<[string, string]> = [
    ['61 6 * * *', 'minute 61 is outside 0–59'],
    ['0 24 * * *', 'hour 24 is outside 0–23'],
    ['0 0-24 * * *', 'hour 24 is outside 0–23'],
    ['0 6 32 * *', 'day 32 is outside 1–31'],
    ['0 6 0 * *', 'day 0 is outside 1–31'],
    ['0 6 32W * *', 'day 32 is outside 1–31'],
    ['0 6 * 13 *', 'month 13 is outside 1–12'],
    ['0 6 * * 8', 'weekday 8 is outside 0–7'],
    ['0 6 * * 8#1', 'weekday 8 is outside 0–7'],
    ['1,2,60/5 * * * *', 'minute 60 is outside 0–59'],
  ];
  for (const [cron, what] of flagged) {
    assert.equal(reason(cron), `cron expression: ${what}`, cron);
    assert.ok(refused(cron), `node-cron refuses ${cron} too`);
  }
  for (const cron of ['0 6 * * 1-5', '*/15 * * * *', '0 6 * * 7', '0 6 * jan mon', '0-59/5 0-23 1-31 1-12 0-7', '0 6 L * *', '0 6 * * 1#2', '0 06 1W * *']) {
    assert.equal(reason(cron), undefined, cron);
    assert.equal(refused(cron), false, cron);
  }
});

test('simulate flags exactly the prefix and topic its runtime refuses, on the field the runtime names', () => {
  const topics = ['devices/{device}/telemetry', 'site/{device}', 'devices/+/{device}', 'a/#', 'fixed/topic', ''];
  const prefixes = ['sim-', '', 'lab.', 'x+', 'a#', 'site/', 'nul\u0000', 'lab 2-', 'dév-', 'a:b@c_', 'x'.repeat(123), 'x'.repeat(124)];
  for (const target of SIMULATE_TARGETS) {
    for (const topic of topics) {
      for (const prefix of prefixes) {
        const editor = problems('upperstack-simulate', fresh('upperstack-simulate', { target, topic, prefix }));
        const runtime = simulateTopicProblem({ target, topic, prefix });
        const what = JSON.stringify({ target, topic, prefix });
        assert.equal(editor.prefix !== undefined, runtime?.option === 'prefix', `prefix of ${what}`);
        assert.equal(editor.topic !== undefined, runtime?.option === 'topic', `topic of ${what}`);
      }
    }
  }
  // The CLI's cases, seen in the editor.
  assert.match(problems('upperstack-simulate', fresh('upperstack-simulate', { prefix: 'site/' })).prefix, /a device id prefix holds only letters, digits/);
  // Over HTTP too: the input holds the path's id to the same rule.
  assert.match(problems('upperstack-simulate', fresh('upperstack-simulate', { prefix: 'site/', target: 'http' })).prefix, /a device id prefix holds only/);
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

test('an MQTT connection saved at version 1 (a cluster member\'s, before the receive maximum) is not flagged before its dialog is opened', () => {
  const env = { UPPERSTACK_CLUSTER_BROKER: 'mqtt://cluster-broker:1883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428', UPPERSTACK_CLUSTER_MEMBER: 'm1' };
  const pipeline = JSON.parse(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8')) as FlowNode[];
  const member = clusterPack(pipeline, clusterOptionsFromEnv(env)!).find((n) => n.id === CLUSTER_CONNECTION_ID)!;
  // Written at the current version now, with the option.
  assert.deepEqual(problems('upperstack-mqtt-connection', member), {});
  // As data folders of members first started before then hold it.
  const v1: FlowNode = { ...member, configVersion: 1 };
  delete v1.receiveMaximum;
  assert.deepEqual(problems('upperstack-mqtt-connection', v1), {});
  // At version 2 the option is the node's own: absent or out of range is flagged.
  const v2 = { ...v1, configVersion: 2 };
  assert.deepEqual(Object.keys(problems('upperstack-mqtt-connection', v2)), ['receiveMaximum']);
  assert.deepEqual(Object.keys(problems('upperstack-mqtt-connection', { ...member, receiveMaximum: 70000 })), ['receiveMaximum']);
});
