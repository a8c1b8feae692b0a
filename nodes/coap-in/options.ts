/** Options of upperstack-coap-in, shared by the runtime and the editor. */
import type { Node, NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import { inputReadingsMark } from '../lib/inputs/marks';

export interface CoapInOptions {
  name: string;
  /** UDP port; `${UPPERSTACK_COAP_PORT}` in the default pack. */
  port: string;
  /** Address to bind; `${UPPERSTACK_BIND}` in the default pack. */
  bind: string;
  /** Codec of Content-Format 42 (application/octet-stream). */
  octetFormat: 'msgpack' | 'protobuf' | 'cbor' | 'json' | 'lineprotocol' | 'senml' | 'senml-cbor' | 'xml';
  protoType: string;
  /** Largest payload (all Block1 blocks together); more is 4.13 with Size1. */
  maxBytes: number;
  schemaSource: 'default' | 'inline' | 'file';
  schema: string;
  schemaFile: string;
  /** Unsettled requests at which the input answers 5.03 with Max-Age (0: no mark). */
  highWater: number;
  /**
   * Unsettled readings at which the input answers 5.03 with Max-Age as well, resuming at
   * half (0: no such mark); a request counts the readings it holds.
   */
  highWaterReadings: number;
  configVersion: number;
}

export interface CoapInCredentials {
  username?: string;
  password?: string;
}

export interface CoapInNodeDef extends NodeDef, CoapInOptions {}
export type CoapInNode = Node<CoapInCredentials>;

export const DEFAULT_COAP_MAX_BYTES = 256 * 1024;

const num = (v: unknown, fallback: number) => (v === undefined || v === null || v === '' || !Number.isFinite(Number(v)) || Number(v) < 0 ? fallback : Number(v));

export const coapInMigrations: ReadonlyArray<Migration<CoapInOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => ({
    port: '5683',
    bind: '127.0.0.1',
    octetFormat: 'msgpack',
    protoType: 'upperstack.Reading',
    schemaSource: 'default',
    schema: '',
    schemaFile: '',
    ...old,
    maxBytes: num(old.maxBytes, DEFAULT_COAP_MAX_BYTES) || DEFAULT_COAP_MAX_BYTES,
    highWater: num(old.highWater, 5000),
  }),
  // v1 → v2: a pause mark in readings too (a 100-reading request weighs 100).
  (old) => ({ ...old, highWaterReadings: inputReadingsMark(old.highWaterReadings, old.highWater) }),
];
