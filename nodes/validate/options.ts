/** Options of upperstack-validate, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface ValidateOptions {
  name: string;
  /** 'default': the shipped reading schema; 'inline': `schema`; 'file': `schemaFile`. */
  schemaSource: 'default' | 'inline' | 'file';
  /** JSON Schema text when schemaSource is 'inline'. */
  schema: string;
  /** Schema file path (relative to the data folder) when schemaSource is 'file'. */
  schemaFile: string;
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
];
