/**
 * The hook every packet aedes writes goes through: mqtt-packet's
 * writeToStream(packet, conn), wrapped once. A connection whose stream carries
 * a gate (connection.ts, attached before aedes.handle) has its packets passed to
 * the gate, which writes them on with writeUnhooked(); every other stream
 * (MQTT.js clients in the same process too) is left alone.
 */
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type { AedesPacket } from './aedes-types';
import type { ConnectionGate } from './connection';

type WriteToStream = ((packet: AedesPacket, stream: Duplex, opts?: object) => boolean) & { cacheNumbers?: boolean };

interface MqttPacketModule {
  writeToStream: WriteToStream;
  generate(packet: object, opts?: object): Buffer;
}

const GATE = Symbol.for('upperstack.broker.connectionGate');

let mqttPacket: MqttPacketModule | undefined;
let originalWrite: WriteToStream | undefined;

/**
 * The mqtt-packet module aedes itself loads (resolved from aedes' own folder, so
 * a second copy elsewhere in node_modules cannot be picked by mistake).
 */
export function aedesMqttPacket(): MqttPacketModule {
  if (!mqttPacket) {
    const fromAedes = createRequire(require.resolve('aedes'));
    mqttPacket = fromAedes('mqtt-packet') as MqttPacketModule;
  }
  return mqttPacket;
}

/** Routes writes to streams that carry a gate through it; every other stream (MQTT.js too) is left alone. */
export function installWriteHook(): void {
  const mod = aedesMqttPacket();
  if (originalWrite) return;
  const original = mod.writeToStream;
  originalWrite = original;
  const hooked: WriteToStream = function writeToStream(packet, stream, opts) {
    const gate = (stream as unknown as Record<symbol, ConnectionGate | undefined>)[GATE];
    return gate ? gate.write(packet, opts) : original(packet, stream, opts);
  };
  Object.defineProperty(hooked, 'cacheNumbers', {
    get: () => original.cacheNumbers,
    set: (v: boolean) => {
      original.cacheNumbers = v;
    },
  });
  mod.writeToStream = hooked;
}

/** What the gate writes once it let a packet through: mqtt-packet's own write, not the hook. */
export function writeUnhooked(packet: AedesPacket, stream: Duplex, opts?: object): boolean {
  return originalWrite!(packet, stream, opts);
}

export function attachGate(stream: Duplex, gate: ConnectionGate): void {
  (stream as unknown as Record<symbol, ConnectionGate>)[GATE] = gate;
}

/** The gate of a connection's stream, if the broker gave it one. */
export function gateOf(stream: Duplex): ConnectionGate | undefined {
  return (stream as unknown as Record<symbol, ConnectionGate | undefined>)[GATE];
}

/** Whether the gate on this stream saw aedes write the CONNACK (the write hook is in place). */
export function gateSawConnack(stream: Duplex): boolean {
  return (stream as unknown as Record<symbol, ConnectionGate | undefined>)[GATE]?.sawConnack === true;
}
