/** shownUrl (nodes/lib/security/url-login.ts): a URL's password never reaches /health, status or log. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shownUrl, shownValue, urlPassword } from '../../nodes/lib/security/url-login';
import { clusterOptionsFromEnv } from '../../nodes/lib/cluster/config';
import { storeModeFromEnv } from '../../nodes/lib/store/store-mode';
import { normalizeSinks } from '../../nodes/lib/store/sinks';
import { InfluxSink } from '../../nodes/lib/influx/sink';
import { FieldTypeRegistry } from '../../nodes/lib/influx/field-types';
import { DEFAULT_MAPPING } from '../../nodes/lib/influx/line';

test('the password of a URL is replaced, the user name and the rest kept; a URL without one is as it was', () => {
  assert.equal(shownUrl('mqtt://ups:s3cret@mosquitto:1883'), 'mqtt://ups:***@mosquitto:1883');
  assert.equal(shownUrl('mqtts://ups:p%40ss:word@broker.example/x?y=1'), 'mqtts://ups:***@broker.example/x?y=1');
  assert.equal(shownUrl('http://reader:pw@127.0.0.1:8428'), 'http://reader:***@127.0.0.1:8428');
  assert.equal(shownUrl('mqtt://ups@mosquitto:1883'), 'mqtt://ups@mosquitto:1883');
  assert.equal(shownUrl('mqtt://mosquitto:1883'), 'mqtt://mosquitto:1883');
  assert.equal(shownUrl('http://host/path@x'), 'http://host/path@x');
  assert.equal(shownUrl(''), '');
});

test('urlPassword is the password shownUrl hides, and undefined where it hides none', () => {
  assert.equal(urlPassword('mqtt://ups:s3cret@mosquitto:1883'), 's3cret');
  assert.equal(urlPassword('mqtts://ups:p%40ss:word@broker.example/x?y=1'), 'p%40ss:word');
  assert.equal(urlPassword('mqtt://ups:@mosquitto:1883'), '');
  assert.equal(urlPassword('mqtt://ups@mosquitto:1883'), undefined);
  assert.equal(urlPassword('mqtt://mosquitto:1883'), undefined);
  assert.equal(urlPassword('http://host/path@x'), undefined);
});

test('an InfluxDB or VictoriaMetrics sink names its server without the URL\'s password', () => {
  const sink = new InfluxSink({
    server: 'victoriametrics',
    url: 'http://reader:s3cret@127.0.0.1:1',
    api: 'auto',
    precision: 'ms',
    mapping: DEFAULT_MAPPING,
    types: new FieldTypeRegistry(),
    gzipAbove: 0,
    timeoutMs: 1000,
    create: false,
    retentionMs: 0,
  });
  assert.equal(sink.describe(), 'VictoriaMetrics http://reader:***@127.0.0.1:1');
});

test('an error quoting a setting that does not parse as a URL never shows a login in it', () => {
  assert.equal(shownValue('member:pw@broker:1883'), '***@broker:1883');
  assert.equal(shownValue('mqtt://member:pw@broker:1883'), 'mqtt://member:***@broker:1883');
  assert.equal(shownValue('broker:1883'), 'broker:1883');
  assert.equal(shownValue('x'.repeat(200)).length, 80);
  const messageOf = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      return (err as Error).message;
    }
    return assert.fail('no error');
  };
  const broker = messageOf(() => clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'member:pw1@b:1883', UPPERSTACK_CLUSTER_SINK: 'http://vm:8428' }));
  assert.match(broker, /got "\*\*\*@b:1883"/);
  const sink = messageOf(() => clusterOptionsFromEnv({ UPPERSTACK_CLUSTER_BROKER: 'mqtt://b:1883', UPPERSTACK_CLUSTER_SINK: 'vm:pw2@vm:8428' }));
  assert.match(sink, /got "\*\*\*@vm:8428"/);
  const mode = messageOf(() => storeModeFromEnv({ UPPERSTACK_STORE: 'influxdb', UPPERSTACK_INFLUX_URL: 'reader:pw3@influx:8086' }));
  assert.match(mode, /got "\*\*\*@influx:8086"/);
  const main = { id: 'main', kind: 'duckdb', path: '', memoryLimit: 128 };
  const server = messageOf(() => normalizeSinks([main, { id: 'influx', kind: 'influxdb', url: 'writer:pw4@influx:8086' }], '/data'));
  assert.match(server, /got "\*\*\*@influx:8086"/);
  for (const [message, password] of [[broker, 'pw1'], [sink, 'pw2'], [mode, 'pw3'], [server, 'pw4']]) assert.ok(!message.includes(password), message);
});
