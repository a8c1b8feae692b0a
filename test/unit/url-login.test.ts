/** shownUrl (nodes/lib/security/url-login.ts): a URL's password never reaches /health, status or log. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shownUrl, urlPassword } from '../../nodes/lib/security/url-login';
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
