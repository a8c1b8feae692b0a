/**
 * The MQTT 5 scenarios of test/helpers/mqtt5-scenarios.ts against Debian's
 * mosquitto, the reference that shows each scenario asks for what a mature
 * broker does (the embedded broker runs the same ones in test/unit).
 */
import { defineScenarios } from '../helpers/mqtt5-scenarios';
import { startMosquitto } from '../helpers/mosquitto';

defineScenarios('mosquitto', async (o) => {
  const conf: string[] = [];
  if (o.maximumPacketSize) conf.push(`max_packet_size ${o.maximumPacketSize}`);
  if (o.receiveMaximum) conf.push(`max_inflight_messages ${o.receiveMaximum}`);
  const m = await startMosquitto({ persistence: o.persistent, conf });
  return { port: m.port, restart: () => m.restart(), stop: () => m.stop() };
}, {
  unsupported: {
    "the broker keeps no more than the client's Receive Maximum in flight": 'mosquitto 2.0.11 sends two more after the first PUBACK, one over the quota',
    "a client over the broker's Receive Maximum is disconnected with 0x93": 'mosquitto 2.0.11 advertises the limit but answers every QoS 2 PUBLISH over it with PUBREC',
  },
});
