/** Options of upperstack-encode, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import type { Format } from '../lib/codec';

export interface EncodeOptions {
  name: string;
  format: Format;
  /** Protobuf message type; empty picks upperstack.Reading or upperstack.Batch by the payload. */
  protoType: string;
  protoDir: string;
  configVersion: number;
}

export interface EncodeNodeDef extends NodeDef, EncodeOptions {}

export const encodeMigrations: ReadonlyArray<Migration<EncodeOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ format: 'json', protoType: '', protoDir: '', ...old }),
];

export const CONTENT_TYPES: Record<Format, string> = {
  json: 'application/json',
  cbor: 'application/cbor',
  msgpack: 'application/msgpack',
  protobuf: 'application/x-protobuf',
  lineprotocol: 'text/plain; charset=utf-8',
  senml: 'application/senml+json',
  'senml-cbor': 'application/senml+cbor',
  xml: 'application/xml',
};
