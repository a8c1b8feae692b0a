/** Options of upperstack-decode, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import type { PayloadFormat } from '../mqtt-in/options';

export interface DecodeOptions {
  name: string;
  /** 'auto': msg.format, else MQTT 5 content type, else sniffed from the bytes. */
  format: PayloadFormat;
  /** Protobuf message type, e.g. upperstack.Reading. */
  protoType: string;
  /** Folder of .proto files; empty means the shipped proto/. */
  protoDir: string;
  /** Larger payloads are rejected before decoding. */
  maxBytes: number;
  configVersion: number;
}

export interface DecodeNodeDef extends NodeDef, DecodeOptions {}

export const decodeMigrations: ReadonlyArray<Migration<DecodeOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ format: 'auto', protoType: 'upperstack.Reading', protoDir: '', ...old, maxBytes: Number(old.maxBytes || 1048576) }),
];
