/**
 * The one rule set of a runtime: <data folder>/alerts/rules.json, written
 * whole and atomically (temporary file, fsync, rename) on every change, each
 * change also a line in the audit log. The API, the standalone page and the
 * editor dialog all edit it through here; listeners (the running engine) apply
 * a change at once, without a deploy.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConflictError, NotFoundError, RuleInvalidError } from '../errors';
import { writeFileAtomic } from '../fs-atomic';
import { appendAudit, auditFile } from '../audit/log';
import { isRuleId, ruleNameKey, validatePack, validateRule } from './validate';
import type { Rule, Silence } from './types';

export interface Actor {
  actor: string;
  via: string;
}

/**
 * What a rule's editor saw: a digest of the rule without its silences, which the Silence button adds while
 * the rule may be open in a form (a save keeps them, so they need not match).
 */
export function ruleRevision(rule: Rule): string {
  const { silences: _silences, ...rest } = rule;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

const MAX_DELETIONS = 1000;

export type RuleChange = { type: 'upsert'; rule: Rule } | { type: 'delete'; id: string };

/**
 * A stored rule the loader could not load (a later version may check more than the one that saved it):
 * written back as it was on every save, so an upgrade never deletes what an operator wrote.
 */
interface KeptRule {
  raw: unknown;
  id: string | undefined;
  why: string;
  /** Its place in rules.json as last read or written. */
  at: number;
}

export class RuleStore {
  readonly dir: string;
  readonly file: string;
  private readonly audit: string;
  private rules = new Map<string, Rule>();
  private listeners = new Set<(c: RuleChange) => void>();
  private kept: KeptRule[] = [];
  /** Who changed each rule last in this run, for the refusal of a save made on an older version. */
  private lastChange = new Map<string, Actor & { ts: number }>();
  /** Who deleted a rule in this run, and its name then, for a save made on it afterwards (the oldest go first). */
  private deletions = new Map<string, Actor & { ts: number; name: string }>();

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'alerts');
    this.file = join(this.dir, 'rules.json');
    this.audit = auditFile(dataDir);
    mkdirSync(this.dir, { recursive: true });
    this.load();
  }

  private load(): void {
    if (!existsSync(this.file)) return;
    const data = JSON.parse(readFileSync(this.file, 'utf8')) as { rules?: unknown[] };
    for (const [i, r] of (data.rules ?? []).entries()) {
      try {
        const rule = validateRule(r);
        this.rules.set(rule.id, rule);
      } catch (err) {
        const id = r && typeof r === 'object' && typeof (r as { id?: unknown }).id === 'string' ? (r as { id: string }).id : undefined;
        this.kept.push({ raw: r, id, why: (err as Error).message, at: i });
      }
    }
  }

  /** Stored rules that do not load, with why: not run, kept in the file as they are until replaced (PUT, import) or deleted. */
  get problems(): string[] {
    return this.kept.map((k) => {
      const which = k.id === undefined ? '' : ` (rule "${k.id}")`;
      // A PUT carries the id in its URL and its body: with an id no rule may have, it can only fail.
      const fix =
        k.id === undefined ? 'correct it in the file' : isRuleId(k.id) ? `correct it in the file, or replace it with PUT /api/v1/rules/${k.id}` : 'correct it in the file, its id too (no rule may have it, so no PUT can replace it)';
      return `rules.json /rules/${k.at}${which} is not run: ${k.why}; it is kept in the file as it is: ${fix}`;
    });
  }

  private keptRule(id: string): KeptRule | undefined {
    return this.kept.find((k) => k.id === id);
  }

  /** A rule saved with the id of a kept one replaces it (the operator's fix): its old text, for the audit log. */
  private takeKept(id: string): unknown {
    const k = this.keptRule(id);
    if (!k) return undefined;
    this.kept.splice(this.kept.indexOf(k), 1);
    return k.raw;
  }

  private save(): void {
    // Kept rules go back where they were, so the places the problems name stay true.
    const out: unknown[] = [...this.rules.values()];
    for (const k of [...this.kept].sort((a, b) => a.at - b.at)) {
      k.at = Math.min(k.at, out.length);
      out.splice(k.at, 0, k.raw);
    }
    writeFileAtomic(this.file, `${JSON.stringify({ version: 1, rules: out }, null, 2)}\n`);
  }

  onChange(fn: (c: RuleChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(c: RuleChange): void {
    for (const fn of this.listeners) fn(c);
  }

  list(): Rule[] {
    return [...this.rules.values()];
  }

  get(id: string): Rule {
    const r = this.rules.get(id);
    if (!r) throw this.missing(id);
    return r;
  }

  /**
   * There is no rule `id`. Deleted in this run: who did it and when, as a save refused for a change says who made
   * it. opened: a save made on the rule as its editor opened it (it was there then), whose change is lost unless saved anew.
   */
  private missing(id: string, opened = false): NotFoundError {
    const d = this.deletions.get(id);
    if (!d && !opened) return new NotFoundError(`no rule "${id}"`, { rule: id });
    const by = d ? ` by ${d.actor} (${d.via}) at ${new Date(d.ts).toISOString().slice(0, 19).replace('T', ' ')} UTC` : '';
    const which = d ? `"${d.name}" (${id})` : `"${id}"`;
    const after = opened ? ' after you opened it' : '';
    const lost = opened ? ': your change was not saved; to keep it, save it as a new rule' : '';
    return new NotFoundError(`the rule ${which} was deleted${by}${after}${lost}`, { rule: id, deleted: d ? { by: d.actor, via: d.via, at: new Date(d.ts).toISOString() } : true });
  }

  private deleted(id: string, rule: Rule | undefined, who: Actor): void {
    this.deletions.delete(id);
    // A bound for a replace import of a large pack done again and again: the latest deletions are the ones asked about.
    if (this.deletions.size >= MAX_DELETIONS) this.deletions.delete(this.deletions.keys().next().value!);
    this.deletions.set(id, { ...who, ts: Date.now(), name: rule?.name ?? id });
    this.lastChange.delete(id);
  }

  has(id: string): boolean {
    return this.rules.has(id);
  }

  create(data: unknown, who: Actor): Rule {
    const rule = validateRule(data, { fresh: true });
    if (this.rules.has(rule.id)) throw new ConflictError(`a rule "${rule.id}" exists already; change it with PUT /api/v1/rules/${rule.id}`, { rule: rule.id, pointer: '/id' });
    const kept = this.keptRule(rule.id);
    if (kept) throw new ConflictError(`a rule "${rule.id}" is stored but not run (${kept.why}); replace it with PUT /api/v1/rules/${rule.id}`, { rule: rule.id, pointer: '/id' });
    this.checkName(rule);
    this.rules.set(rule.id, rule);
    this.save();
    this.lastChange.set(rule.id, { ...who, ts: Date.now() });
    appendAudit(this.audit, { ts: Date.now(), ...who, action: 'rule.create', target: rule.id, after: rule });
    this.changed({ type: 'upsert', rule });
    return rule;
  }

  /**
   * Replaces a rule. revision (ruleRevision of the rule as its editor opened it): the save is refused when the
   * rule changed since, so two people editing one rule do not silently undo each other's change; such a save
   * keeps the silences the rule has now unless it gives its own.
   */
  update(id: string, data: unknown, who: Actor, revision?: string): Rule {
    const running = this.rules.get(id);
    const kept = this.keptRule(id);
    if (!running && !kept) throw this.missing(id, revision !== undefined);
    const before = kept?.raw ?? running;
    if (revision !== undefined && (!running || ruleRevision(running) !== revision)) throw this.changedSince(id, running);
    let body = data && typeof data === 'object' && !Array.isArray(data) && (data as { id?: unknown }).id === undefined ? { ...(data as object), id } : data;
    if (revision !== undefined && running?.silences && body && typeof body === 'object' && !Array.isArray(body) && !('silences' in body)) body = { ...body, silences: running.silences };
    const rule = validateRule(body, { fresh: true });
    if (rule.id !== id) throw new RuleInvalidError(`/id "${rule.id}" differs from the rule in the URL ("${id}"); a rule's id cannot change`, { pointer: '/id' });
    this.checkName(rule);
    this.takeKept(id);
    this.rules.set(id, rule);
    this.save();
    this.lastChange.set(id, { ...who, ts: Date.now() });
    appendAudit(this.audit, { ts: Date.now(), ...who, action: 'rule.update', target: id, before, after: rule });
    this.changed({ type: 'upsert', rule });
    return rule;
  }

  private changedSince(id: string, now: Rule | undefined): ConflictError {
    const last = this.lastChange.get(id);
    const by = last ? ` by ${last.actor} (${last.via}) at ${new Date(last.ts).toISOString().slice(0, 19).replace('T', ' ')} UTC` : '';
    const name = now ? `"${now.name}"` : `"${id}"`;
    return new ConflictError(`the rule ${name} was changed${by} after you opened it; your save would undo that change, so it was not saved: open the rule again to see it, then make your change`, {
      rule: id,
      ...(now ? { revision: ruleRevision(now) } : {}),
    });
  }

  /** The revision of each running rule (ruleRevision), by id: what a form sends back with a save. */
  revisions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [id, r] of this.rules) out[id] = ruleRevision(r);
    return out;
  }

  /** Names tell rules apart for the people who read alerts: the form's rule (ruleNameKey) holds for the API too. */
  private checkName(rule: Rule): void {
    // validateRule({fresh}) refused a blank name and device ids no device can have.
    const name = ruleNameKey(rule.name);
    for (const other of this.rules.values()) {
      if (other.id !== rule.id && ruleNameKey(other.name) === name) {
        throw new ConflictError(`a rule named "${other.name}" exists already (${other.id}): give this one another name`, { rule: other.id, pointer: '/name' });
      }
    }
  }

  /** Deletes a rule; a stored rule that is not run is deleted only so, by its id. */
  remove(id: string, who: Actor): void {
    const running = this.rules.has(id);
    const kept = this.takeKept(id);
    const before = running || kept === undefined ? this.get(id) : kept;
    const rule = this.rules.get(id);
    this.rules.delete(id);
    this.save();
    this.deleted(id, rule, who);
    appendAudit(this.audit, { ts: Date.now(), ...who, action: 'rule.delete', target: id, before });
    // The engine runs only what loaded: it hears of a delete when that went.
    if (running) this.changed({ type: 'delete', id });
  }

  /**
   * A rule pack: every rule is checked before anything changes. "merge" adds and
   * replaces the pack's rules; "replace" also deletes rules the pack lacks. A stored
   * rule that is not run stays unless the pack has its id (an exported pack lacks it).
   */
  import(pack: unknown, mode: 'merge' | 'replace', who: Actor): { created: string[]; updated: string[]; deleted: string[] } {
    const rules = validatePack(pack);
    const created: string[] = [];
    const updated: string[] = [];
    const deleted: string[] = [];
    const incoming = new Set(rules.map((r) => r.id));
    if (mode === 'merge') {
      // A rule the merge keeps holds its name: the pack may not bring a second rule of it.
      const base = Array.isArray(pack) ? '' : '/rules';
      rules.forEach((r, i) => {
        const name = ruleNameKey(r.name);
        const other = [...this.rules.values()].find((o) => !incoming.has(o.id) && ruleNameKey(o.name) === name);
        if (other) throw new ConflictError(`a rule named "${other.name}" exists already (${other.id}), and ${base}/${i} (${r.id}) has its name: give it another name, or import with mode=replace; nothing was imported`, { rule: other.id, pointer: `${base}/${i}/name` });
      });
    }
    if (mode === 'replace') for (const id of this.rules.keys()) if (!incoming.has(id)) deleted.push(id);
    for (const id of deleted) {
      this.deleted(id, this.rules.get(id), who);
      this.rules.delete(id);
    }
    // Stored rules that did not load, replaced by the pack's: their text goes to the audit log, as a PUT's would.
    const replacedKept: Record<string, unknown> = {};
    for (const r of rules) {
      const before = this.rules.get(r.id);
      if (before && JSON.stringify(before) === JSON.stringify(r)) continue;
      const kept = this.takeKept(r.id);
      if (kept !== undefined) replacedKept[r.id] = kept;
      (before || kept !== undefined ? updated : created).push(r.id);
      this.rules.set(r.id, r);
      this.lastChange.set(r.id, { ...who, ts: Date.now() });
    }
    this.save();
    const keptBefore = Object.keys(replacedKept).length ? { before: { notRun: replacedKept } } : {};
    appendAudit(this.audit, { ts: Date.now(), ...who, action: 'rules.import', target: '*', ...keptBefore, after: { mode, created, updated, deleted } });
    for (const id of deleted) this.changed({ type: 'delete', id });
    for (const id of [...created, ...updated]) this.changed({ type: 'upsert', rule: this.rules.get(id)! });
    return { created, updated, deleted };
  }

  /**
   * A change decided elsewhere (another cluster member, nodes/lib/cluster/shared.ts): saved, audited
   * and told to the listeners like a local one. undefined: the rule was deleted.
   */
  applyShared(id: string, data: unknown, who: Actor): void {
    const running = this.rules.get(id);
    if (data === undefined) {
      if (!running) return;
      this.rules.delete(id);
      this.save();
      this.deleted(id, running, who);
      appendAudit(this.audit, { ts: Date.now(), ...who, action: 'rule.delete', target: id, before: running });
      this.changed({ type: 'delete', id });
      return;
    }
    const rule = validateRule(data);
    if (rule.id !== id) throw new RuleInvalidError(`/id "${rule.id}" differs from the shared rule's key ("${id}")`, { pointer: '/id' });
    const before = running ?? this.takeKept(id);
    this.rules.set(id, rule);
    this.save();
    this.lastChange.set(id, { ...who, ts: Date.now() });
    appendAudit(this.audit, { ts: Date.now(), ...who, action: before !== undefined ? 'rule.update' : 'rule.create', target: id, ...(before !== undefined ? { before } : {}), after: rule });
    this.changed({ type: 'upsert', rule });
  }

  export(): { rules: Rule[] } {
    return { rules: this.list() };
  }

  /** Adds a one-off silence to a rule (expired ones are dropped on the way). */
  silence(id: string, s: Silence, who: Actor): Rule {
    const before = this.get(id);
    const now = Date.now();
    const silences = (before.silences ?? []).filter((x) => Date.parse(x.to) > now);
    const after = validateRule({ ...before, silences: [...silences, s] });
    this.rules.set(id, after);
    this.save();
    appendAudit(this.audit, { ts: now, ...who, action: 'alert.silence', target: `${id}:${(s.devices ?? ['*']).join(',')}`, after: s, note: s.note });
    this.changed({ type: 'upsert', rule: after });
    return after;
  }

  recordAck(alertId: string, who: Actor, note?: string): void {
    appendAudit(this.audit, { ts: Date.now(), ...who, action: 'alert.ack', target: alertId, ...(note ? { note } : {}) });
  }
}
