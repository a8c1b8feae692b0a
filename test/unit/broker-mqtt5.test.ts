/**
 * The embedded broker against the MQTT 5 scenarios devices rely on
 * (test/helpers/mqtt5-scenarios.ts; test/integration runs the same ones
 * against mosquitto), each on a fresh broker with its own data folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedMqttBroker, type BrokerOptions } from '../../nodes/lib/broker/embedded';
import { defineScenarios } from '../helpers/mqtt5-scenarios';

defineScenarios('embedded', async (o) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'us-broker5-'));
  const opts: BrokerOptions = { port: 0, bind: '127.0.0.1', dataDir, maximumPacketSize: o.maximumPacketSize, receiveMaximum: o.receiveMaximum };
  let broker = new EmbeddedMqttBroker(opts);
  await broker.start();
  const port = broker.addresses.tcp;
  return {
    port,
    restart: async () => {
      await broker.stop();
      broker = new EmbeddedMqttBroker({ ...opts, port });
      await broker.start();
    },
    stop: async () => {
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
});
