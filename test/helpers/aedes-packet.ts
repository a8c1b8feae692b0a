/**
 * mqtt-packet as aedes itself loads it, typed for what the broker's raw-socket unit tests read back
 * (the acknowledgements' packet ids and reason codes): the bytes are parsed by the same code the broker uses.
 */
import { createRequire } from 'node:module';

export interface Packet {
  cmd: string;
  messageId?: number;
  reasonCode?: number;
}

interface MqttPacket {
  generate(p: object, o?: object): Buffer;
  parser(o?: object): { on(e: 'packet', fn: (p: Packet) => void): void; parse(b: Buffer): number };
}

export const mqttPacket = createRequire(require.resolve('aedes'))('mqtt-packet') as MqttPacket;
