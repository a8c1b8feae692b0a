/** Options of upperstack-validate, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import { DEFAULT_LIMITS, settingOr as whole } from '../lib/limits';

export interface ValidateOptions {
  name: string;
  /** 'default': the shipped reading schema; 'inline': `schema`; 'file': `schemaFile`. */
  schemaSource: 'default' | 'inline' | 'file';
  /** JSON Schema text when schemaSource is 'inline'. */
  schema: string;
  /** Schema file path (relative to the data folder) when schemaSource is 'file'. */
  schemaFile: string;
  /** Fields one reading may have (TOO_MANY_FIELDS); checked before the schema. */
  maxFields: number;
  /** Characters of one string field or tag value (STRING_TOO_LONG). */
  maxStringLength: number;
  /** Readings one message may carry (TOO_MANY_READINGS). */
  maxReadings: number;
  configVersion: number;
}

export interface ValidateNodeDef extends NodeDef, ValidateOptions {}

export const validateMigrations: ReadonlyArray<Migration<ValidateOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: the source is named, inferred from what is set.
  (old) => ({
    schema: '',
    schemaFile: '',
    ...old,
    schemaSource: (old.schemaSource as ValidateOptions['schemaSource']) ?? (old.schemaFile ? 'file' : old.schema ? 'inline' : 'default'),
  }),
  // v1 → v2: limits on fields per reading, string length and readings per message.
  (old) => ({
    ...old,
    maxFields: whole(old.maxFields, DEFAULT_LIMITS.maxFields),
    maxStringLength: whole(old.maxStringLength, DEFAULT_LIMITS.maxStringLength),
    maxReadings: whole(old.maxReadings, DEFAULT_LIMITS.maxReadings),
  }),
];

/**
 * How errors over a limit name this node's settings (error messages are English, as the editor's labels in
 * locales/en-US are): "raise the validate node's Fields limit".
 */
export const LIMITS_ORIGIN = { kind: 'node', node: 'validate node', labels: { maxFields: 'Fields limit', maxReadings: 'Readings limit' } } as const;
