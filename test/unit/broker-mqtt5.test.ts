/**
 * The embedded broker against the MQTT 5 scenarios devices rely on
 * (test/helpers/mqtt5-scenarios.ts; test/integration runs the same ones
 * against mosquitto), each on a fresh broker with its own data folder.
 */
import { rmSync } from 'node:fs';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import type { BrokerOptions } from '../../nodes/lib/broker/options';
import { defineScenarios } from '../helpers/mqtt5-scenarios';
import { tempDir } from '../helpers/temp';

defineScenarios('embedded', async (o) => {
  const dataDir = tempDir('us-broker5-');
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
