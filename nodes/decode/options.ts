/** Options of upperstack-decode, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import type { PayloadFormat } from '../mqtt-in/options';
import { DEFAULT_LIMITS, settingOr as whole } from '../lib/limits';

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
  /** Deeper nesting of objects and arrays is rejected before decoding (DEPTH_EXCEEDED). */
  maxDepth: number;
  /** Fields one reading may have after flattening (TOO_MANY_FIELDS). */
  maxFields: number;
  /** Characters of one string value (STRING_TOO_LONG). */
  maxStringLength: number;
  /** Readings one message may carry (TOO_MANY_READINGS). */
  maxReadings: number;
  configVersion: number;
}

export interface DecodeNodeDef extends NodeDef, DecodeOptions {}

export const decodeMigrations: ReadonlyArray<Migration<DecodeOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present.
  (old) => ({ format: 'auto', protoType: 'upperstack.Reading', protoDir: '', ...old, maxBytes: Number(old.maxBytes || 1048576) }),
  // v1 → v2: limits on depth, fields per reading, string length and readings per message.
  (old) => ({
    ...old,
    maxDepth: whole(old.maxDepth, DEFAULT_LIMITS.maxDepth),
    maxFields: whole(old.maxFields, DEFAULT_LIMITS.maxFields),
    maxStringLength: whole(old.maxStringLength, DEFAULT_LIMITS.maxStringLength),
    maxReadings: whole(old.maxReadings, DEFAULT_LIMITS.maxReadings),
  }),
];

/**
 * How errors over a limit name this node's settings (error messages are English, as the editor's labels in
 * locales/en-US are): "raise the decode node's Fields limit".
 */
export const LIMITS_ORIGIN = { kind: 'node', node: 'decode node', labels: { maxFields: 'Fields limit', maxReadings: 'Readings limit' } } as const;
