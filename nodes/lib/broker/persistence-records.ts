/**
 * What the broker's persistence keeps: packets and subscriptions as stored, the
 * state-log operations that change them, and packets converted to and from
 * their on-disk form.
 */
import type { AedesPacket, AedesSubscription } from './aedes-types';

/* eslint-disable @typescript-eslint/no-require-imports */
const Packet = require('aedes-packet') as new (p: object, broker?: object) => AedesPacket;

export const QLOBBER = { wildcard_one: '+', wildcard_some: '#', separator: '/', match_empty_levels: true };

export interface ClientRef {
  id: string;
}

export interface BrokerRef {
  id: string;
}

export type Op =
  | ['ret', string, AedesPacket | null]
  | ['sub', string, AedesSubscription[]]
  | ['unsub', string, string[]]
  | ['clean', string]
  | ['enq', string[], AedesPacket]
  | ['upd', string, string | undefined, number | undefined, number | undefined]
  | ['rel', string, number]
  | ['relq', string, number]
  | ['clr', string, number | undefined]
  | ['in', string, AedesPacket]
  | ['indel', string, number]
  | ['will', string, AedesPacket]
  | ['delwill', string]
  | ['exp', string, number | null]
  | ['drop', string]
  | ['ses', string]
  | ['endses', string]
  | ['ssub', string, AedesSubscription]
  | ['sunsub', string, string];

/** The fields of a packet worth keeping on disk (aedes-packet plus the MQTT 5 extras aedes adds). */
export function plain(p: AedesPacket, withMessageId = false): AedesPacket {
  const out: AedesPacket = { cmd: p.cmd, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain };
  if (p.brokerId !== undefined) out.brokerId = p.brokerId;
  if (p.brokerCounter !== undefined) out.brokerCounter = p.brokerCounter;
  if (p.dup) out.dup = true;
  if (withMessageId && p.messageId !== undefined) out.messageId = p.messageId;
  if (p.properties !== undefined) out.properties = p.properties;
  if (p.messageExpiry !== undefined) out.messageExpiry = p.messageExpiry;
  if (p.clientId !== undefined) out.clientId = p.clientId;
  if (p.login !== undefined) out.login = p.login;
  return out;
}

/** A payload read back from disk: CBOR gives byte strings as Uint8Array, aedes wants Buffers (strings stay strings). */
export function payloadOf(v: unknown): Buffer | string {
  if (typeof v === 'string' || Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.alloc(0);
}

/** A packet as aedes expects it back (an aedes-packet), optionally with its message id. */
export function revive(p: AedesPacket, withMessageId = false): AedesPacket {
  const pkt = new Packet({ ...p, payload: payloadOf(p.payload) });
  if (withMessageId && p.messageId !== undefined) pkt.messageId = p.messageId;
  // A will's login (auth.ts), which aedes-packet does not copy: without it a restored will is judged as one of a
  // release that kept none.
  if (p.login !== undefined) pkt.login = p.login;
  return pkt;
}

