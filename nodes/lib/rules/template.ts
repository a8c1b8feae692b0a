/**
 * Message templates: "{device}: {field} is {value} (above 30 since {since})".
 * A template is split once into parts; filling it is a join.
 */
import type { FieldValue } from '../reading';
import { zoneAt } from '../zone-name';

export const TEMPLATE_FIELDS = ['device', 'field', 'value', 'unit', 'threshold', 'since', 'duration', 'rule', 'severity', 'state', 'reason'];

export interface TemplateContext {
  device: string;
  field: string;
  value: string;
  unit: string;
  threshold: string;
  since: string;
  duration: string;
  rule: string;
  severity: string;
  state: string;
  /** Why this transition happened, e.g. the anomaly node's explanation. */
  reason: string;
  tags: Record<string, string>;
}

export type Template = Array<string | { name: string }>;

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_.-]{0,100})\}/g;

export function placeholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]);
}

export function compileTemplate(text: string): Template {
  const parts: Template = [];
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push({ name: m[1] });
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

export function fillTemplate(t: Template, ctx: TemplateContext): string {
  let out = '';
  for (const p of t) {
    if (typeof p === 'string') out += p;
    else if (p.name.startsWith('tag.')) out += ctx.tags[p.name.slice(4)] ?? '';
    else out += (ctx as unknown as Record<string, string>)[p.name] ?? '';
  }
  return out;
}

/** Numbers as people read them: 31, 30.5, 0.125; not 30.499999999. */
export function valueText(v: FieldValue | undefined): string {
  if (v === undefined) return '';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}

const two = (n: number) => (n < 10 ? `0${n}` : String(n));

/** "2026-03-29 14:03:05 CEST" in the rule's time zone; "2026-01-15 07:00:00 EST", "… GMT+5:30" (zone-name.ts). */
export function timeText(ts: number, timeZone: string): string {
  const { offset, name } = zoneAt(ts, timeZone);
  const d = new Date(ts + offset);
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${name}`;
}
