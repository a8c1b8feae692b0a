import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { ConfigError } from '../../nodes/lib/errors';

/** The refusal of a broker configuration, which the constructor throws before anything listens. */
function refusal(files: { tlsKeyFile?: string; tlsCertFile?: string }): ConfigError {
  try {
    new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', tlsPort: 8883, ...files });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  throw new assert.AssertionError({ message: 'the broker took a TLS port without its files' });
}

test('a TLS port without key or certificate is refused naming the settings that give them', () => {
  const neither = refusal({});
  assert.equal(
    neither.message,
    "TLS needs both a key file and a certificate file for the TLS port 8883, and neither is set: set the broker node's TLS key file and TLS certificate, or UPPERSTACK_MQTT_TLS_KEY and UPPERSTACK_MQTT_TLS_CERT (which default to UPPERSTACK_HTTPS_KEY and UPPERSTACK_HTTPS_CERT)",
  );
  assert.match(refusal({ tlsKeyFile: '/x/server.key' }).message, /, and the certificate file is not set: .*UPPERSTACK_MQTT_TLS_CERT/);
  assert.match(refusal({ tlsCertFile: '/x/server.crt' }).message, /, and the key file is not set: .*UPPERSTACK_MQTT_TLS_KEY/);
});
