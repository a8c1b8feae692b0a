/** Each node's config migrations: a config saved without a version comes forward to the current one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { migrate } from '../../nodes/shared/config';
import { brokerMigrations } from '../../nodes/broker/options';
import { mqttInMigrations } from '../../nodes/mqtt-in/options';
import { mqttConnectionMigrations, turnMaximum } from '../../nodes/mqtt-connection/options';
import { decodeMigrations } from '../../nodes/decode/options';
import { encodeMigrations } from '../../nodes/encode/options';
import { validateMigrations } from '../../nodes/validate/options';
import { storeConfigMigrations } from '../../nodes/store-config/options';
import { normalizeSinks } from '../../nodes/lib/store/sinks';
import { storeMigrations } from '../../nodes/store/options';
import { deadLetterMigrations } from '../../nodes/deadletter/options';
import { queryMigrations } from '../../nodes/query/options';
import { apiMigrations } from '../../nodes/api/options';
import { anomalyMigrations } from '../../nodes/anomaly/options';

test('a current config passes through unchanged', () => {
  const cfg = { id: 'n1', port: '1884', bind: '0.0.0.0', wsPort: '', tlsPort: '', tlsKey: '', tlsCert: '', tlsCa: '', maxPacketKb: 64, receiveMaximum: 20, maxQueued: 0, maxBehindKb: 0, configVersion: 4 };
  assert.deepEqual(migrate(cfg, brokerMigrations), cfg);
});

test('broker v1 → v2 adds the MQTT 5 limits at their defaults and keeps the listeners', () => {
  const v1 = { id: 'b', port: '1884', bind: '0.0.0.0', wsPort: '9001', tlsPort: '', tlsKey: '', tlsCert: '', configVersion: 1 };
  const out = migrate<Record<string, unknown>>(v1, brokerMigrations.slice(0, 2));
  assert.deepEqual(out, { ...v1, maxPacketKb: 16384, receiveMaximum: 1000, maxQueued: 1000, configVersion: 2 });
  // Hand-written values are kept when usable, replaced by the default when not.
  const odd = migrate<Record<string, unknown>>({ ...v1, receiveMaximum: '50', maxQueued: -3 }, brokerMigrations);
  assert.equal(odd.receiveMaximum, 50);
  assert.equal(odd.maxQueued, 1000);
});

test('broker v0 → v1 fills the listener options and keeps what was set', () => {
  const out = migrate<Record<string, unknown>>({ id: 'b', port: '1999' }, brokerMigrations);
  assert.equal(out.port, '1999');
  assert.equal(out.wsPort, '');
  assert.equal(out.receiveMaximum, 1000);
  assert.equal(out.configVersion, 4);
});

test('broker v2 → v3 adds the device CA (none) and keeps the TLS files', () => {
  const v2 = { id: 'b', port: '1883', bind: '', wsPort: '', tlsPort: '8883', tlsKey: '/k.pem', tlsCert: '/c.pem', maxPacketKb: 64, receiveMaximum: 20, maxQueued: 0, configVersion: 2 };
  assert.deepEqual(migrate<Record<string, unknown>>(v2, brokerMigrations.slice(0, 3)), { ...v2, tlsCa: '', configVersion: 3 });
  assert.equal(migrate<Record<string, unknown>>({ ...v2, tlsCa: ' /ca.pem ' }, brokerMigrations).tlsCa, '/ca.pem');
});

test('broker v3 → v4 adds the slow subscriber limit (8 MiB, as it was fixed) and keeps a usable hand-written one', () => {
  const v3 = { id: 'b', port: '1883', bind: '', wsPort: '', tlsPort: '', tlsKey: '', tlsCert: '', tlsCa: '', maxPacketKb: 64, receiveMaximum: 20, maxQueued: 0, configVersion: 3 };
  assert.deepEqual(migrate<Record<string, unknown>>(v3, brokerMigrations), { ...v3, maxBehindKb: 8192, configVersion: 4 });
  assert.equal(migrate<Record<string, unknown>>({ ...v3, maxBehindKb: '0' }, brokerMigrations).maxBehindKb, 0);
  assert.equal(migrate<Record<string, unknown>>({ ...v3, maxBehindKb: -5 }, brokerMigrations).maxBehindKb, 8192);
});

test('mqtt-in v0 → v1 picks the source from the connection and makes qos a number', () => {
  const ext = migrate<Record<string, unknown>>({ connection: 'c1', qos: '2', topic: 'x/{device}' }, mqttInMigrations);
  assert.equal(ext.source, 'external');
  assert.equal(ext.qos, 2);
  assert.equal(ext.topic, 'x/{device}');
  const emb = migrate<Record<string, unknown>>({}, mqttInMigrations);
  assert.equal(emb.source, 'embedded');
  assert.equal(emb.topic, 'devices/{device}/telemetry');
  assert.equal(emb.qos, 1);
});

test('mqtt-in v1 → v2 turns batching and backpressure on and keeps set values', () => {
  const v1 = { id: 'i', source: 'embedded', broker: '', connection: '', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', group: '', configVersion: 1 };
  const out = migrate<Record<string, unknown>>(v1, mqttInMigrations);
  assert.equal(out.configVersion, 4);
  assert.equal(out.coalesce, true);
  assert.equal(out.highWater, 5000);
  assert.equal(out.lowWater, 2500);
  assert.equal(out.topic, v1.topic);
  const set = migrate<Record<string, unknown>>({ ...v1, coalesce: false, highWater: '800', lowWater: '' }, mqttInMigrations);
  assert.equal(set.coalesce, false);
  assert.equal(set.highWater, 800);
  assert.equal(set.lowWater, 400);
  // A low-water mark at or above the high-water mark could never release: it falls back to half.
  assert.equal(migrate<Record<string, unknown>>({ ...v1, highWater: 100, lowWater: 100 }, mqttInMigrations).lowWater, 50);
  assert.equal(migrate<Record<string, unknown>>({ ...v1, highWater: -5 }, mqttInMigrations).highWater, 5000);
  assert.equal(migrate<Record<string, unknown>>({ ...v1, highWater: 0 }, mqttInMigrations).highWater, 0);
  // v0 goes through both steps.
  assert.equal(migrate<Record<string, unknown>>({}, mqttInMigrations).highWater, 5000);
});

test('mqtt-in v2 → v3 gives the journal a disk budget of 1 GiB and keeps one already set', () => {
  const v2 = { id: 'i', source: 'embedded', broker: '', connection: '', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', group: '', coalesce: true, highWater: 5000, lowWater: 2500, configVersion: 2 };
  const out = migrate<Record<string, unknown>>(v2, mqttInMigrations);
  assert.equal(out.configVersion, 4);
  assert.equal(out.journalBudgetMb, 1024);
  assert.equal(out.highWater, 5000);
  assert.equal(migrate<Record<string, unknown>>({ ...v2, journalBudgetMb: '64' }, mqttInMigrations).journalBudgetMb, 64);
  // Below one MiB, or not a number: the default, since the journal could not hold a segment.
  assert.equal(migrate<Record<string, unknown>>({ ...v2, journalBudgetMb: 0 }, mqttInMigrations).journalBudgetMb, 1024);
  assert.equal(migrate<Record<string, unknown>>({ ...v2, journalBudgetMb: 'lots' }, mqttInMigrations).journalBudgetMb, 1024);
});

test('mqtt-in v3 → v4 adds the readings mark (10,000), off when backpressure was off, and keeps one already set', () => {
  const v3 = { id: 'i', source: 'embedded', broker: '', connection: '', topic: 'devices/{device}/telemetry', qos: 1, format: 'auto', group: '', coalesce: true, highWater: 5000, lowWater: 2500, journalBudgetMb: 1024, configVersion: 3 };
  const out = migrate<Record<string, unknown>>(v3, mqttInMigrations);
  assert.equal(out.configVersion, 4);
  assert.equal(out.highWaterReadings, 10000);
  assert.equal(out.highWater, 5000);
  assert.equal(migrate<Record<string, unknown>>({ ...v3, highWater: 0, lowWater: 0 }, mqttInMigrations).highWaterReadings, 0);
  assert.equal(migrate<Record<string, unknown>>({ ...v3, highWaterReadings: '800' }, mqttInMigrations).highWaterReadings, 800);
  assert.equal(migrate<Record<string, unknown>>({ ...v3, highWaterReadings: -1 }, mqttInMigrations).highWaterReadings, 10000);
  // v0 goes through every step.
  assert.equal(migrate<Record<string, unknown>>({}, mqttInMigrations).highWaterReadings, 10000);
});

test('mqtt-connection v0 → v1 types the protocol version and keepalive', () => {
  const out = migrate<Record<string, unknown>>({ url: 'mqtts://broker:8883', protocolVersion: '5', keepalive: '15' }, mqttConnectionMigrations);
  assert.equal(out.protocolVersion, 5);
  assert.equal(out.keepalive, 15);
  assert.equal(out.url, 'mqtts://broker:8883');
  assert.equal(out.rejectUnauthorized, true);
});

test('mqtt-connection v1 → v2 adds the MQTT 5 receive maximum at 100 and keeps a usable one set by hand', () => {
  const v1 = { id: 'c', url: 'mqtt://broker:1883', clientId: '', protocolVersion: 5, persistent: true, keepalive: 60, ca: '', cert: '', key: '', rejectUnauthorized: true, configVersion: 1 };
  assert.deepEqual(migrate<Record<string, unknown>>(v1, mqttConnectionMigrations), { ...v1, receiveMaximum: 100, configVersion: 2 });
  assert.equal(migrate<Record<string, unknown>>({ ...v1, receiveMaximum: '0' }, mqttConnectionMigrations).receiveMaximum, 0);
  assert.equal(migrate<Record<string, unknown>>({ ...v1, receiveMaximum: 500 }, mqttConnectionMigrations).receiveMaximum, 500);
  assert.equal(migrate<Record<string, unknown>>({ ...v1, receiveMaximum: 70000 }, mqttConnectionMigrations).receiveMaximum, 100);
  assert.equal(migrate<Record<string, unknown>>({ ...v1, receiveMaximum: 2.5 }, mqttConnectionMigrations).receiveMaximum, 100);
  // v0 goes through both steps.
  assert.equal(migrate<Record<string, unknown>>({ url: 'mqtt://broker:1883' }, mqttConnectionMigrations).receiveMaximum, 100);
});

test('mqtt-connection turns: 16 messages on the broker\'s window, four fifths of an announced MQTT 5 receive maximum', () => {
  assert.equal(turnMaximum({ protocolVersion: 4, receiveMaximum: 100 }), 16);
  assert.equal(turnMaximum({ protocolVersion: 5, receiveMaximum: 0 }), 16);
  assert.equal(turnMaximum({ protocolVersion: 5, receiveMaximum: 20 }), 16);
  assert.equal(turnMaximum({ protocolVersion: 5, receiveMaximum: 100 }), 80);
  assert.equal(turnMaximum({ protocolVersion: 5, receiveMaximum: 1 }), 1);
});

test('decode v0 → v1 defaults to auto and a 1 MiB limit', () => {
  const out = migrate<Record<string, unknown>>({ format: 'cbor' }, decodeMigrations);
  assert.equal(out.format, 'cbor');
  assert.equal(out.maxBytes, 1048576);
  assert.equal(out.protoType, 'upperstack.Reading');
});

test('decode v1 → v2 adds the limits with their defaults and keeps set ones; v0 goes through both steps', () => {
  const v1 = { id: 'd', format: 'json', protoType: 'upperstack.Reading', protoDir: '', maxBytes: 2048, configVersion: 1 };
  const out = migrate<Record<string, unknown>>(v1, decodeMigrations);
  assert.equal(out.configVersion, 2);
  assert.deepEqual([out.maxDepth, out.maxFields, out.maxStringLength, out.maxReadings], [32, 1000, 65536, 10000]);
  assert.equal(out.maxBytes, 2048);
  assert.equal(migrate<Record<string, unknown>>({ ...v1, maxDepth: '8', maxFields: 50 }, decodeMigrations).maxDepth, 8);
  assert.equal(migrate<Record<string, unknown>>({ ...v1, maxDepth: '8', maxFields: 50 }, decodeMigrations).maxFields, 50);
  const v0 = migrate<Record<string, unknown>>({}, decodeMigrations);
  assert.equal(v0.configVersion, 2);
  assert.equal(v0.maxBytes, 1048576);
  assert.equal(v0.maxReadings, 10000);
});

test('validate v1 → v2 adds the limits with their defaults and keeps set ones', () => {
  const v1 = { id: 'v', schemaSource: 'file', schema: '', schemaFile: 'x.json', configVersion: 1 };
  const out = migrate<Record<string, unknown>>(v1, validateMigrations);
  assert.equal(out.configVersion, 2);
  assert.deepEqual([out.maxFields, out.maxStringLength, out.maxReadings], [1000, 65536, 10000]);
  assert.equal(out.schemaFile, 'x.json');
  assert.equal(migrate<Record<string, unknown>>({ ...v1, maxStringLength: '100' }, validateMigrations).maxStringLength, 100);
  assert.equal(migrate<Record<string, unknown>>({}, validateMigrations).maxFields, 1000);
});

test('encode v0 → v1 defaults to JSON', () => {
  assert.equal(migrate<Record<string, unknown>>({}, encodeMigrations).format, 'json');
});

test('validate v0 → v1 infers where the schema comes from', () => {
  assert.equal(migrate<Record<string, unknown>>({ schemaFile: 'my.json' }, validateMigrations).schemaSource, 'file');
  assert.equal(migrate<Record<string, unknown>>({ schema: '{"type":"object"}' }, validateMigrations).schemaSource, 'inline');
  assert.equal(migrate<Record<string, unknown>>({}, validateMigrations).schemaSource, 'default');
});

test('store-config v1 → v2 adds the memory limit (the default, 64 MB) and keeps one already set', () => {
  const toV2 = storeConfigMigrations.slice(0, 2);
  const out = migrate<Record<string, unknown>>({ batchSize: 500, flushMs: 100, configVersion: 1 }, toV2);
  assert.equal(out.memoryLimit, 64);
  assert.equal(out.batchSize, 500);
  assert.equal(out.configVersion, 2);
  const set = migrate<Record<string, unknown>>({ batchSize: 500, flushMs: 100, memoryLimit: '0', configVersion: 1 }, toV2);
  assert.equal(set.memoryLimit, 0);
});

test('store-config v0 → v1 makes batch settings numbers with defaults', () => {
  const out = migrate<Record<string, unknown>>({ batchSize: '500' }, storeConfigMigrations.slice(0, 1));
  assert.equal(out.batchSize, 500);
  assert.equal(out.flushMs, 100);
  assert.equal(out.kind, 'duckdb');
});

test('store-config v2 → v3 turns the one database into the sink "main" (which keeps its spool path)', () => {
  const v2 = { id: 'cfg', name: 'db', kind: 'duckdb', path: '/srv/telemetry.duckdb', batchSize: 500, flushMs: 50, memoryLimit: 256, configVersion: 2 };
  const out = migrate<Record<string, unknown>>(v2, storeConfigMigrations.slice(0, 3));
  assert.equal(out.configVersion, 3);
  assert.deepEqual(out.sinks, [{ id: 'main', kind: 'duckdb', path: '/srv/telemetry.duckdb', memoryLimit: 256 }]);
  assert.equal(out.batchSize, 500);
  assert.equal(out.flushMs, 50);
  assert.equal(out.name, 'db');
  assert.ok(!('path' in out) && !('memoryLimit' in out) && !('kind' in out), 'the old top-level settings are gone');
  // v0 goes through every step.
  assert.deepEqual(migrate<Record<string, unknown>>({}, storeConfigMigrations.slice(0, 3)).sinks, [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 64 }]);
});

test('store-config v4 → v5: DuckDB sinks saved before retention keep everything (nothing deleted by an upgrade); other sinks and set values stay', () => {
  const v4 = {
    id: 'cfg',
    sinks: [
      { id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 },
      { id: 'b', kind: 'duckdb', path: 'b.duckdb', memoryLimit: 64, retention: '7d' },
      { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db' },
    ],
    batchSize: 1000,
    flushMs: 100,
    spoolBudget: 1024,
    configVersion: 4,
  };
  const out = migrate<Record<string, unknown>>(v4, storeConfigMigrations);
  assert.equal(out.configVersion, 5);
  assert.deepEqual(out.sinks, [
    { id: 'main', kind: 'duckdb', path: '', memoryLimit: 128, retention: '', rollupRetention: '' },
    { id: 'b', kind: 'duckdb', path: 'b.duckdb', memoryLimit: 64, retention: '7d', rollupRetention: '' },
    { id: 'influx', kind: 'influxdb', url: 'http://h:8086', database: 'db' },
  ]);
  // The runtime takes the migrated list: no retention for the old store.
  const sinks = normalizeSinks(out.sinks, '/data');
  assert.equal(sinks[0].retention, '');
  // A new store (no saved sinks) gets the defaults: 30 days raw, a year of roll-ups.
  assert.deepEqual(normalizeSinks([{ id: 'main', kind: 'duckdb' }], '/data')[0], { id: 'main', kind: 'duckdb', path: '', memoryLimit: 64, retention: '30d', rollupRetention: '1y' });
});

test('store-config v3 → v4 adds a 1 GiB spool budget and keeps one already set; v0 goes through every step', () => {
  const v3 = { id: 'cfg', name: 'db', sinks: [{ id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 }], batchSize: 500, flushMs: 50, configVersion: 3 };
  const out = migrate<Record<string, unknown>>(v3, storeConfigMigrations.slice(0, 4));
  assert.equal(out.configVersion, 4);
  assert.equal(out.spoolBudget, 1024);
  assert.deepEqual(out.sinks, v3.sinks);
  assert.equal(out.batchSize, 500);
  assert.equal(migrate<Record<string, unknown>>({ ...v3, spoolBudget: '64' }, storeConfigMigrations).spoolBudget, 64);
  const v0 = migrate<Record<string, unknown>>({}, storeConfigMigrations);
  assert.equal(v0.configVersion, 5);
  assert.equal(v0.spoolBudget, 1024);
});

test('store, dead-letter, query and api v0 → v1 fill their options', () => {
  assert.equal(migrate<Record<string, unknown>>({}, storeMigrations).store, '');
  assert.equal(migrate<Record<string, unknown>>({}, deadLetterMigrations).topic, 'upperstack/deadletter');
  assert.equal(migrate<Record<string, unknown>>({}, queryMigrations).kind, 'readings');
  assert.equal(migrate<Record<string, unknown>>({ store: 's' }, apiMigrations).store, 's');
});

test('anomaly v1 → v2 adds an empty store and keeps every setting; v2 → v3 turns the worker thread on; v0 goes through every step', () => {
  const v1 = { id: 'a', name: 'boiler', detector: 'zscore', sigma: '4', threshold: '0.6', fields: 'temperature', configVersion: 1 };
  const out = migrate<Record<string, unknown>>(v1, anomalyMigrations);
  assert.equal(out.configVersion, 4);
  assert.equal(out.store, '');
  assert.equal(out.worker, true);
  assert.equal(out.maxSeriesPerDevice, '100');
  assert.deepEqual({ ...out, store: undefined, worker: undefined, maxSeriesPerDevice: undefined, configVersion: 1 }, { ...v1, store: undefined, worker: undefined, maxSeriesPerDevice: undefined });
  // A v1 node saved by a newer editor already carries its store: it is kept.
  assert.equal(migrate<Record<string, unknown>>({ ...v1, store: 'cfg1' }, anomalyMigrations).store, 'cfg1');
  // A v2 node whose worker was turned off keeps it off.
  assert.equal(migrate<Record<string, unknown>>({ ...v1, configVersion: 2, store: '', worker: false }, anomalyMigrations).worker, false);
  const v0 = migrate<Record<string, unknown>>({ id: 'b', threshold: 0.7 }, anomalyMigrations);
  assert.equal(v0.configVersion, 4);
  assert.equal(v0.threshold, '0.7');
  assert.equal(v0.store, '');
  assert.equal(v0.worker, true);
  assert.equal(v0.maxSeriesPerDevice, '100');
});

test('anomaly v3 → v4 puts the per-device series cap in the dialog at the 100 the engine applied, keeping every setting', () => {
  const v3 = { id: 'c', name: 'boiler', detector: 'default', maxSeries: '5000', store: 's1', worker: false, configVersion: 3 };
  const out = migrate<Record<string, unknown>>(v3, anomalyMigrations);
  assert.deepEqual(out, { ...v3, maxSeriesPerDevice: '100', configVersion: 4 });
  // A hand-written v3 node that already names one (a number, as in a JSON flow) keeps it, as text like the others.
  assert.equal(migrate<Record<string, unknown>>({ ...v3, maxSeriesPerDevice: 12 }, anomalyMigrations).maxSeriesPerDevice, '12');
  // A v4 node is left as it is.
  assert.equal(migrate<Record<string, unknown>>({ ...v3, maxSeriesPerDevice: '7', configVersion: 4 }, anomalyMigrations).maxSeriesPerDevice, '7');
});
