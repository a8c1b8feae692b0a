/**
 * The type each field has in an InfluxDB sink. InfluxDB fixes a field's type
 * with its first point (per measurement) and refuses later points of another
 * type, so `20` followed by `20.5` must not make the first one an integer:
 * every JS number is a float unless a schema or the settings declare the field
 * an integer. A field's type is fixed the first time it is written (the
 * declared type, else the value's own) and kept in a file beside the spool, so
 * a restart keeps it; a type the server reports for a field wins over both.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors';
import { writeFileAtomic } from '../fs-atomic';
import { FIELD_TYPES, type FieldType, type FieldTypeSource } from './line';

const FILE_VERSION = 1;
const MAX_DECLARED = 10_000;

/** `count:integer, temp:float` → a map; throws ConfigError naming the bad entry. */
export function parseFieldTypes(text: unknown, setting = 'fieldTypes'): Record<string, FieldType> {
  const out: Record<string, FieldType> = {};
  if (text === undefined || text === null || text === '') return out;
  if (typeof text !== 'string') throw new ConfigError(`${setting} must be text such as "count:integer, temp:float"`, { setting });
  const parts = text.split(/[,\n]/).map((p) => p.trim()).filter((p) => p !== '');
  if (parts.length > MAX_DECLARED) throw new ConfigError(`${setting} declares more than ${MAX_DECLARED} fields`, { setting });
  for (const part of parts) {
    const at = part.lastIndexOf(':');
    const name = at > 0 ? part.slice(0, at).trim() : '';
    const type = at > 0 ? part.slice(at + 1).trim().toLowerCase() : '';
    if (!name || !(FIELD_TYPES as readonly string[]).includes(type)) {
      throw new ConfigError(`${setting}: "${part.slice(0, 80)}" must be name:type, the type one of ${FIELD_TYPES.join(', ')}`, { setting });
    }
    out[name] = type as FieldType;
  }
  return out;
}

/**
 * Field types a JSON Schema for readings declares: `properties.fields.properties.<name>.type`
 * (`integer`, `number`, `boolean`, `string`, or a list of them with `null`).
 * Walks only that one level: a schema is configuration, but it is never recursed into.
 */
export function fieldTypesFromSchema(schema: unknown): Record<string, FieldType> {
  const out: Record<string, FieldType> = {};
  const props = (((schema as Record<string, unknown> | null)?.properties as Record<string, unknown> | undefined)?.fields as Record<string, unknown> | undefined)?.properties;
  if (!props || typeof props !== 'object') return out;
  for (const [name, def] of Object.entries(props as Record<string, unknown>)) {
    const t = (def as { type?: unknown } | null)?.type;
    const list = (Array.isArray(t) ? t : [t]).filter((x) => x !== 'null');
    if (list.length !== 1) continue;
    const type = list[0] === 'integer' ? 'integer' : list[0] === 'number' ? 'float' : list[0] === 'boolean' ? 'boolean' : list[0] === 'string' ? 'string' : undefined;
    if (type) out[name] = type;
  }
  return out;
}

interface TypesFile {
  version: number;
  /** measurement → field → type */
  fields: Record<string, Record<string, FieldType>>;
}

export class FieldTypeRegistry implements FieldTypeSource {
  private readonly learnt = new Map<string, Map<string, FieldType>>();
  private dirty = false;

  /**
   * `declared`: field name → type for every measurement (schema, settings).
   * `file`: where learnt types are kept (absent: in memory only).
   */
  constructor(
    private readonly declared: Readonly<Record<string, FieldType>> = {},
    private readonly file?: string,
  ) {
    if (file) this.load(file);
  }

  get(measurement: string, field: string): FieldType | undefined {
    return this.learnt.get(measurement)?.get(field) ?? (Object.prototype.hasOwnProperty.call(this.declared, field) ? this.declared[field] : undefined);
  }

  learn(measurement: string, field: string, type: FieldType): void {
    let m = this.learnt.get(measurement);
    if (!m) this.learnt.set(measurement, (m = new Map()));
    if (m.get(field) === type) return;
    m.set(field, type);
    this.dirty = true;
  }

  /**
   * What the server already holds wins over what was learnt here (another writer
   * may have created the field first): e.g. from InfluxDB 1.x `SHOW FIELD KEYS`.
   */
  adopt(measurement: string, field: string, type: FieldType): void {
    this.learn(measurement, field, type);
  }

  /** Writes learnt types to the file if any are new (before the points that fixed them are reported written). */
  save(): void {
    if (!this.dirty || !this.file) return;
    const body: TypesFile = { version: FILE_VERSION, fields: {} };
    for (const [m, fields] of this.learnt) body.fields[m] = Object.fromEntries(fields);
    mkdirSync(dirname(this.file), { recursive: true });
    // On disk before the points that fixed these types are reported written: after a power loss the
    // file must not be older than what the server holds, or a replayed 20.5 would meet an integer field.
    writeFileAtomic(this.file, JSON.stringify(body));
    this.dirty = false;
  }

  /** Learnt types as `{measurement: {field: type}}`. */
  snapshot(): Record<string, Record<string, FieldType>> {
    const out: Record<string, Record<string, FieldType>> = {};
    for (const [m, fields] of this.learnt) out[m] = Object.fromEntries(fields);
    return out;
  }

  private load(file: string): void {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    let body: TypesFile;
    try {
      body = JSON.parse(text) as TypesFile;
    } catch {
      // A torn file (the rename makes that unlikely): types are learnt again, or taken from the server.
      return;
    }
    if (!body || typeof body.fields !== 'object' || body.fields === null) return;
    for (const [m, fields] of Object.entries(body.fields)) {
      if (!fields || typeof fields !== 'object') continue;
      const map = new Map<string, FieldType>();
      for (const [f, t] of Object.entries(fields)) if ((FIELD_TYPES as readonly string[]).includes(t)) map.set(f, t);
      this.learnt.set(m, map);
    }
  }
}
