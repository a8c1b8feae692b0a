/**
 * JSON Schema validation of readings. Compiling a schema costs far more than
 * running it, so compiled validators are kept by content hash: redeploys and
 * many nodes sharing one schema compile it once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { ConfigError, SchemaViolationError, type QuotedValue } from '../errors';
import { packageRoot } from '../paths';
import { locateJsonError } from '../codec/json-locate';
import { lineColumnOf } from '../codec/text';
import { previewJson, quotedValue } from '../preview';
import { escapePointer, valueAt } from './pointer';
import { limitProperties } from './limit-properties';

export const DEFAULT_SCHEMA_PATH = join(packageRoot(), 'schemas', 'reading.schema.json');

export type ValidationResult = { ok: true } | { ok: false; error: SchemaViolationError };
export type ReadingValidator = (reading: unknown) => ValidationResult;

export interface SchemaSource {
  /** Schema as JSON text or as an object; blank text counts as absent. */
  inline?: string | object;
  /** Path of a schema file; relative paths resolve against baseDir (default: the working directory). */
  file?: string;
  baseDir?: string;
}

export interface LoadedSchema {
  schema: object | boolean;
  /** Content hash; equal for equal schemas whatever their key order. */
  hash: string;
  validate: ReadingValidator;
  /** Where the schema came from, for log messages. */
  origin: string;
}

const compiled = new Map<string, ReadingValidator>();
// Shared: a batch is validated reading by reading, and the common answer needs no allocation.
const OK: ValidationResult = Object.freeze({ ok: true });

/** JSON with sorted keys, so the same schema written in another key order hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function schemaHash(schema: object | boolean): string {
  return createHash('sha256').update(canonical(schema)).digest('hex');
}

// One Ajv per schema: two schemas with the same $id cannot share an instance.
function newAjv(schema: object | boolean): Ajv {
  const declared = typeof schema === 'object' ? (schema as { $schema?: unknown }).$schema : undefined;
  // strict: false lets users' schemas carry keywords Ajv does not know (title-like
  // annotations, editor hints); allErrors: false stops at the first problem, which is all we report.
  // verbose: a failed pattern can be explained by its schema's description instead of the regular expression.
  const opts = { strict: false, allErrors: false, logger: false as const, verbose: true };
  let ajv: Ajv;
  if (declared === undefined || /json-schema\.org\/draft\/2020-12\//.test(String(declared))) ajv = new Ajv2020(opts);
  else if (/json-schema\.org\/draft-07\//.test(String(declared))) ajv = new Ajv(opts);
  else throw new ConfigError(`schema declares $schema "${String(declared)}"; supported are draft 2020-12 and draft-07`, { $schema: declared });
  addFormats(ajv);
  for (const keyword of ['minProperties', 'maxProperties']) ajv.removeKeyword(keyword);
  ajv.addKeyword(limitProperties);
  return ajv;
}

function preview(v: unknown): string {
  if (v === undefined) return 'nothing';
  return previewJson(v, 60);
}

function violation(e: ErrorObject, data: unknown): SchemaViolationError {
  let path = e.instancePath;
  let message: string;
  // The refused value, quoted last: "(got <value>)".
  let got: QuotedValue | undefined;
  const quote = (value: unknown) => {
    const text = preview(value);
    if (value !== undefined) got = quotedValue(-1, text, value, path);
    return `(got ${text})`;
  };
  const p = e.params as Record<string, unknown>;
  // Errors inside propertyNames carry the offending name on the error itself, not in params.
  const named = (e as ErrorObject & { propertyName?: string }).propertyName ?? p.propertyName;
  const propertyName = named === undefined ? undefined : String(named);
  // A regular expression tells a person little; the schema's description of the value says what is wanted.
  const described = (e.parentSchema as { description?: unknown } | undefined)?.description;
  if (e.keyword === 'required') {
    path += `/${escapePointer(String(p.missingProperty))}`;
    message = `${path} is required but missing`;
  } else if (e.keyword === 'additionalProperties') {
    path += `/${escapePointer(String(p.additionalProperty))}`;
    message = `${path} is not allowed by the schema`;
  } else if (propertyName !== undefined) {
    path += `/${escapePointer(propertyName)}`;
    const why =
      e.keyword === 'propertyNames'
        ? 'is not allowed by the schema'
        : e.keyword === 'pattern' && typeof described === 'string'
          ? `is not allowed: it must be ${described}`
          : (e.message ?? 'is not allowed by the schema');
    message = `${path}: the property name ${preview(propertyName)} ${why}`;
  } else if (e.keyword === 'pattern' && typeof described === 'string') {
    message = `${path || 'the reading'} must be ${described} ${quote(valueAt(data, path))}`;
  } else if (e.keyword === 'enum') {
    message = `${path || 'the reading'} must be one of ${(p.allowedValues as unknown[]).map(preview).join(', ')} ${quote(valueAt(data, path))}`;
  } else {
    message = `${path || 'the reading'} ${e.message ?? 'is invalid'} ${quote(valueAt(data, path))}`;
  }
  if (got) got.at = message.length - got.text.length - 1;
  return new SchemaViolationError(message, { path, keyword: e.keyword, schemaPath: e.schemaPath, ...(got ? { quoted: [got] } : {}) });
}

/** Compiles (or reuses) the validator for a schema; an invalid schema is a ConfigError. */
export function compileSchema(schema: object | boolean): ReadingValidator {
  const hash = schemaHash(schema);
  const hit = compiled.get(hash);
  if (hit) return hit;
  let fn: ValidateFunction;
  try {
    fn = newAjv(schema).compile(schema);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`JSON Schema is invalid: ${err instanceof Error ? err.message : String(err)}`);
  }
  const validate: ReadingValidator = (reading) => {
    if (fn(reading)) return OK;
    const first = fn.errors?.[0];
    if (!first) return { ok: false, error: new SchemaViolationError('the reading does not match the schema', { path: '' }) };
    return { ok: false, error: violation(first, reading) };
  };
  compiled.set(hash, validate);
  return validate;
}

function parseJson(text: string, label: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const problem = locateJsonError(text);
    if (!problem) throw new ConfigError(`${label} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
    const { line, column } = lineColumnOf(text, problem.index);
    throw new ConfigError(`${label} is not valid JSON at line ${line}, column ${column}: ${problem.reason}`, { line, column });
  }
}

/** The schema file a setting names: blank, the shipped reading schema; relative, against `baseDir` (default: the working directory). */
export function schemaPath(file: string | undefined, baseDir?: string): string {
  const f = file?.trim();
  return f ? resolve(baseDir ?? process.cwd(), f) : DEFAULT_SCHEMA_PATH;
}

/** A schema file's JSON (a leading BOM allowed); a ConfigError saying whether it is missing, a folder, unreadable or not JSON. */
export function readSchemaFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${code ?? String(err)})`;
    throw new ConfigError(`schema file ${path} ${why}`, { file: path });
  }
  return parseJson(text.replace(/^\uFEFF/, ''), `schema file ${path}`);
}

/**
 * Loads a schema given inline or as a file (neither: the default reading schema)
 * and compiles it. Every problem is a ConfigError naming the file and the spot.
 */
export function loadSchema(source: SchemaSource = {}): LoadedSchema {
  const inline = typeof source.inline === 'string' && source.inline.trim() === '' ? undefined : source.inline;
  const file = source.file?.trim() ? source.file.trim() : undefined;
  if (inline !== undefined && file !== undefined) throw new ConfigError('give the schema inline or as a file, not both');
  let schema: unknown;
  let origin: string;
  if (inline !== undefined) {
    origin = 'inline schema';
    schema = typeof inline === 'string' ? parseJson(inline, 'the inline schema') : inline;
  } else {
    origin = schemaPath(file, source.baseDir);
    schema = readSchemaFile(origin);
  }
  if (typeof schema !== 'boolean' && (typeof schema !== 'object' || schema === null || Array.isArray(schema))) {
    throw new ConfigError(`${origin} must be a JSON object (or true/false), not ${Array.isArray(schema) ? 'an array' : schema === null ? 'null' : typeof schema}`);
  }
  let validate: ReadingValidator;
  try {
    validate = compileSchema(schema);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${origin}: ${err.message}`, { ...err.details, origin });
    throw err;
  }
  return { schema, hash: schemaHash(schema), validate, origin };
}
