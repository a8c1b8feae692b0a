/**
 * The rules and alerts API without a transport: what a request asks, what it
 * gets. Served twice: under /api/v1 with the API key, and on the admin API
 * (editor dialog, /upperstack/alerts) with Node-RED's login and permissions.
 */
import { BadParameterError, ConflictError, describeError, NotFoundError, PayloadTooLargeError, RuleInvalidError, UnauthorizedError, UpperstackError } from '../lib/errors';
import { parseTime } from '../lib/api/params';
import { durationMs } from '../lib/rules/duration';
import { previewRule, MAX_PREVIEW_DEVICES, type PreviewResult } from '../lib/rules/preview';
import { refusalUnder, validateRule } from '../lib/rules/validate';
import type { Actor } from '../lib/rules/store';
import type { AlertState, Rule } from '../lib/rules/types';
import type { TimeSeriesStore } from '../lib/store/types';
import type { AlertService } from './service';
import { alertsNotDeployed } from '../shared/alerts';

export interface Answer {
  status: number;
  body: unknown;
}

const STATES: readonly AlertState[] = ['inactive', 'pending', 'firing', 'acknowledged', 'flapping', 'cleared'];

export function statusOf(err: unknown): number {
  if (err instanceof RuleInvalidError || err instanceof BadParameterError) return 400;
  if (err instanceof UnauthorizedError) return 401;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof PayloadTooLargeError) return 413;
  if (err instanceof UpperstackError && err.code === 'STORE_UNAVAILABLE') return 503;
  if (err instanceof UpperstackError && (err.details as { status?: number }).status) return Number((err.details as { status?: number }).status);
  return 500;
}

/** `{"error": {"code", "message", ...details}}`; a rule error names its JSON pointer. */
export function errorAnswer(err: unknown): Answer {
  const status = statusOf(err);
  const d = describeError(err);
  const { name: _name, ...rest } = d;
  const error = status === 500 && !(err instanceof UpperstackError) ? { code: 'INTERNAL', message: d.message } : rest;
  return { status, body: { error } };
}

const notDeployed = alertsNotDeployed;

function text(v: unknown, name: string, max: number, required: boolean): string | undefined {
  if (v === undefined || v === null || v === '') {
    if (required) throw new BadParameterError(name, `"${name}" is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw new BadParameterError(name, `"${name}" must be text`);
  if (v.length > max) throw new BadParameterError(name, `"${name}" is longer than ${max} characters`);
  return v;
}

function object(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new BadParameterError('body', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

export function parseJson(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  if (raw.trim() === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new BadParameterError('body', `the body is not JSON: ${(err as Error).message}`);
  }
}

export function listRules(svc: AlertService): Answer {
  return { status: 200, body: { ...svc.rules.export(), revisions: svc.rules.revisions() } };
}

export function getRule(svc: AlertService, id: string): Answer {
  return { status: 200, body: svc.rules.get(id) };
}

export function createRule(svc: AlertService, body: unknown, who: Actor): Answer {
  return { status: 201, body: svc.rules.create(body, who) };
}

export function updateRule(svc: AlertService, id: string, body: unknown, who: Actor, revision?: string): Answer {
  return { status: 200, body: svc.rules.update(id, body, who, revision) };
}

export function deleteRule(svc: AlertService, id: string, who: Actor): Answer {
  svc.rules.remove(id, who);
  return { status: 204, body: undefined };
}

export function importRules(svc: AlertService, body: unknown, mode: string | undefined, who: Actor): Answer {
  const m = mode ?? 'merge';
  if (m !== 'merge' && m !== 'replace') throw new BadParameterError('mode', '"mode" must be merge (add and update) or replace (also delete rules the pack lacks)');
  return { status: 200, body: svc.rules.import(body, m, who) };
}

export function validate(body: unknown): Answer {
  const rule = validateRule(object(body).rule ?? body);
  return { status: 200, body: { ok: true, rule } };
}

export function listAlerts(svc: AlertService, q: Record<string, string | undefined>): Answer {
  const a = svc.attached;
  if (!a) throw notDeployed();
  let state: AlertState[] | undefined;
  if (q.state) {
    state = q.state.split(',').map((s) => s.trim()) as AlertState[];
    const bad = state.find((s) => !STATES.includes(s));
    if (bad !== undefined) throw new BadParameterError('state', `"state" must be one or more of ${STATES.join(', ')} (comma-separated), got "${bad}"`);
  }
  const from = q.from ? parseTime('from', q.from) : undefined;
  const to = q.to ? parseTime('to', q.to) : undefined;
  const alerts = a.engine.alerts({ state, device: q.device || undefined, rule: q.rule || undefined, from, to });
  return { status: 200, body: { alerts } };
}

export function getAlert(svc: AlertService, id: string): Answer {
  const a = svc.attached;
  if (!a) throw notDeployed();
  const alert = a.engine.alert(id);
  if (!alert) throw new NotFoundError(`no alert "${id}"; alert ids are <rule>:<device>`, { alert: id });
  return { status: 200, body: { ...alert, events: a.engine.history().filter((e) => e.id === id) } };
}

export function history(svc: AlertService, q: Record<string, string | undefined>): Answer {
  const a = svc.attached;
  if (!a) throw notDeployed();
  const limit = q.limit ? Number(q.limit) : 200;
  if (!Number.isInteger(limit) || limit < 1 || limit > 2000) throw new BadParameterError('limit', '"limit" must be a whole number from 1 to 2000');
  return { status: 200, body: { events: a.engine.history(limit).reverse() } };
}

/** `{"by", "note"}`; a logged-in user is `by` whatever the body says. */
export function acknowledge(svc: AlertService, id: string, body: unknown, who: Actor, user?: string): Answer {
  if (!svc.attached) throw notDeployed();
  const b = object(body);
  const by = user ?? text(b.by, 'by', 200, true)!;
  const note = text(b.note, 'note', 1000, false);
  return { status: 200, body: svc.acknowledge(id, by, note, who) };
}

/** `{"for": "2h", "by", "note"}`: no notifications for this alert's device and rule for that long. */
export function silence(svc: AlertService, id: string, body: unknown, who: Actor, user?: string): Answer {
  const b = object(body);
  const idx = id.indexOf(':');
  if (idx < 1) throw new NotFoundError(`no alert "${id}"; alert ids are <rule>:<device>`, { alert: id });
  const rule = id.slice(0, idx);
  const device = id.slice(idx + 1);
  const span = text(b.for, 'for', 20, true)!;
  const ms = durationMs(span);
  if (!(ms > 0) || ms > 90 * 86_400_000) throw new BadParameterError('for', '"for" must be a duration such as "30m", "2h" or "1d" (at most 90 days)');
  const by = user ?? text(b.by, 'by', 200, true)!;
  const note = text(b.note, 'note', 1000, false);
  const now = Date.now();
  const s = { from: new Date(now).toISOString(), to: new Date(now + ms).toISOString(), devices: [device], by, ...(note ? { note } : {}) };
  svc.rules.silence(rule, s, { ...who, actor: by });
  return { status: 200, body: { alert: id, silence: s } };
}

/** Devices a preview replays: those given, the rule's list, or those the store has readings of that the rule covers. */
async function previewDevices(rule: Rule, given: unknown, store: TimeSeriesStore, from: number, to: number): Promise<string[]> {
  if (Array.isArray(given) && given.length) {
    if (!given.every((d) => typeof d === 'string' && d.length > 0 && d.length <= 128)) throw new BadParameterError('devices', '"devices" must be a list of device names');
    return given as string[];
  }
  if ('list' in rule.devices) return rule.devices.list.slice(0, MAX_PREVIEW_DEVICES);
  if (!store.devices) throw new BadParameterError('devices', 'name the devices to replay: this store cannot list its devices');
  const sel = rule.devices;
  const found = await store.devices({ from, to });
  return found
    .filter((d) => !('tags' in sel) || Object.entries(sel.tags).every(([k, v]) => d.tags[k] === v))
    .map((d) => d.device)
    .slice(0, MAX_PREVIEW_DEVICES);
}

/** `{"rule": {...}, "devices"?: [...], "hours"?: 24}` → what the rule would have done over stored history. */
export async function preview(svc: AlertService, body: unknown, store: TimeSeriesStore | undefined): Promise<Answer> {
  const b = object(body);
  let rule: Rule;
  try {
    rule = validateRule(b.rule);
  } catch (err) {
    if (err instanceof RuleInvalidError) throw refusalUnder(err, '/rule', false);
    throw err;
  }
  const hours = b.hours === undefined ? 24 : Number(b.hours);
  if (!Number.isFinite(hours) || hours <= 0 || hours > 24 * 31) throw new BadParameterError('hours', '"hours" must be a number above 0 and at most 744 (31 days)');
  const st = store ?? svc.attached?.store;
  if (!st) throw new BadParameterError('store', 'no store to replay: choose the store in the alert node and deploy it');
  const to = Date.now();
  const from = to - hours * 3_600_000;
  const devices = await previewDevices(rule, b.devices, st, from, to);
  const result: PreviewResult = await previewRule(rule, { store: st, devices, from, to });
  return { status: 200, body: result };
}
